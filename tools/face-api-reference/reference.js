// Runs face-api's original networks (TensorFlow.js, pure-JS CPU backend by default) on inputs
// that lifelapse's tests rebuild bit for bit, and writes the raw network outputs as JSON.
//
//   cd tools/face-api-reference && npm install && node reference.js > ../../tests/fixtures/face_api_reference.json
//   BACKEND=wasm node reference.js   # the WASM backend, faster, agrees to ~1e-3
//
// Real photos: first let lifelapse write their pixels (its decoder is the one under test),
//   LIFELAPSE_PARITY_DUMP=/tmp/real cargo test --test face_parity -- --ignored
//   REAL_INPUTS=/tmp/real node reference.js > ../../tests/fixtures/face_api_reference.json
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
const wasm = require('@tensorflow/tfjs-backend-wasm');

const pkg = path.dirname(require.resolve('@vladmandic/face-api/package.json'));
const faceapi = require(path.join(pkg, 'dist/face-api.node-wasm.js'));
const modelDir = path.join(pkg, 'model');

// The same generator as tests/face_parity.rs: 32-bit LCG (Numerical Recipes), top byte.
function noiseImage(seed, size) {
  const out = new Float32Array(size * size * 3);
  let state = seed >>> 0;
  for (let i = 0; i < out.length; i += 1) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

function sawtoothImage(size) {
  const out = new Float32Array(size * size * 3);
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      for (let c = 0; c < 3; c += 1) out[(y * size + x) * 3 + c] = (x * 3 + y * 5 + c * 40) % 256;
    }
  }
  return out;
}

function inputs(size) {
  return [noiseImage(1, size), noiseImage(2, size), sawtoothImage(size)];
}

function realImages(size) {
  const raw = fs.readFileSync(path.join(process.env.REAL_INPUTS, `real_${size}.rgb`));
  const per = size * size * 3;
  return Array.from({ length: raw.length / per }, (_, i) => Float32Array.from(raw.subarray(i * per, (i + 1) * per)));
}

async function runBatch(run, size, images = inputs(size)) {
  const batch = tf.tensor4d(Float32Array.from(images.flatMap((a) => Array.from(a))), [images.length, size, size, 3]);
  const netInput = await faceapi.toNetInput(tf.unstack(batch));
  const out = run(netInput);
  const data = Array.from(await out.data());
  const width = data.length / images.length;
  return Array.from({ length: images.length }, (_, i) => data.slice(i * width, (i + 1) * width));
}

async function main() {
  const backend = process.env.BACKEND || 'cpu';
  if (backend === 'wasm') wasm.setWasmPaths(`${path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  await tf.setBackend(backend);
  await tf.ready();
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(modelDir);
  await faceapi.nets.ageGenderNet.loadFromDisk(modelDir);
  const result = {
    generator: 'tools/face-api-reference/reference.js',
    package: '@vladmandic/face-api@1.7.15',
    backend,
    inputs: ['noise seed 1', 'noise seed 2', 'sawtooth (x*3 + y*5 + c*40) % 256'],
    landmarks68: { input_size: 112, outputs: await runBatch((x) => faceapi.nets.faceLandmark68Net.runNet(x), 112) },
    // Raw grid before box decoding, NHWC flattened: [13, 13, 25] per image.
    // Raw heads before the softmax: [age, gender logit male, gender logit female] per image.
    age_gender: {
      input_size: 112,
      outputs: await runBatch((x) => {
        const { age, gender } = faceapi.nets.ageGenderNet.runNet(x);
        return tf.concat([age.expandDims(1), gender], 1);
      }, 112),
    },
    face_recognition: { input_size: 150, outputs: await runBatch((x) => faceapi.nets.faceRecognitionNet.forwardInput(x), 150) },
    tiny_face_detector: { input_size: 416, outputs: await runBatch((x) => faceapi.nets.tinyFaceDetector.forwardInput(x, 416), 416) },
  };
  if (process.env.REAL_INPUTS) {
    result.real_photos = {
      photos: ['faces/barack_obama/02.jpg', 'faces/angelina_jolie/03.jpg', 'intruders/04.jpg'],
      landmarks68: await runBatch((x) => faceapi.nets.faceLandmark68Net.runNet(x), 112, realImages(112)),
      tiny_face_detector: await runBatch((x) => faceapi.nets.tinyFaceDetector.forwardInput(x, 416), 416, realImages(416)),
      face_recognition: await runBatch((x) => faceapi.nets.faceRecognitionNet.forwardInput(x), 150, realImages(150)),
      age_gender: await runBatch((x) => {
        const { age, gender } = faceapi.nets.ageGenderNet.runNet(x);
        return tf.concat([age.expandDims(1), gender], 1);
      }, 112, realImages(112)),
    };
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

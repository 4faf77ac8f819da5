//! The networks re-implemented in tch against the original face-api models' own outputs
//! (tests/fixtures/face_api_reference.json, made by tools/face-api-reference/reference.js on the
//! same inputs with TensorFlow.js's CPU backend).

use tch::{Device, Kind, Tensor};

/// The same generator as reference.js: 32-bit LCG (Numerical Recipes), top byte.
fn noise_image(seed: u32, size: usize) -> Vec<f32> {
    let mut state = seed;
    (0..size * size * 3)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as f32
        })
        .collect()
}

fn sawtooth_image(size: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(size * size * 3);
    for y in 0..size {
        for x in 0..size {
            for c in 0..3 {
                out.push(((x * 3 + y * 5 + c * 40) % 256) as f32);
            }
        }
    }
    out
}

/// The reference inputs as an NCHW batch.
fn inputs(size: usize) -> Tensor {
    let images = [
        noise_image(1, size),
        noise_image(2, size),
        sawtooth_image(size),
    ];
    let flat: Vec<f32> = images.concat();
    Tensor::from_slice(&flat)
        .view([3, size as i64, size as i64, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
}

fn reference() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/face_api_reference.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("reference file")).expect("json")
}

fn max_abs_diff(got: &Tensor, want: &serde_json::Value) -> f64 {
    let rows = want.as_array().expect("rows");
    let mut worst: f64 = 0.0;
    for (i, row) in rows.iter().enumerate() {
        for (j, v) in row.as_array().expect("row").iter().enumerate() {
            let diff =
                (got.double_value(&[i as i64, j as i64]) - v.as_f64().expect("number")).abs();
            worst = worst.max(diff);
        }
    }
    worst
}

#[test]
fn landmarks68_matches_face_api() {
    let reference = reference();
    let (_vs, net) = lifelapse::nets::landmarks68::load(Device::Cpu).expect("load weights");
    let out = tch::no_grad(|| net.forward(&inputs(112)));
    assert_eq!(out.size(), vec![3, 136]);
    let diff = max_abs_diff(&out, &reference["landmarks68"]["outputs"]);
    // Outputs are fractions of the crop: 1e-5 is a thousandth of a pixel at 112².
    eprintln!("landmarks68: max |tch - tfjs| = {diff:e}");
    assert!(diff < 1e-5, "max |tch - tfjs| = {diff:e}");
}

#[test]
fn tiny_face_detector_matches_face_api() {
    let reference = reference();
    let (_vs, net) = lifelapse::nets::face_detector::load(Device::Cpu).expect("load weights");
    let out = tch::no_grad(|| net.forward(&inputs(416)));
    assert_eq!(out.size(), vec![3, 25, 13, 13]);
    // The reference is TensorFlow's NHWC layout.
    let flat = out.permute([0, 2, 3, 1]).reshape([3, -1]);
    let diff = max_abs_diff(&flat, &reference["tiny_face_detector"]["outputs"]);
    eprintln!("tiny_face_detector: max |tch - tfjs| = {diff:e}");
    // Logits of magnitude up to ~10: agreement to 1e-4 leaves every box and score unchanged.
    assert!(diff < 1e-4, "max |tch - tfjs| = {diff:e}");
}

#[test]
fn face_recognition_matches_face_api() {
    let reference = reference();
    let (_vs, net) = lifelapse::nets::face_descriptor::load(Device::Cpu).expect("load weights");
    let out = tch::no_grad(|| net.forward(&inputs(150)));
    assert_eq!(out.size(), vec![3, 128]);
    let diff = max_abs_diff(&out, &reference["face_recognition"]["outputs"]);
    eprintln!("face_recognition: max |tch - tfjs| = {diff:e}");
    // Descriptors of ~1.4 length compared at 0.6: 1e-4 moves no decision.
    assert!(diff < 1e-4, "max |tch - tfjs| = {diff:e}");
}

#[test]
fn age_gender_matches_face_api() {
    let reference = reference();
    let (_vs, net) = lifelapse::nets::age::load(Device::Cpu).expect("load weights");
    let (age, gender) = tch::no_grad(|| net.forward(&inputs(112)));
    let out = Tensor::cat(&[age.unsqueeze(1), gender], 1);
    assert_eq!(out.size(), vec![3, 3]);
    let diff = max_abs_diff(&out, &reference["age_gender"]["outputs"]);
    eprintln!("age_gender: max |tch - tfjs| = {diff:e}");
    // Ages in years: 1e-3 is half a minute.
    assert!(diff < 1e-3, "max |tch - tfjs| = {diff:e}");
}

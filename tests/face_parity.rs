//! The networks re-implemented in tch against the original face-api models' own outputs
//! (tests/fixtures/face_api_reference.json, made by tools/face-api-reference/reference.js on the
//! same inputs with TensorFlow.js's CPU backend): deterministic synthetic images, and real
//! photos from ../shared/testdata. The photos' pixels are rebuilt here by lifelapse's own decoder
//! (decoders differ by a few levels) and handed to the reference script by
//! `cargo test --test face_parity -- --ignored` with LIFELAPSE_PARITY_DUMP=DIR; only the
//! networks' outputs are committed, never the pixels.

mod common;

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

/// Real faces: photos from testdata, their centre square resized to `size`.
const REAL_PHOTOS: [&str; 3] = [
    "faces/barack_obama/02.jpg",
    "faces/angelina_jolie/03.jpg",
    "intruders/04.jpg",
];

fn real_pixels(size: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for rel in REAL_PHOTOS {
        let bytes = std::fs::read(common::photo(rel)).expect("photo");
        let image = lifelapse::album::decode(&bytes, LIMITS, chrono::Utc::now())
            .expect("decode")
            .image;
        let (w, h) = image.dimensions();
        let side = w.min(h) as f64;
        let square = lifelapse::leaves::resize::crop_resize(
            &image,
            ((w as f64 - side) / 2.0, (h as f64 - side) / 2.0, side, side),
            size,
            size,
        );
        out.extend_from_slice(square.as_raw());
    }
    out
}

const LIMITS: lifelapse::album::DecodeLimits = lifelapse::album::DecodeLimits {
    max_file_bytes: 50_000_000,
    max_pixels: 64_000_000,
};

fn real_inputs(size: u32) -> Tensor {
    let s = size as i64;
    Tensor::from_slice(&real_pixels(size))
        .view([REAL_PHOTOS.len() as i64, s, s, 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
}

/// Writes the real inputs for tools/face-api-reference/reference.js (REAL_INPUTS=DIR).
#[test]
#[ignore = "run by hand to regenerate the reference outputs"]
fn dump_real_inputs_for_the_reference_script() {
    let dir = std::path::PathBuf::from(
        std::env::var("LIFELAPSE_PARITY_DUMP").expect("LIFELAPSE_PARITY_DUMP=DIR"),
    );
    for size in [112, 150, 416] {
        std::fs::write(dir.join(format!("real_{size}.rgb")), real_pixels(size)).expect("write");
    }
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

#[test]
fn every_network_matches_face_api_on_real_photos() {
    let reference = reference();
    let real = &reference["real_photos"];
    assert_eq!(
        real["photos"].as_array().map(Vec::len),
        Some(REAL_PHOTOS.len())
    );
    let (_a, landmarks) = lifelapse::nets::landmarks68::load(Device::Cpu).expect("weights");
    let (_b, detector) = lifelapse::nets::face_detector::load(Device::Cpu).expect("weights");
    let (_c, recognition) = lifelapse::nets::face_descriptor::load(Device::Cpu).expect("weights");
    let (_d, age) = lifelapse::nets::age::load(Device::Cpu).expect("weights");
    tch::no_grad(|| {
        let checks = [
            ("landmarks68", landmarks.forward(&real_inputs(112)), 1e-4),
            (
                "tiny_face_detector",
                detector
                    .forward(&real_inputs(416))
                    .permute([0, 2, 3, 1])
                    .reshape([3, -1]),
                1e-3,
            ),
            (
                "face_recognition",
                recognition.forward(&real_inputs(150)),
                1e-4,
            ),
            (
                "age_gender",
                {
                    let (a, g) = age.forward(&real_inputs(112));
                    Tensor::cat(&[a.unsqueeze(1), g], 1)
                },
                1e-3,
            ),
        ];
        for (name, out, tolerance) in checks {
            let diff = max_abs_diff(&out, &real[name]);
            eprintln!("{name} on real photos: max |tch - tfjs| = {diff:e}");
            assert!(diff < tolerance, "{name}: {diff:e}");
        }
    });
}

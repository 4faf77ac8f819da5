//! The person segmenter (nets/person_segmenter.rs) against MediaPipe's original model run in
//! LiteRT, TensorFlow Lite's runtime (tests/fixtures/person_segmenter_reference.json, made by
//! `tools/convert_selfie_segmenter.py --reference`): a noise image rebuilt here with the same
//! generator, and a portrait from the demo album stored as PNG so both sides read the same
//! pixels. The output is compared at every 4th pixel both ways, and three intermediates (the
//! encoder's end and two decoder stages) at two pixels and on average.

mod common;

use lifelapse::nets::person_segmenter::PersonSegmenter;
use lifelapse::nets::tensor_from_rgb;
use tch::{Device, Kind, Tensor};

/// The same generator as the reference script: 32-bit LCG (Numerical Recipes), top byte.
fn noise(seed: u32, size: usize) -> Tensor {
    let mut state = seed;
    let values: Vec<f32> = (0..size * size * 3)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 24) as f32 / 255.0
        })
        .collect();
    Tensor::from_slice(&values)
        .view([size as i64, size as i64, 3])
        .permute([2, 0, 1])
}

fn portrait() -> Tensor {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/person_segmenter_portrait.png"
    );
    tensor_from_rgb(&image::open(path).expect("portrait").into_rgb8())
}

fn floats(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_segmenter_matches_the_original_in_litert() {
    let reference: serde_json::Value =
        serde_json::from_str(include_str!("fixtures/person_segmenter_reference.json"))
            .expect("reference");
    let net = PersonSegmenter::load(Device::Cpu).expect("segmenter");
    assert_eq!(net.input_size(), (256, 256));
    let probes = [
        "add_4__xeno_compat__1",
        "add_10__xeno_compat__1",
        "add_13__xeno_compat__1",
    ];
    for (name, input) in [("noise", noise(7, 256)), ("portrait", portrait())] {
        let expected = &reference[name];
        let (output, kept) = tch::no_grad(|| net.run(&input.unsqueeze(0), &probes)).expect("run");
        assert_eq!(output.size(), [1, 1, 256, 256]);
        let every_4th = output.get(0).get(0).slice(0, 0, 256, 4).slice(1, 0, 256, 4);
        let ours = Vec::<f32>::try_from(&every_4th.contiguous().view([-1])).expect("values");
        let diff = max_difference(&ours, &floats(&expected["output_every_4th"]));
        eprintln!("{name}: output differs by at most {diff:.2e}");
        assert!(diff < 1e-3, "{name}: output differs by {diff}");
        let mean = output.mean(Kind::Float).double_value(&[]);
        let want = expected["output_mean"].as_f64().expect("mean");
        assert!((mean - want).abs() < 1e-4, "{name}: mean {mean} vs {want}");
        for probe in probes {
            let want = &expected[probe];
            let t = kept[probe].get(0); // CHW
            let (c, h, w) = (t.size()[0], t.size()[1], t.size()[2]);
            assert_eq!(
                vec![h, w, c],
                floats(&want["shape"])
                    .iter()
                    .map(|&v| v as i64)
                    .collect::<Vec<_>>(),
                "{name} {probe}"
            );
            let pixel = |y: i64, x: i64| {
                Vec::<f32>::try_from(&t.slice(1, y, y + 1, 1).slice(2, x, x + 1, 1).view([-1]))
                    .expect("pixel")
            };
            let scale = floats(&want["centre_pixel"])
                .iter()
                .fold(1.0f32, |m, v| m.max(v.abs()));
            for (key, (y, x)) in [("first_pixel", (0, 0)), ("centre_pixel", (h / 2, w / 2))] {
                let diff = max_difference(&pixel(y, x), &floats(&want[key]));
                assert!(
                    diff < 1e-3 * scale,
                    "{name} {probe} {key}: differs by {diff}"
                );
            }
            let mean = t.mean(Kind::Float).double_value(&[]);
            let want_mean = want["mean"].as_f64().expect("mean");
            assert!(
                (mean - want_mean).abs() < 1e-3 * scale as f64,
                "{name} {probe}: mean {mean} vs {want_mean}"
            );
        }
    }
}

#[test]
fn masks_come_back_at_each_images_size_and_find_the_person() {
    let net = PersonSegmenter::load(Device::Cpu).expect("segmenter");
    let img = image::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/person_segmenter_portrait.png"
    ))
    .expect("portrait")
    .into_rgb8();
    let wide = image::imageops::resize(&img, 300, 200, image::imageops::FilterType::Triangle);
    let masks = net.masks(&[&img, &wide]).expect("masks");
    assert_eq!((masks[0].width, masks[0].height), (256, 256));
    assert_eq!((masks[1].width, masks[1].height), (300, 200));
    assert_eq!(masks[1].probabilities().count(), 300 * 200);
    // The portrait: the face in the middle is the person, the top corners are the background.
    for m in &masks {
        let (w, h) = (m.width as i64, m.height as i64);
        assert!(m.at(w / 2, h / 2) > 0.9, "centre");
        assert!(m.at(3, 3) < 0.1 && m.at(w - 4, 3) < 0.1, "corners");
    }
}

#[test]
fn a_damaged_model_file_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("broken.safetensors");
    std::fs::write(&path, b"not a model").expect("write");
    let err = PersonSegmenter::from_file(&path, Device::Cpu)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("not a safetensors file"), "{err}");
}

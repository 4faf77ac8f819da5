//! ReStyle-pSp, for a StyleGAN3 and a StyleGAN2 decoder, against every round the reference
//! inference produced from the random-weight checkpoints in ../shared/fixtures/sg3.

mod common;

use common::parity::assert_close;
use lifelapse::nets::generative::Family;
use lifelapse::nets::import::{self, Checkpoint, CheckpointKind};
use lifelapse::nets::restyle::RestyleEncoder;
use lifelapse::nets::tensor_set::TensorSet;
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

fn sg3(name: &str) -> PathBuf {
    common::fixtures().join("sg3").join(name)
}

fn read(name: &str) -> TensorSet {
    common::parity::tensors(&sg3(name))
}

/// The photos as the reference's dataset normalises them: (u8 / 255 − 0.5) / 0.5.
fn photos(io: &TensorSet) -> Tensor {
    (io.get("input_u8").unwrap().to_kind(Kind::Float) / 255.0 - 0.5) / 0.5
}

fn open(name: &str) -> Checkpoint {
    import::open(&sg3(name), None).expect("open the ReStyle checkpoint")
}

/// Runs the checkpoint's encoder with its default rounds and compares each round.
fn check_rounds(ckpt: &Checkpoint, io: &TensorSet, rounds: usize) {
    let (cpu, float) = (Device::Cpu, Kind::Float);
    let generator = ckpt.build_generator(cpu, float).expect("generator");
    let encoder = ckpt.build_encoder(cpu, float).expect("encoder");
    assert!(encoder.is_iterative());
    let mut seen = 0;
    let codes = encoder.encode_traced(&photos(io), &generator, None, |round| {
        let k = round.index;
        if let Ok(x_input) = io.get(&format!("iter{k}.x_input")) {
            assert_close(&format!("iter{k}.x_input"), round.input, x_input, 2e-5);
        }
        for (name, ours, tolerance) in [
            ("residual", round.residual, 1e-5),
            ("codes", round.codes, 1e-5),
            ("images", round.images, 2e-5),
        ] {
            let key = format!("iter{k}.{name}");
            assert_close(&key, ours, io.get(&key).unwrap(), tolerance);
        }
        seen += 1;
    });
    assert_eq!(seen, rounds, "the reference's default rounds");
    let last = format!("iter{}.codes", rounds - 1);
    assert_close("final codes", &codes, io.get(&last).unwrap(), 1e-5);
}

#[test]
fn restyle_into_stylegan3_matches_the_reference_round_by_round() {
    let ckpt = open("restyle_psp_sg3_small.pt");
    assert_eq!(ckpt.kind, CheckpointKind::Restyle);
    assert_eq!(ckpt.family(), Family::Stylegan3);
    // The decoder inside is the R generator, tensor for tensor (its batched transform aside).
    let decoder = read("sg3_r64_small_G_ema.safetensors");
    for (name, t) in decoder.iter().filter(|(n, _)| !n.ends_with("transform")) {
        assert!(ckpt.generator.get(name).expect(name).equal(t), "{name}");
    }
    let io = read("restyle_psp_sg3_small_io.safetensors");
    check_rounds(&ckpt, &io, 3);
}

#[test]
fn the_restyle_backbone_and_average_image_match_the_reference() {
    let ckpt = open("restyle_psp_sg3_small.pt");
    let io = read("restyle_psp_sg3_small_io.safetensors");
    let encoder = RestyleEncoder::new(
        ckpt.encoder.as_ref().expect("encoder"),
        Device::Cpu,
        Kind::Float,
    )
    .expect("encoder");
    assert_eq!((encoder.n_styles(), encoder.code_width()), (16, 32));
    let f = encoder.features(io.get("iter0.x_input").unwrap());
    assert_close("body6", &f.c1, io.get("iter0.body6").unwrap(), 5e-5);
    assert_close("body20", &f.c2, io.get("iter0.body20").unwrap(), 5e-5);
    assert_close("body23", &f.c3, io.get("iter0.body23").unwrap(), 5e-5);
    let g = ckpt
        .build_generator(Device::Cpu, Kind::Float)
        .expect("generator");
    let average = g.w_plus(&io.get("latent_avg").unwrap().unsqueeze(0));
    assert_close(
        "avg_image_native",
        &g.synthesis(&average).squeeze_dim(0),
        io.get("avg_image_native").unwrap(),
        2e-5,
    );
}

#[test]
fn final_codes_seen_through_a_landmarks_transform_match_the_reference() {
    let ckpt = open("restyle_psp_sg3_small.pt");
    let io = read("restyle_psp_sg3_small_io.safetensors");
    let generator = ckpt
        .build_generator(Device::Cpu, Kind::Float)
        .expect("generator");
    let g = generator.stylegan3().expect("a StyleGAN3 decoder");
    let codes = io.get("landmarks.final_codes").unwrap();
    let image = g.synthesis_transformed(codes, io.get("landmarks.transform").unwrap());
    assert_close(
        "final_images_unaligned",
        &image,
        io.get("landmarks.final_images_unaligned").unwrap(),
        2e-5,
    );
}

#[test]
fn restyle_into_stylegan2_matches_the_reference_round_by_round() {
    let ckpt = open("restyle_psp_sg2_small.pt");
    assert_eq!(ckpt.kind, CheckpointKind::Restyle);
    assert_eq!(ckpt.family(), Family::Stylegan2);
    let io = read("restyle_psp_sg2_small_io.safetensors");
    let encoder = RestyleEncoder::new(
        ckpt.encoder.as_ref().expect("encoder"),
        Device::Cpu,
        Kind::Float,
    )
    .expect("encoder");
    let f = encoder.features(io.get("iter0.x_input").unwrap());
    assert_close("body23", &f.c3, io.get("iter0.body23").unwrap(), 5e-5);
    check_rounds(&ckpt, &io, 5);
}

#[test]
fn rounds_can_be_chosen_and_imports_keep_the_encoder() {
    let ckpt = open("restyle_psp_sg3_small.pt");
    let io = read("restyle_psp_sg3_small_io.safetensors");
    let dir = tempfile::tempdir().expect("dir");
    let entry = import::save(&ckpt, &sg3("restyle_psp_sg3_small.pt"), dir.path()).expect("save");
    assert_eq!(
        (entry.kind, entry.family),
        (CheckpointKind::Restyle, Family::Stylegan3)
    );
    let back = import::open_imported(dir.path(), &entry).expect("reopen");
    let g = back
        .build_generator(Device::Cpu, Kind::Float)
        .expect("generator");
    let one = back
        .build_encoder(Device::Cpu, Kind::Float)
        .expect("encoder")
        .with_rounds(1);
    let codes = one.encode(&photos(&io), &g);
    assert_close("one round", &codes, io.get("iter0.codes").unwrap(), 1e-5);
}

/// `lifelapse generate` with the NVIDIA pickle and `lifelapse encode` with the ReStyle
/// checkpoint, through the real binary, as a script would use them.
#[test]
fn the_generate_and_encode_commands_run_stylegan3_and_restyle() {
    let dir = tempfile::tempdir().expect("dir");
    let g_io = read("sg3_t64_small_io.safetensors");
    let latents = dir.path().join("latents.safetensors");
    Tensor::write_safetensors(&[("w_plus", g_io.get("wplus").unwrap())], &latents)
        .expect("write latents");
    let images = dir.path().join("images.safetensors");
    let out = common::run(
        common::lifelapse(dir.path())
            .arg("generate")
            .arg("--checkpoint")
            .arg(sg3("sg3_t64_small.pkl"))
            .arg("--latents")
            .arg(&latents)
            .arg("--out")
            .arg(&images),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let got: BTreeMap<String, Tensor> = Tensor::read_safetensors(&images)
        .expect("images")
        .into_iter()
        .collect();
    assert_close(
        "generate",
        &got["images"],
        g_io.get("img_wplus").unwrap(),
        2e-5,
    );

    // The reference's photos as PNG files, encoded with two rounds.
    let io = read("restyle_psp_sg3_small_io.safetensors");
    let u8s = io.get("input_u8").unwrap();
    let mut files = Vec::new();
    for i in 0..2 {
        let hwc = u8s.get(i).permute([1, 2, 0]).contiguous();
        let bytes = Vec::<u8>::try_from(hwc.flatten(0, -1)).expect("bytes");
        let img = image::RgbImage::from_raw(256, 256, bytes).expect("image");
        let path = dir.path().join(format!("face{i}.png"));
        img.save(&path).expect("png");
        files.push(path);
    }
    let codes = dir.path().join("codes.safetensors");
    let out = common::run(
        common::lifelapse(dir.path())
            .arg("encode")
            .arg("--checkpoint")
            .arg(sg3("restyle_psp_sg3_small.pt"))
            .arg("--images")
            .args(&files)
            .args(["--encoder-iterations", "2", "--out"])
            .arg(&codes),
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let got: BTreeMap<String, Tensor> = Tensor::read_safetensors(&codes)
        .expect("codes")
        .into_iter()
        .collect();
    assert_close(
        "encode",
        &got["w_plus"],
        io.get("iter1.codes").unwrap(),
        1e-4,
    );
}

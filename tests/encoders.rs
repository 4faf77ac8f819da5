//! pSp and e4e encoders against tensors the reference implementations produced from the
//! random-weight checkpoints in ../shared/fixtures.

mod common;

use lifelapse::nets::e4e::E4eEncoder;
use lifelapse::nets::psp::PspEncoder;
use lifelapse::nets::stylegan2::{Generator, GeneratorConfig};
use lifelapse::nets::tensor_set::TensorSet;
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

fn read(name: &str) -> TensorSet {
    let path = common::fixtures().join(name);
    let tensors = Tensor::read_safetensors(&path).expect("read fixture");
    TensorSet::new(tensors.into_iter().collect::<BTreeMap<_, _>>())
}

fn assert_close(name: &str, ours: &Tensor, reference: &Tensor, tolerance: f64) {
    assert_eq!(ours.size(), reference.size(), "{name}: shapes differ");
    let diff = (ours.to_kind(Kind::Double) - reference.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    assert!(diff <= tolerance, "{name}: max difference {diff:e} exceeds {tolerance:e}");
}

fn check_images(ckpt: &TensorSet, io: &TensorSet, codes: &Tensor) {
    let avg = ckpt.get("latent_avg").unwrap();
    let full = codes + avg;
    assert_close("codes", &full, io.get("codes").unwrap(), 1e-5);
    let dec = ckpt.subset("state_dict.decoder");
    let config = GeneratorConfig::from_tensors(&dec, 0.01).unwrap();
    let g = Generator::new(&dec, &config, Device::Cpu, Kind::Float).unwrap();
    assert_close("images", &g.synthesis(&full), io.get("images").unwrap(), 1e-4);
}

#[test]
fn psp_matches_the_reference() {
    let ckpt = read("psp_small.safetensors");
    let io = read("psp_small_io.safetensors");
    let enc = PspEncoder::new(&ckpt.subset("state_dict.encoder"), Device::Cpu, Kind::Float)
        .expect("encoder");
    assert_eq!(enc.n_styles(), 10);
    let input = io.get("input").unwrap();
    let f = enc.features(input);
    assert_close("c1", &f.c1, io.get("inter.c1").unwrap(), 1e-4);
    assert_close("c2", &f.c2, io.get("inter.c2").unwrap(), 1e-4);
    assert_close("c3", &f.c3, io.get("inter.c3").unwrap(), 1e-4);
    let codes = enc.forward(input);
    assert_close("codes_raw", &codes, io.get("codes_raw").unwrap(), 1e-5);
    check_images(&ckpt, &io, &codes);
}

#[test]
fn e4e_matches_the_reference() {
    let ckpt = read("e4e_small.safetensors");
    let io = read("e4e_small_io.safetensors");
    let enc = E4eEncoder::new(&ckpt.subset("state_dict.encoder"), Device::Cpu, Kind::Float)
        .expect("encoder");
    let codes = enc.forward(io.get("input").unwrap());
    assert_close("codes_raw", &codes, io.get("codes_raw").unwrap(), 1e-5);
    check_images(&ckpt, &io, &codes);
}

//! pSp and e4e encoders against tensors the reference implementations produced from the
//! random-weight checkpoints in ../shared/fixtures.

mod common;

use common::parity::assert_close;
use lifelapse::nets::e4e::E4eEncoder;
use lifelapse::nets::import::{self, Checkpoint, CheckpointKind};
use lifelapse::nets::psp::PspEncoder;
use lifelapse::nets::tensor_set::TensorSet;
use tch::{Device, Kind};

fn read(name: &str) -> TensorSet {
    common::parity::tensors(&common::fixtures().join(name))
}

/// Through the import path: the encoder adds the average latent, the generator decodes.
fn check_codes_and_images(ckpt: &Checkpoint, io: &TensorSet) {
    let encoder = ckpt
        .build_encoder(Device::Cpu, Kind::Float)
        .expect("encoder");
    let g = ckpt
        .build_generator(Device::Cpu, Kind::Float)
        .expect("generator");
    let codes = encoder.encode(io.get("input").unwrap(), &g);
    assert_close("codes", &codes, io.get("codes").unwrap(), 1e-5);
    assert_close(
        "images",
        &g.synthesis(&codes),
        io.get("images").unwrap(),
        1e-4,
    );
}

#[test]
fn psp_matches_the_reference() {
    let ckpt = import::open(&common::fixtures().join("psp_small.pt"), None).expect("open");
    assert_eq!(ckpt.kind, CheckpointKind::Psp);
    let io = read("psp_small_io.safetensors");
    let enc =
        PspEncoder::new(ckpt.encoder.as_ref().unwrap(), Device::Cpu, Kind::Float).expect("encoder");
    assert_eq!(enc.n_styles(), 10);
    let input = io.get("input").unwrap();
    let f = enc.features(input);
    assert_close("c1", &f.c1, io.get("inter.c1").unwrap(), 1e-4);
    assert_close("c2", &f.c2, io.get("inter.c2").unwrap(), 1e-4);
    assert_close("c3", &f.c3, io.get("inter.c3").unwrap(), 1e-4);
    let codes = enc.forward(input);
    assert_close("codes_raw", &codes, io.get("codes_raw").unwrap(), 1e-5);
    check_codes_and_images(&ckpt, &io);
}

#[test]
fn e4e_matches_the_reference() {
    let ckpt = import::open(&common::fixtures().join("e4e_small.safetensors"), None).expect("open");
    assert_eq!(ckpt.kind, CheckpointKind::E4e);
    let io = read("e4e_small_io.safetensors");
    let enc =
        E4eEncoder::new(ckpt.encoder.as_ref().unwrap(), Device::Cpu, Kind::Float).expect("encoder");
    let codes = enc.forward(io.get("input").unwrap());
    assert_close("codes_raw", &codes, io.get("codes_raw").unwrap(), 1e-5);
    check_codes_and_images(&ckpt, &io);
}

#[test]
fn an_imported_checkpoint_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::fixtures().join("psp_small.pt");
    let ckpt = import::open(&source, None).expect("open");
    let entry = import::save(&ckpt, &source, dir.path()).expect("save");
    assert_eq!(entry.kind, CheckpointKind::Psp);
    assert_eq!(entry.resolution, 64);
    assert_eq!(import::imported(dir.path()).unwrap(), vec![entry.clone()]);
    let back = import::open_imported(dir.path(), &entry).expect("reopen");
    let io = read("psp_small_io.safetensors");
    check_codes_and_images(&back, &io);
    // A damaged file is refused by its checksum.
    let path = dir.path().join(&entry.file);
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, bytes).unwrap();
    let err = import::open_imported(dir.path(), &entry)
        .err()
        .expect("refused");
    assert!(err.to_string().contains("sha256"), "{err}");
}

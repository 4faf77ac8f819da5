//! Damaged checkpoints: truncated and byte-flipped copies of the parity fixtures (PyTorch zip
//! archives, safetensors files, an NVIDIA network pickle) each end in a named import error or a
//! checkpoint, never a panic.

mod common;

use lifelapse::nets::import;
use std::path::Path;

/// A small deterministic generator, so a failure names the same copy every run.
struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// Where a format keeps what says how to read the rest: the pickle and the zip directory of a
/// PyTorch archive, the JSON header of a safetensors file, the opening of a pickle.
fn structural_ranges(bytes: &[u8]) -> Vec<(usize, usize)> {
    let n = bytes.len();
    let find = |needle: &[u8]| bytes.windows(needle.len()).position(|w| w == needle);
    if bytes.starts_with(b"PK\x03\x04") {
        let pickle = find(b"data.pkl").map_or(0, |at| at + 8 + 30);
        vec![
            (pickle, (pickle + 4096).min(n)),
            (n.saturating_sub(4096), n),
        ]
    } else if bytes.first() == Some(&0x80) {
        vec![(0, n.min(65536))]
    } else {
        let header = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        vec![(0, (8 + header).min(n))]
    }
}

/// Truncated and flipped copies of one fixture, each as (label, bytes).
fn mutations(bytes: &[u8], rng: &mut Xorshift) -> Vec<(String, Vec<u8>)> {
    let n = bytes.len();
    let mut out = Vec::new();
    for cut in [
        1,
        8,
        64,
        512,
        n / 100,
        n / 10,
        n / 3,
        n / 2,
        n * 9 / 10,
        n - 4096,
        n - 100,
        n - 22,
        n - 1,
    ] {
        out.push((format!("cut at {cut}"), bytes[..cut.min(n - 1)].to_vec()));
    }
    let ranges = structural_ranges(bytes);
    for i in 0..36 {
        let (start, end) = ranges[i % ranges.len()];
        let at = if i % 6 == 5 {
            rng.below(n)
        } else {
            start + rng.below(end - start)
        };
        let mut flipped = bytes.to_vec();
        flipped[at] ^= [0xFF, 0x01, 0x80, 0x10, 0x7F, 0x04][i % 6];
        out.push((format!("flip at {at}"), flipped));
    }
    out
}

#[test]
fn damaged_checkpoints_are_refused_with_a_reason_never_a_panic() {
    let fixtures = common::fixtures();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
    let files = [
        "g_small.pt",
        "g_small.safetensors",
        "psp_small.pt",
        "e4e_small.safetensors",
        "sg3/restyle_psp_sg2_small.pt",
        "sg3/sg3_r64_small.pkl",
    ];
    let (mut tried, mut refused, mut panicked) = (0, 0, Vec::new());
    let mut reasons = std::collections::BTreeSet::new();
    for file in files {
        let bytes = std::fs::read(fixtures.join(file)).expect("fixture");
        for (label, damaged) in mutations(&bytes, &mut rng) {
            let name = Path::new(file).file_name().expect("name");
            let path = dir.path().join(name);
            std::fs::write(&path, &damaged).expect("write copy");
            tried += 1;
            match std::panic::catch_unwind(|| import::open(&path, None)) {
                Err(_) => panicked.push(format!("{file} {label}")),
                Ok(Err(e)) => {
                    refused += 1;
                    let reason = e.to_string();
                    assert!(!reason.is_empty(), "{file} {label}");
                    reasons.insert(reason.chars().take(60).collect::<String>());
                }
                Ok(Ok(_)) => {}
            }
        }
    }
    eprintln!(
        "damaged checkpoints: {tried} copies, {refused} refused with a reason, {} read, {} panicked; e.g. {:?}",
        tried - refused - panicked.len(),
        panicked.len(),
        reasons.iter().take(8).collect::<Vec<_>>()
    );
    assert!(panicked.is_empty(), "import panicked on {panicked:?}");
    assert!(refused > tried / 2, "{refused} of {tried} refused");
}

/// `tensor` with a shape that lies: one row short, flattened, or doubled along its first axis.
fn misshapen(tensor: &tch::Tensor, how: usize) -> tch::Tensor {
    let size = tensor.size();
    match how % 3 {
        0 if size.first().is_some_and(|&d| d > 1) => tensor.narrow(0, 0, size[0] - 1),
        1 => tensor.flatten(0, -1),
        _ => {
            let rows = tensor.flatten(0, 0);
            tch::Tensor::cat(&[&rows, &rows], 0)
        }
    }
}

#[test]
fn tensors_of_the_wrong_shape_are_refused_never_a_panic() {
    use import::CheckpointKind;
    let fixtures = common::fixtures();
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut tried, mut panicked) = (0, Vec::new());
    for (file, kind, every) in [
        ("g_small.safetensors", CheckpointKind::Stylegan2, 1),
        ("psp_small.safetensors", CheckpointKind::Psp, 9),
        ("e4e_small.safetensors", CheckpointKind::E4e, 23),
        (
            "sg3/sg3_r64_small_G_ema.safetensors",
            CheckpointKind::Stylegan3,
            3,
        ),
        (
            "sg3/sg3_t64_small_G_ema.safetensors",
            CheckpointKind::Stylegan3,
            5,
        ),
    ] {
        let tensors = tch::Tensor::read_safetensors(fixtures.join(file)).expect("fixture");
        let path = dir.path().join(file.replace('/', "_"));
        for (i, (name, tensor)) in tensors.iter().enumerate() {
            if i % every != 0 && name != "latent_avg" {
                continue;
            }
            for how in 0..3 {
                let mut damaged: Vec<(String, tch::Tensor)> = tensors
                    .iter()
                    .map(|(n, t)| (n.clone(), t.shallow_clone()))
                    .collect();
                damaged[i].1 = misshapen(tensor, how + i);
                tch::Tensor::write_safetensors(&damaged, &path).expect("write copy");
                tried += 1;
                // What opens must also run: a shape lie may not surface later, in a render.
                let opened = std::panic::catch_unwind(|| {
                    let checkpoint = import::open(&path, Some(kind))?;
                    let (cpu, float) = (tch::Device::Cpu, tch::Kind::Float);
                    let generator = checkpoint.build_generator(cpu, float)?;
                    let z =
                        tch::Tensor::randn([1, checkpoint.generator_shape.z_dim()], (float, cpu));
                    let image = generator.synthesis(&generator.w_plus(&generator.mapping(&z)));
                    assert_eq!(image.size()[0], 1);
                    if kind.has_encoder() {
                        let encoder = checkpoint.build_encoder(cpu, float)?;
                        let codes = encoder.encode(
                            &tch::Tensor::zeros([1, 3, 256, 256], (float, cpu)),
                            &generator,
                        );
                        assert_eq!(image.size()[0], codes.size()[0]);
                        assert_eq!(generator.synthesis(&codes).size(), image.size());
                    }
                    Ok::<_, import::ImportError>(())
                });
                if opened.is_err() {
                    panicked.push(format!("{file}: {name} {:?}", damaged[i].1.size()));
                }
            }
        }
    }
    eprintln!(
        "misshapen tensors: {tried} copies, {} panicked",
        panicked.len()
    );
    assert!(panicked.is_empty(), "import panicked on {panicked:?}");
}

//! Generative-network commands for scripted use: W+ codes → images with a StyleGAN2 or
//! StyleGAN3 generator, aligned face images → W+ codes with a pSp, e4e or ReStyle encoder. Both read and write
//! safetensors so that other tools can consume the results.

use crate::nets::import::{self, ImportError};
use crate::nets::NetError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum GanError {
    #[error(transparent)]
    Checkpoint(#[from] ImportError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("{path}: {message}")]
    Input { path: PathBuf, message: String },
    #[error("fp16 needs a CUDA device; this run is on the CPU")]
    HalfOnCpu,
}

/// Numeric precision of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Precision {
    Fp32,
    Fp16,
}

impl Precision {
    pub fn kind(self, device: Device) -> Result<Kind, GanError> {
        match (self, device) {
            (Precision::Fp32, _) => Ok(Kind::Float),
            (Precision::Fp16, Device::Cuda(_)) => Ok(Kind::Half),
            (Precision::Fp16, _) => Err(GanError::HalfOnCpu),
        }
    }
}

/// `w_plus` [N, n_latent, style_dim] from `latents` → `images` [N, 3, H, W] (raw generator
/// output, float32) in `out`. Returns N.
pub fn generate(
    checkpoint: &Path,
    latents: &Path,
    out: &Path,
    device: Device,
    precision: Precision,
    batch: i64,
) -> Result<i64, GanError> {
    let _guard = tch::no_grad_guard();
    let kind = precision.kind(device)?;
    let ckpt = import::open_any(checkpoint, None)?;
    let g = ckpt.build_generator(device, kind)?;
    let shape = ckpt.generator_shape.clone();
    let inputs = import::read_safetensors_file(latents)?;
    let bad = |message: String| GanError::Input {
        path: latents.to_path_buf(),
        message,
    };
    let w_plus = inputs
        .get("w_plus")
        .ok_or_else(|| bad("no tensor named w_plus".into()))?;
    let size = w_plus.size();
    let expected = [-1, shape.n_latent() as i64, shape.style_dim()];
    if size.len() != 3 || size[1] != expected[1] || size[2] != expected[2] {
        return Err(bad(format!(
            "w_plus has shape {size:?}; this generator takes [N, {}, {}]",
            expected[1], expected[2]
        )));
    }
    let n = size[0];
    let mut images = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.max(1).min(n - start);
        let chunk = w_plus.narrow(0, start, len);
        images.push(
            g.synthesis(&chunk)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu),
        );
        start += len;
    }
    let images = if images.is_empty() {
        let side = shape.resolution();
        Tensor::zeros([0, 3, side, side], (Kind::Float, Device::Cpu))
    } else {
        Tensor::cat(&images, 0)
    };
    let mut meta = BTreeMap::new();
    meta.insert("checkpoint".into(), checkpoint.display().to_string());
    meta.insert("resolution".into(), shape.resolution().to_string());
    import::write_safetensors(out, &[("images", &images)], meta)?;
    Ok(n)
}

/// Aligned face images → `w_plus` [N, n_latent, style_dim] in `out`; `rounds` overrides
/// ReStyle's rounds of refinement. Returns N.
pub fn encode(
    checkpoint: &Path,
    images: &[PathBuf],
    out: &Path,
    device: Device,
    precision: Precision,
    batch: usize,
    rounds: Option<usize>,
) -> Result<usize, GanError> {
    let _guard = tch::no_grad_guard();
    let kind = precision.kind(device)?;
    let ckpt = import::open_any(checkpoint, None)?;
    if !ckpt.kind.has_encoder() {
        return Err(ImportError::Unrecognised(format!(
            "{} holds a generator only; encoding needs a pSp, e4e or ReStyle checkpoint",
            checkpoint.display()
        ))
        .into());
    }
    let encoder = ckpt.build_encoder(device, kind)?;
    let encoder = match rounds {
        Some(n) => encoder.with_rounds(n),
        None => encoder,
    };
    // ReStyle refines its codes against the checkpoint's own generator.
    let generator = ckpt.build_generator(device, kind)?;
    // Images are read as photos are: regular files, the album's limits, EXIF orientation.
    let limits = crate::album::IntakeOptions::from_config(&Default::default()).limits;
    let mut codes = Vec::new();
    for chunk in images.chunks(batch.max(1)) {
        let mut inputs = Vec::with_capacity(chunk.len());
        for path in chunk {
            use crate::album::PhotoSource;
            let img = path
                .read(limits.max_file_bytes)
                .and_then(|bytes| crate::album::decode(&bytes, limits, chrono::Utc::now()))
                .map_err(|e| GanError::Input {
                    path: path.clone(),
                    message: e.to_string(),
                })?
                .image;
            inputs.push(crate::nets::psp::encoder_input(&img));
        }
        let x = Tensor::stack(&inputs, 0).to_device(device).to_kind(kind);
        codes.push(
            encoder
                .encode(&x, &generator)
                .to_kind(Kind::Float)
                .to_device(Device::Cpu),
        );
    }
    let w_plus = Tensor::cat(&codes, 0);
    let mut meta = BTreeMap::new();
    meta.insert("checkpoint".into(), checkpoint.display().to_string());
    import::write_safetensors(out, &[("w_plus", &w_plus)], meta)?;
    Ok(images.len())
}

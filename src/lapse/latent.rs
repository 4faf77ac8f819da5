//! The generative renderer (`--renderer stylegan`): every keyframe's aligned face is encoded
//! into StyleGAN2's W+ space with an imported pSp or e4e encoder, the codes are interpolated
//! along the timeline, and every frame is generated; the real photos are blended back near
//! their keyframes by the caller, as for every renderer.
//!
//! All frames are generated up front, in batches on the inference worker, because batching is
//! what makes the generator fast; rendering a frame afterwards is a lookup.

use super::{FrameSpec, Keyframe, LapseError, Renderer};
use crate::engine::{CancelToken, Engine, EngineOptions};
use crate::nets::import::{self, CheckpointKind, ImportedModel};
use image::RgbImage;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// Where the published encoder checkpoints come from, for the message when none is imported.
const WHERE_TO_GET: &str =
    "the pSp project's psp_ffhq_encode.pt or the e4e project's e4e_ffhq_encode.pt";

/// How to run the generative renderer.
#[derive(Debug, Clone)]
pub struct LatentOptions {
    /// Where `lifelapse import-weights` put the checkpoints (`<data dir>/models`).
    pub models_dir: PathBuf,
    pub device: Device,
    /// Optimisation steps per keyframe code against the photo (0: the encoder's code as is).
    pub refine_steps: u32,
}

/// The newest imported pSp or e4e checkpoint in `dir`.
pub fn find_checkpoint(dir: &Path) -> Result<ImportedModel, LapseError> {
    let models = import::imported(dir).map_err(|e| LapseError::Generative(e.to_string()))?;
    models
        .into_iter()
        .rev()
        .find(|m| matches!(m.kind, CheckpointKind::Psp | CheckpointKind::E4e))
        .ok_or_else(|| LapseError::MissingWeights {
            dir: dir.display().to_string(),
            hint: WHERE_TO_GET,
        })
}

type FrameKey = (usize, usize, u32);

fn key(spec: &FrameSpec) -> FrameKey {
    (spec.from, spec.to, spec.alpha.to_bits())
}

/// The generated frames of one time-lapse.
pub struct LatentRenderer {
    frames: HashMap<FrameKey, RgbImage>,
}

/// A keyframe's aligned face as the encoder's input.
fn encoder_batch(keyframes: &[Keyframe]) -> Tensor {
    let inputs: Vec<Tensor> = keyframes
        .iter()
        .map(|k| crate::gan::encoder_input(&k.image))
        .collect();
    Tensor::stack(&inputs, 0)
}

/// Raw generator output [3, H, W] (about −1…1) → an RGB image of `size`.
fn to_image(raw: &Tensor, size: (u32, u32)) -> Result<RgbImage, LapseError> {
    let img = crate::nets::rgb_from_tensor(&((raw + 1.0) / 2.0))
        .map_err(|e| LapseError::Generative(e.to_string()))?;
    Ok(if img.dimensions() == size {
        img
    } else {
        let (w, h) = img.dimensions();
        crate::album::resize::crop_resize(&img, (0.0, 0.0, w as f64, h as f64), size.0, size.1)
    })
}

impl LatentRenderer {
    /// Encodes the keyframes and generates every frame `specs` asks for.
    pub fn new(
        keyframes: &[Keyframe],
        specs: &[FrameSpec],
        options: &LatentOptions,
        progress: Option<crate::engine::Progress>,
        cancel: CancelToken,
    ) -> Result<Self, LapseError> {
        let entry = find_checkpoint(&options.models_dir)?;
        let checkpoint = import::open_imported(&options.models_dir, &entry)
            .map_err(|e| LapseError::Generative(e.to_string()))?;
        // Refinement needs gradients, so it runs its own fp32 generator, built here from the
        // same tensors before the engine takes the checkpoint.
        let refiner = match options.refine_steps {
            0 => None,
            _ => Some(
                checkpoint
                    .build_generator(options.device, Kind::Float)
                    .map_err(|e| LapseError::Generative(e.to_string()))?,
            ),
        };
        let engine = Engine::start(
            checkpoint,
            EngineOptions {
                device: options.device,
                ..EngineOptions::default()
            },
        )
        .map_err(|e| LapseError::Generative(e.to_string()))?;
        let gen_err = |e: crate::engine::EngineError| LapseError::Generative(e.to_string());
        let mut codes = engine.encode(encoder_batch(keyframes)).map_err(gen_err)?;
        if let Some(generator) = &refiner {
            codes = refine::refine(generator, options, keyframes, &codes)?;
        }
        tracing::info!(
            "encoded {} keyframes with {} ({})",
            keyframes.len(),
            entry.file,
            entry.kind
        );
        // One code per distinct frame: holds and repeats are generated once.
        let mut unique: Vec<FrameSpec> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for s in specs {
            if seen.insert(key(s)) {
                unique.push(*s);
            }
        }
        let w: Vec<Tensor> = unique
            .iter()
            .map(|s| {
                let (a, b) = (codes.get(s.from as i64), codes.get(s.to as i64));
                &a * (1.0 - s.alpha as f64) + &b * s.alpha as f64
            })
            .collect();
        if w.is_empty() {
            return Ok(Self {
                frames: HashMap::new(),
            });
        }
        let images = engine
            .generate(Tensor::stack(&w, 0).to_kind(Kind::Float), progress, cancel)
            .map_err(gen_err)?;
        let size = keyframes
            .first()
            .map_or((256, 256), |k| k.image.dimensions());
        let mut frames = HashMap::with_capacity(unique.len());
        for (i, s) in unique.iter().enumerate() {
            frames.insert(key(s), to_image(&images.get(i as i64), size)?);
        }
        Ok(Self { frames })
    }
}

impl Renderer for LatentRenderer {
    fn name(&self) -> &'static str {
        "stylegan"
    }

    fn frame(&self, _keyframes: &[Keyframe], spec: FrameSpec) -> Result<RgbImage, LapseError> {
        self.frames
            .get(&key(&spec))
            .cloned()
            .ok_or(LapseError::Generative(format!(
                "frame {}→{} at {:.3} was not generated",
                spec.from, spec.to, spec.alpha
            )))
    }
}

/// Per-keyframe refinement of the encoder's code (`--refine N`).
mod refine {
    use super::*;
    use crate::nets::stylegan2::Generator;

    /// Optimises each keyframe's W+ code for `options.refine_steps` Adam steps so that the
    /// generated face matches the photo: mean squared pixel error at 256², plus an identity
    /// term, the squared distance between the two faces' 128-D descriptors (the centre crop of
    /// an aligned face, where the descriptor network expects the face).
    pub fn refine(
        generator: &Generator,
        options: &LatentOptions,
        keyframes: &[Keyframe],
        codes: &Tensor,
    ) -> Result<Tensor, LapseError> {
        let err = |e: &dyn std::fmt::Display| LapseError::Generative(e.to_string());
        let device = options.device;
        let (_vs, descriptor) = crate::nets::face_descriptor::load(device).map_err(|e| err(&e))?;
        let identity = |images: &Tensor| {
            // −1…1, FFHQ layout → the central face square, 0–255 at the network's size.
            let (h, w) = (images.size()[2], images.size()[3]);
            let crop = images
                .narrow(2, h * 3 / 16, h * 5 / 8)
                .narrow(3, w * 3 / 16, w * 5 / 8);
            let side = descriptor.input_size();
            let chip = crop.upsample_bilinear2d([side, side], false, None, None);
            descriptor.forward(&((chip + 1.0) * 127.5))
        };
        let targets = encoder_batch(keyframes).to_device(device);
        let target_ids = tch::no_grad(|| identity(&targets));
        let mut w = codes.to_device(device).detach().set_requires_grad(true);
        let (mut m, mut v) = (w.zeros_like(), w.zeros_like());
        let (lr, beta1, beta2, eps) = (0.01, 0.9, 0.999, 1e-8);
        for step in 1..=options.refine_steps {
            let images = generator.synthesis(&w);
            let side = targets.size()[2];
            let resized = images.upsample_bilinear2d([side, side], false, None, None);
            let pixel = (&resized - &targets).square().mean(Kind::Float);
            let ident = (identity(&resized) - &target_ids)
                .square()
                .sum_dim_intlist([1].as_slice(), false, Kind::Float)
                .mean(Kind::Float);
            let loss = &pixel + &ident * 0.5;
            let grads = Tensor::run_backward(&[&loss], &[&w], false, false);
            let g = &grads[0];
            tch::no_grad(|| {
                m = &m * beta1 + g * (1.0 - beta1);
                v = &v * beta2 + g.square() * (1.0 - beta2);
                let m_hat = &m / (1.0 - beta1.powi(step as i32));
                let v_hat = &v / (1.0 - beta2.powi(step as i32));
                let update = m_hat / (v_hat.sqrt() + eps) * lr;
                let _ = w.f_sub_(&update);
            });
            if step == 1 || step == options.refine_steps {
                tracing::info!(
                    "refine step {step}: pixel {:.4}, identity {:.4}",
                    pixel.double_value(&[]),
                    ident.double_value(&[])
                );
            }
        }
        Ok(w.detach().to_device(Device::Cpu))
    }
}

//! The generative renderer (`--renderer stylegan`): every keyframe's aligned face is encoded
//! into the W+ space of an imported encoder's generator (pSp or e4e into StyleGAN2, ReStyle into
//! StyleGAN2 or StyleGAN3), the codes are interpolated along the timeline, and frames are generated as the video encoder asks for them; the real
//! photos are blended back near their keyframes by the caller, as for every renderer.
//!
//! The networks belong to the process's resident inference engine, which this module knows only
//! as [`Generative`]: loaded once, shared by every render. Frames are generated a window at a time when the encoder reads in order (one
//! engine job per window, which the engine batches with other renders' frames), and one at a
//! time when it samples (a GIF's palette), so only a bounded number of frames is ever held,
//! whatever the video's length.

use super::{FrameSpec, Keyframe, LapseError, Renderer};
use crate::config::GeneratorChoice;
use crate::leaves::cancel::CancelToken;
use crate::nets::generative::Family;
use crate::nets::import::{self, ImportedModel};
use image::RgbImage;
use rayon::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tch::{Device, Kind, Tensor};

/// Where the published encoder checkpoints come from, for the message when none is imported.
/// What `find_checkpoint` looks for, and where a user gets one, by generator family.
fn wanted(family: Option<Family>) -> (&'static str, &'static str) {
    match family {
        None => (
            "pSp, e4e or ReStyle",
            "the pSp project's psp_ffhq_encode.pt, the e4e project's e4e_ffhq_encode.pt or a ReStyle-pSp checkpoint",
        ),
        Some(Family::Stylegan2) => (
            "pSp, e4e or ReStyle encoder with a StyleGAN2",
            "the pSp project's psp_ffhq_encode.pt or the e4e project's e4e_ffhq_encode.pt",
        ),
        Some(Family::Stylegan3) => (
            "ReStyle encoder with a StyleGAN3",
            "the stylegan3-editing project's ReStyle-pSp FFHQ checkpoint",
        ),
    }
}

/// Frames generated at once when the encoder reads in order.
const MAX_WINDOW: usize = 8;

/// How to run the generative renderer.
#[derive(Debug, Clone)]
pub struct LatentOptions {
    /// Where `lifelapse import-weights` put the checkpoints (`<data dir>/models`).
    pub models_dir: PathBuf,
    pub device: Device,
    /// Optimisation steps per keyframe code against the photo (0: the encoder's code as is).
    pub refine_steps: u32,
    /// Which imported encoder checkpoint to use.
    pub generator: GeneratorChoice,
    /// ReStyle's rounds of refinement (`None`: the reference's default for its generator).
    pub encoder_rounds: Option<usize>,
}

/// The family a generator choice asks for (`None`: any).
fn family_of(choice: GeneratorChoice) -> Option<Family> {
    match choice {
        GeneratorChoice::Auto => None,
        GeneratorChoice::Stylegan2 => Some(Family::Stylegan2),
        GeneratorChoice::Stylegan3 => Some(Family::Stylegan3),
    }
}

/// The newest imported encoder checkpoint (pSp, e4e or ReStyle) in `dir` whose generator is of
/// the family `choice` asks for.
pub fn find_checkpoint(dir: &Path, choice: GeneratorChoice) -> Result<ImportedModel, LapseError> {
    let models = import::imported(dir).map_err(LapseError::Checkpoint)?;
    let family = family_of(choice);
    models
        .into_iter()
        .rev()
        .filter(|m| family.is_none_or(|f| m.family == f))
        .find(|m| m.kind.has_encoder())
        .ok_or_else(|| {
            let (wanted, hint) = wanted(family);
            LapseError::MissingWeights {
                dir: dir.display().to_string(),
                wanted,
                hint,
            }
        })
}

type FrameKey = (usize, usize, u32);

fn key(spec: &FrameSpec) -> FrameKey {
    (spec.from, spec.to, spec.alpha.to_bits())
}

/// What the generative renderer asks of an inference engine; `inference`'s engine implements
/// it, so this module knows no engine.
pub trait Generative: Send + Sync {
    /// Encodes aligned faces [N, 3, 256, 256] (−1…1) into W+ codes [N, n_latent, style_dim],
    /// with `rounds` of refinement where the encoder iterates (`None`: its default).
    fn encode(&self, images: Tensor, rounds: Option<usize>) -> Result<Tensor, LapseError>;
    /// Generates images [N, 3, H, W] (about −1…1) from W+ codes, stopping when `cancel` is set
    /// ([`LapseError::Cancelled`]).
    fn generate(&self, w_plus: Tensor, cancel: CancelToken) -> Result<Tensor, LapseError>;
    /// How many frames one call should carry to fill the engine's batches.
    fn batch(&self) -> usize;
}

/// Generated frames kept for the encoder, by position in the timeline's distinct frames.
struct Window {
    frames: VecDeque<(usize, RgbImage)>,
    /// Where reading in order continues: the end of the last window generated.
    frontier: usize,
}

/// Frames of one time-lapse, generated on demand by the resident engine.
pub struct LatentRenderer {
    model: Box<dyn Generative>,
    /// Each keyframe's W+ code, flattened (tensors cannot be shared across threads).
    codes: Vec<Vec<f32>>,
    /// [n_latent, style_dim] of a code.
    code_shape: [i64; 2],
    /// The timeline's distinct frames in order: holds and repeats are generated once.
    distinct: Vec<FrameSpec>,
    position: HashMap<FrameKey, usize>,
    size: (u32, u32),
    window: usize,
    /// At most this many generated frames are held.
    capacity: usize,
    cancel: CancelToken,
    held: Mutex<Window>,
}

/// A keyframe's aligned face as the encoder's input.
fn encoder_batch(keyframes: &[Keyframe]) -> Tensor {
    let inputs: Vec<Tensor> = keyframes
        .iter()
        .map(|k| crate::nets::psp::encoder_input(&k.image))
        .collect();
    Tensor::stack(&inputs, 0)
}

/// Raw generator output [3, H, W] (about −1…1) → an RGB image.
fn to_rgb(raw: &Tensor) -> Result<RgbImage, LapseError> {
    crate::nets::rgb_from_tensor(&((raw + 1.0) / 2.0)).map_err(LapseError::Net)
}

/// `img` resized to `size`.
fn fit(img: RgbImage, size: (u32, u32)) -> RgbImage {
    if img.dimensions() == size {
        return img;
    }
    let (w, h) = img.dimensions();
    crate::leaves::resize::crop_resize(&img, (0.0, 0.0, w as f64, h as f64), size.0, size.1)
}

impl LatentRenderer {
    /// Encodes the keyframes with `model`, the engine holding `entry` (an imported checkpoint
    /// of `options.models_dir` found by [`find_checkpoint`]), for the frames `specs` will ask
    /// for; generates nothing yet.
    pub fn new(
        keyframes: &[Keyframe],
        specs: &[FrameSpec],
        options: &LatentOptions,
        entry: &ImportedModel,
        model: Box<dyn Generative>,
        cancel: CancelToken,
    ) -> Result<Self, LapseError> {
        let mut codes = model.encode(encoder_batch(keyframes), options.encoder_rounds)?;
        if options.refine_steps > 0 {
            // Refinement needs gradients, so it runs an fp32 generator of its own.
            let generator = import::open_imported(&options.models_dir, entry)
                .and_then(|c| c.build_generator(options.device, Kind::Float))
                .map_err(LapseError::Checkpoint)?;
            codes = refine::refine(&generator, options, keyframes, &codes)?;
        }
        tracing::info!(
            "encoded {} keyframes with {} ({})",
            keyframes.len(),
            entry.file,
            entry.kind
        );
        let code_shape = match codes.size()[..] {
            [_, n_latent, style_dim] => [n_latent, style_dim],
            ref other => {
                return Err(LapseError::Generative(format!(
                    "the encoder gave codes of shape {other:?}"
                )))
            }
        };
        let codes = (0..keyframes.len() as i64)
            .map(|i| Vec::<f32>::try_from(codes.get(i).flatten(0, -1)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(LapseError::Tensor)?;
        let mut distinct = Vec::new();
        let mut position = HashMap::new();
        for s in specs {
            position.entry(key(s)).or_insert_with(|| {
                distinct.push(*s);
                distinct.len() - 1
            });
        }
        let window = model.batch().clamp(1, MAX_WINDOW);
        Ok(Self {
            codes,
            code_shape,
            distinct,
            position,
            size: keyframes
                .first()
                .map_or((256, 256), |k| k.image.dimensions()),
            window,
            // Room for a window plus what the encoder's threads read at once.
            capacity: window + rayon::current_num_threads() * 4,
            model,
            cancel,
            held: Mutex::new(Window {
                frames: VecDeque::new(),
                frontier: 0,
            }),
        })
    }

    /// Generates the distinct frames `range` in one engine job.
    fn generate(&self, range: std::ops::Range<usize>) -> Result<Vec<RgbImage>, LapseError> {
        let specs = &self.distinct[range];
        let mut w = Vec::with_capacity(specs.len() * self.codes.first().map_or(0, Vec::len));
        for s in specs {
            let (a, b) = match (self.codes.get(s.from), self.codes.get(s.to)) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(LapseError::FrameOutOfRange {
                        index: s.from.max(s.to),
                        len: self.codes.len(),
                    })
                }
            };
            let t = s.alpha;
            w.extend(a.iter().zip(b).map(|(a, b)| a * (1.0 - t) + b * t));
        }
        let [n_latent, style_dim] = self.code_shape;
        let w = Tensor::from_slice(&w).view([specs.len() as i64, n_latent, style_dim]);
        let images = self.model.generate(w, self.cancel.clone())?;
        let raw = (0..specs.len() as i64)
            .map(|i| to_rgb(&images.get(i)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(raw.into_par_iter().map(|img| fit(img, self.size)).collect())
    }
}

impl Renderer for LatentRenderer {
    fn name(&self) -> &'static str {
        "stylegan"
    }

    fn frame(&self, _keyframes: &[Keyframe], spec: FrameSpec) -> Result<RgbImage, LapseError> {
        let pos = *self
            .position
            .get(&key(&spec))
            .ok_or(LapseError::Generative(format!(
                "frame {}→{} at {:.3} is not on the timeline",
                spec.from, spec.to, spec.alpha
            )))?;
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, frame)) = held.frames.iter().find(|(p, _)| *p == pos) {
            return Ok(frame.clone());
        }
        // In order: a window ahead. Elsewhere (a sample): this frame alone.
        let in_order = (held.frontier..held.frontier + self.window).contains(&pos);
        let end = match in_order {
            true => (pos + self.window).min(self.distinct.len()),
            false => pos + 1,
        };
        let frames = self.generate(pos..end)?;
        if in_order {
            held.frontier = end;
        }
        let wanted = frames[0].clone();
        held.frames.extend((pos..end).zip(frames));
        while held.frames.len() > self.capacity {
            held.frames.pop_front();
        }
        Ok(wanted)
    }
}

/// Per-keyframe refinement of the encoder's code (`--refine N`).
mod refine {
    use super::*;
    use crate::nets::generative::Generator;

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
        let device = options.device;
        let (_vs, descriptor) =
            crate::nets::face_descriptor::load(device).map_err(LapseError::Weights)?;
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

//! From ordered keyframes to frames: the timeline, the real-photo blend and the renderers.

pub mod backdrop;
pub mod blend;
pub mod keyframe;
pub mod latent;
pub mod metrics;
pub mod morph;
pub mod pixel;
pub mod timeline;

pub use backdrop::Backdrop;
pub use keyframe::Keyframe;
pub use timeline::{FrameSpec, Spacing, Timeline, TimelineOptions};

use image::RgbImage;

#[derive(Debug, thiserror::Error)]
pub enum LapseError {
    #[error("a time-lapse needs at least two usable photos; {0} found")]
    TooFewKeyframes(usize),
    #[error("keyframes differ in size ({0}×{1} vs {2}×{3})")]
    SizeMismatch(u32, u32, u32, u32),
    #[error("the stylegan renderer is made with the inference engine")]
    NeedsEngine,
    #[error("the stylegan renderer needs an imported {wanted} checkpoint, and {dir} has none: import one with `lifelapse import-weights FILE` ({hint}), or use --renderer morph")]
    MissingWeights {
        dir: String,
        wanted: &'static str,
        hint: &'static str,
    },
    #[error("the stylegan renderer failed: {0}")]
    Generative(String),
    #[error("the stylegan renderer's checkpoint")]
    Checkpoint(#[source] crate::nets::import::ImportError),
    #[error("the stylegan renderer's weights")]
    Weights(#[source] crate::nets::weights::WeightsError),
    #[error("the stylegan renderer's tensors")]
    Tensor(#[source] tch::TchError),
    #[error("the stylegan renderer's output")]
    Net(#[source] crate::nets::NetError),
    #[error("the stylegan renderer's inference engine failed")]
    Inference(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the morph renderer needs face landmarks, and {0} has none")]
    NoLandmarks(String),
    #[error("frame {index} is outside the timeline of {len} frames")]
    FrameOutOfRange { index: usize, len: usize },
    #[error("the render was cancelled")]
    Cancelled,
}

/// Makes the frame between two keyframes. Implementations hold whatever they precompute from
/// the keyframes (triangulations, latent codes) and are shared across threads.
pub trait Renderer: Send + Sync {
    fn name(&self) -> &'static str;
    /// The frame at `spec.alpha` of the way from keyframe `spec.from` to `spec.to`, before the
    /// real photo is blended back in.
    fn frame(&self, keyframes: &[Keyframe], spec: FrameSpec) -> Result<RgbImage, LapseError>;

    /// The frame with keyframe `nearest`'s real photo blended back in with `weight`, the
    /// person laid over `backdrop` when there is one. Renderers that move the face's geometry
    /// override this to blend the photo's texture in at the frame's geometry: mixed in at its
    /// own, the photo would sit beside the moved features as a ghost. This default (for
    /// generated frames) lays the person, where either photo shows it, over the backdrop.
    fn frame_blended(
        &self,
        keyframes: &[Keyframe],
        spec: FrameSpec,
        nearest: usize,
        weight: f32,
        backdrop: Option<&Backdrop>,
    ) -> Result<RgbImage, LapseError> {
        let rendered = self.frame(keyframes, spec)?;
        let real = keyframes.get(nearest).ok_or(LapseError::FrameOutOfRange {
            index: nearest,
            len: keyframes.len(),
        })?;
        let mixed = blend::mix(&rendered, &real.image, weight);
        let (a, b) = keyframe_pair(keyframes, spec)?;
        let (Some(backdrop), Some(ma), Some(mb)) = (backdrop, &a.person, &b.person) else {
            return Ok(mixed);
        };
        let s = texture_share(spec, nearest, weight);
        Ok(backdrop::composite(
            &mixed,
            |i| ma.value(i).max(mb.value(i)),
            |i| backdrop.at(spec.from, spec.to, s, i),
        ))
    }
}

/// `b`'s share of the texture of a frame: its geometry's `alpha`, moved towards keyframe
/// `nearest` by the real photo's `weight`.
pub(crate) fn texture_share(spec: FrameSpec, nearest: usize, weight: f32) -> f32 {
    let weight = weight.clamp(0.0, 1.0);
    let towards_b = if nearest == spec.to { 1.0 } else { 0.0 };
    spec.alpha * (1.0 - weight) + towards_b * weight
}

/// Draws `text` centred at the bottom of the frame, light on a dark band, sized to the frame.
fn caption(frame: &mut RgbImage, text: &str) {
    let (w, h) = frame.dimensions();
    let scale = (h / 96).max(1);
    let (tw, th) = (crate::leaves::font::text_width(text, scale), 7 * scale);
    let band = th + 4 * scale;
    for y in h.saturating_sub(band)..h {
        for x in 0..w {
            let p = frame.get_pixel_mut(x, y);
            p.0 = p.0.map(|v| v / 3);
        }
    }
    let x = w.saturating_sub(tw) / 2;
    crate::leaves::font::draw_text(
        frame,
        text,
        x,
        h.saturating_sub(band) + 2 * scale,
        scale,
        image::Rgb([245, 245, 245]),
    );
}

/// The two keyframes a frame lies between.
pub(crate) fn keyframe_pair(
    keyframes: &[Keyframe],
    spec: FrameSpec,
) -> Result<(&Keyframe, &Keyframe), LapseError> {
    let len = keyframes.len();
    let get = |i: usize| {
        keyframes
            .get(i)
            .ok_or(LapseError::FrameOutOfRange { index: i, len })
    };
    Ok((get(spec.from)?, get(spec.to)?))
}

/// The renderer of `kind` that needs nothing but the keyframes (pixel and morph); the stylegan
/// renderer needs the inference engine and is made by [`latent::LatentRenderer::new`].
pub fn classic_renderer(
    kind: crate::config::RendererKind,
) -> Result<Box<dyn Renderer>, LapseError> {
    use crate::config::RendererKind as K;
    match kind {
        K::Pixel => Ok(Box::new(pixel::PixelRenderer)),
        K::Morph => Ok(Box::new(morph::MorphRenderer)),
        K::Stylegan => Err(LapseError::NeedsEngine),
    }
}

/// A whole time-lapse, ready to be rendered frame by frame in any order.
pub struct Lapse {
    pub keyframes: Vec<Keyframe>,
    pub timeline: Timeline,
    pub renderer: Box<dyn Renderer>,
    /// Strength of the real photo near its keyframe; see [`blend::keyframe_weight`].
    pub gamma: f32,
    /// Caption every frame with the age, counting up between keyframes.
    pub labels: bool,
    /// What shows behind the person; `None` keeps the photos' own backgrounds.
    pub backdrop: Option<Backdrop>,
}

impl Lapse {
    pub fn new(
        keyframes: Vec<Keyframe>,
        options: TimelineOptions,
        renderer: Box<dyn Renderer>,
        gamma: f32,
    ) -> Result<Self, LapseError> {
        Self::with_renderer(keyframes, options, gamma, |_, _| Ok(renderer))
    }

    /// Like [`Lapse::new`], with the renderer made from the keyframes and the timeline (the
    /// generative renderer prepares the codes of the frames the timeline asks for).
    pub fn with_renderer(
        keyframes: Vec<Keyframe>,
        options: TimelineOptions,
        gamma: f32,
        make: impl FnOnce(&[Keyframe], &Timeline) -> Result<Box<dyn Renderer>, LapseError>,
    ) -> Result<Self, LapseError> {
        if keyframes.len() < 2 {
            return Err(LapseError::TooFewKeyframes(keyframes.len()));
        }
        let (w, h) = keyframes[0].image.dimensions();
        for k in &keyframes[1..] {
            let (kw, kh) = k.image.dimensions();
            if (kw, kh) != (w, h) {
                return Err(LapseError::SizeMismatch(w, h, kw, kh));
            }
        }
        let ages: Vec<Option<f64>> = keyframes.iter().map(|k| k.age_years).collect();
        let timeline = Timeline::new(&ages, options);
        let renderer = make(&keyframes, &timeline)?;
        Ok(Self {
            keyframes,
            timeline,
            renderer,
            gamma,
            labels: false,
            backdrop: None,
        })
    }

    pub fn len(&self) -> usize {
        self.timeline.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timeline.frames.is_empty()
    }

    pub fn size(&self) -> (u32, u32) {
        self.keyframes[0].image.dimensions()
    }

    /// Keyframe `index` as the video shows it: its photo, over the backdrop when there is one.
    pub fn shown_keyframe(&self, index: usize) -> Result<RgbImage, LapseError> {
        let keyframe = self
            .keyframes
            .get(index)
            .ok_or(LapseError::FrameOutOfRange {
                index,
                len: self.keyframes.len(),
            })?;
        let Some(backdrop) = &self.backdrop else {
            return Ok(keyframe.image.clone());
        };
        let spec = FrameSpec {
            from: index,
            to: index,
            alpha: 0.0,
        };
        pixel::PixelRenderer.frame_blended(&self.keyframes, spec, index, 1.0, Some(backdrop))
    }

    /// Frame `index`: the renderer's frame with the nearest real photo blended back in.
    pub fn frame(&self, index: usize) -> Result<RgbImage, LapseError> {
        let spec = *self
            .timeline
            .frames
            .get(index)
            .ok_or(LapseError::FrameOutOfRange {
                index,
                len: self.len(),
            })?;
        let nearest = if spec.alpha < 0.5 { spec.from } else { spec.to };
        let weight = blend::keyframe_weight(spec.alpha, self.gamma);
        let mut frame = self.renderer.frame_blended(
            &self.keyframes,
            spec,
            nearest,
            weight,
            self.backdrop.as_ref(),
        )?;
        if self.labels {
            let ages = (
                self.keyframes[spec.from].age_years,
                self.keyframes[spec.to].age_years,
            );
            if let (Some(a), Some(b)) = ages {
                caption(
                    &mut frame,
                    &format!("{:.0}y", a + (b - a) * spec.alpha as f64),
                );
            }
        }
        Ok(frame)
    }
}

/// A lapse is what the video encoders read: each frame rendered when they ask for it.
impl crate::video::FrameSource for Lapse {
    fn len(&self) -> usize {
        Lapse::len(self)
    }
    fn size(&self) -> (u32, u32) {
        Lapse::size(self)
    }
    fn frame(&self, index: usize) -> Result<RgbImage, crate::video::VideoError> {
        Lapse::frame(self, index).map_err(|e| crate::video::VideoError::Frame {
            index,
            source: Box::new(e),
        })
    }
}

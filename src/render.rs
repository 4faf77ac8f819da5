//! The one render path: an analysed album and the user's choices in, a written video (or, for
//! `eval` and the benchmarks, the frames) out, with progress and cancellation throughout. The
//! CLI's `render`, the chat's render jobs, `eval --compare` and `bench` all call [`run`]; they
//! differ only in the settings they pass and where the frames go.

use crate::config::{Background, Config, RendererKind, SpacingKind};
use crate::inference::Resident;
use crate::lapse::{self, Lapse, Spacing, TimelineOptions};
use crate::leaves::cancel::CancelToken;
use crate::select::{ErrorReport, Selected};
use crate::video::{self, gif::GifOptions, FrameSource, VideoError, VideoStats};
use image::RgbImage;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("no usable photos: {0}")]
    NoPhotos(String),
    #[error(transparent)]
    Lapse(#[from] lapse::LapseError),
    #[error(transparent)]
    Video(#[from] VideoError),
    #[error("{0}")]
    Options(String),
    #[error(transparent)]
    Device(crate::nets::NetError),
    #[error("the person segmenter failed")]
    Segmenter(#[source] crate::nets::person_segmenter::SegmenterError),
    #[error("the render was cancelled")]
    Cancelled,
}

/// The container a video is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoFormat {
    Gif,
    Mp4,
}

impl VideoFormat {
    /// The format an output file's extension names.
    pub fn of_path(path: &Path) -> Result<Self, RenderError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("gif") => Ok(Self::Gif),
            Some("mp4") => Ok(Self::Mp4),
            other => Err(RenderError::Options(format!(
                "cannot write {:?} files; use an output name ending in .gif or .mp4",
                other.unwrap_or("extension-less")
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Gif => "gif",
            Self::Mp4 => "mp4",
        }
    }
}

/// Settings of one render, from the config (with the user's overrides applied, see
/// [`crate::config::RenderOverrides`]).
#[derive(Debug, Clone)]
pub struct RenderSettings {
    pub size: u32,
    pub renderer: RendererKind,
    pub background: Background,
    /// The stylegan renderer's checkpoints, device and refinement.
    pub latent: lapse::latent::LatentOptions,
    pub timeline: TimelineOptions,
    pub gamma: f32,
    /// Caption frames with the age.
    pub labels: bool,
    /// Frames per second of the video, GIF or MP4.
    pub fps: f32,
    pub gif: GifOptions,
}

impl RenderSettings {
    pub fn from_config(config: &Config) -> Result<Self, RenderError> {
        let r = &config.render;
        Ok(Self {
            size: r.size,
            renderer: r.renderer,
            background: r.background,
            latent: lapse::latent::LatentOptions {
                models_dir: config.data_dir().join("models"),
                device: match r.renderer {
                    RendererKind::Stylegan => crate::nets::device::select(&config.general.device)
                        .map_err(RenderError::Device)?,
                    _ => tch::Device::Cpu,
                },
                refine_steps: r.refine,
                generator: r.generator,
                encoder_rounds: (r.encoder_iterations > 0).then_some(r.encoder_iterations as usize),
            },
            timeline: TimelineOptions {
                spacing: match r.spacing {
                    SpacingKind::Fixed => Spacing::Fixed {
                        frames_between: r.frames_between,
                    },
                    SpacingKind::Age => Spacing::Age {
                        frames_per_year: r.frames_per_year,
                        min: r.min_between,
                        max: r.max_between,
                        budget: r.max_frames,
                        fallback: r.frames_between,
                    },
                },
                hold_frames: r.hold_frames,
                ease: r.ease,
            },
            gamma: r.gamma,
            labels: r.labels,
            fps: r.fps,
            gif: GifOptions {
                colors: config.gif.colors,
                dither: config.gif.dither,
                loop_count: config.gif.loop_count,
            },
        })
    }
}

/// The process's resident generative networks on the configured device, with the configured
/// batch memory; nothing is loaded until a stylegan render asks.
pub fn resident_engines(config: &Config) -> Result<Resident, RenderError> {
    let device =
        crate::nets::device::select(&config.general.device).map_err(RenderError::Device)?;
    Ok(Resident::new(crate::inference::EngineOptions {
        device,
        memory_budget: config.render.engine_memory_mb.saturating_mul(1 << 20),
        ..Default::default()
    }))
}

/// Where a render's frames go.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// A GIF or MP4 file, written atomically: a failed or cancelled render leaves no half video.
    /// With `max_bytes`, a GIF predicted (from a short trial encode) to be larger is rendered
    /// at the largest side predicted to fit instead.
    File {
        path: &'a Path,
        format: VideoFormat,
        max_bytes: Option<u64>,
    },
    /// Every frame kept in memory, for scoring (`eval`) or timing (`bench`).
    Memory,
}

/// One render: the album read through a selection, the settings, and where the frames go.
pub struct RenderRequest<'a> {
    pub album: Selected<'a>,
    pub settings: &'a RenderSettings,
    pub output: Output<'a>,
}

/// The frames of a render to [`Output::Memory`].
#[derive(Debug, Default)]
pub struct Frames {
    pub frames: Vec<RgbImage>,
    /// Per frame, the keyframes it lies between.
    pub pairs: Vec<(usize, usize)>,
    /// The keyframes' aligned photos as the video shows them (over the backdrop), in
    /// time-lapse order.
    pub keyframes: Vec<RgbImage>,
}

/// What a render made.
#[derive(Debug)]
pub struct Rendered {
    /// The frames, and the file's size (0 for [`Output::Memory`]).
    pub stats: VideoStats,
    /// The video's side: the settings' size, or smaller where a GIF had to fit `max_bytes`.
    pub size: u32,
    /// Photos in the video.
    pub keyframes: usize,
    /// Photos without a usable face, with the reason.
    pub left_out: Vec<ErrorReport>,
    /// The frames themselves, for [`Output::Memory`].
    pub frames: Option<Frames>,
}

/// Frames of a lapse that stop coming once the render is cancelled.
struct Cancellable<'a> {
    inner: &'a Lapse,
    cancel: &'a CancelToken,
}

impl FrameSource for Cancellable<'_> {
    fn len(&self) -> usize {
        FrameSource::len(self.inner)
    }
    fn size(&self) -> (u32, u32) {
        FrameSource::size(self.inner)
    }
    fn frame(&self, index: usize) -> Result<RgbImage, VideoError> {
        if self.cancel.is_cancelled() {
            return Err(VideoError::Cancelled { index });
        }
        FrameSource::frame(self.inner, index)
    }
}

/// Renders the request. `progress` is told (frames done, frames in all) as frames are made;
/// with the stylegan renderer that is also the generation's progress, since frames are
/// generated as they are asked for. `cancel` stops the render at the next frame or generator
/// batch.
pub fn run(
    request: &RenderRequest,
    engines: &Resident,
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: &CancelToken,
) -> Result<Rendered, RenderError> {
    let built = build_lapse(request.album, request.settings, engines, cancel);
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    let (mut lapse, mut left_out) = built?;
    let mut size = request.settings.size;
    if let Output::File {
        format: VideoFormat::Gif,
        max_bytes: Some(limit),
        ..
    } = request.output
    {
        if let Some(fitting) = gif_side_to_fit(&lapse, request.settings, limit, cancel)? {
            size = fitting;
            let smaller = RenderSettings {
                size,
                ..request.settings.clone()
            };
            (lapse, left_out) = build_lapse(request.album, &smaller, engines, cancel)?;
        }
    }
    let source = Cancellable {
        inner: &lapse,
        cancel,
    };
    let total = lapse.len();
    let report = |done: usize| progress(done, total);
    let written = write(&source, request.output, request.settings, &report);
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    let (stats, frames) = written?;
    let keyframes = match frames {
        Some(_) => (0..lapse.keyframes.len())
            .map(|i| lapse.shown_keyframe(i))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    Ok(Rendered {
        stats,
        size,
        keyframes: lapse.keyframes.len(),
        frames: frames.map(|frames| Frames {
            frames,
            pairs: lapse
                .timeline
                .frames
                .iter()
                .map(|f| (f.from, f.to))
                .collect(),
            keyframes,
        }),
        left_out,
    })
}

/// The frames into the output: a file's statistics, or the frames themselves.
fn write(
    source: &Cancellable,
    output: Output,
    settings: &RenderSettings,
    report: &(dyn Fn(usize) + Sync),
) -> Result<(VideoStats, Option<Vec<RgbImage>>), RenderError> {
    let total = FrameSource::len(source);
    match output {
        Output::File {
            path,
            format: VideoFormat::Gif,
            ..
        } => Ok((
            video::gif::write_file(path, source, settings.fps, &settings.gif, report)?,
            None,
        )),
        Output::File {
            path,
            format: VideoFormat::Mp4,
            ..
        } => {
            let options = video::mp4::Mp4Options {
                fps: settings.fps,
                ..Default::default()
            };
            let bytes = video::mp4::write_file(path, source, &options, report)?;
            Ok((
                VideoStats {
                    frames: total,
                    bytes,
                },
                None,
            ))
        }
        Output::Memory => {
            use rayon::prelude::*;
            use std::sync::atomic::{AtomicUsize, Ordering};
            let done = AtomicUsize::new(0);
            let frames = (0..total)
                .into_par_iter()
                .map(|i| {
                    let frame = source.frame(i)?;
                    report(done.fetch_add(1, Ordering::Relaxed) + 1);
                    Ok(frame)
                })
                .collect::<Result<Vec<_>, VideoError>>()?;
            Ok((
                VideoStats {
                    frames: total,
                    bytes: 0,
                },
                Some(frames),
            ))
        }
    }
}

/// The side at which the GIF of `lapse` is predicted to fit `limit` bytes, from a short trial
/// encode; `None` when it fits as it is.
fn gif_side_to_fit(
    lapse: &Lapse,
    settings: &RenderSettings,
    limit: u64,
    cancel: &CancelToken,
) -> Result<Option<u32>, RenderError> {
    let trial = Cancellable {
        inner: lapse,
        cancel,
    };
    let predicted = video::gif::predict_size(&trial, settings.fps, &settings.gif);
    if cancel.is_cancelled() {
        return Err(RenderError::Cancelled);
    }
    let predicted = predicted?;
    if predicted <= limit {
        return Ok(None);
    }
    let side =
        fitting_side(settings.size, predicted, limit).max(MIN_FITTING_SIDE.min(settings.size));
    tracing::info!(
        predicted,
        limit,
        side,
        "GIF predicted over the limit; rendering it smaller"
    );
    Ok(Some(side))
}

/// The smallest side a video is shrunk to, to fit an upload limit.
pub const MIN_FITTING_SIDE: u32 = 128;

/// The side (a multiple of 16, smaller than `side`) at which a video of `bytes` at `side` is
/// expected to take at most `limit` bytes: a video's bytes grow with its pixel count, and a
/// tenth of the limit is kept for the prediction's error.
pub fn fitting_side(side: u32, bytes: u64, limit: u64) -> u32 {
    let scale = (0.9 * limit as f64 / bytes.max(1) as f64).sqrt().min(1.0);
    let side_fit = (side as f64 * scale) as u32 / 16 * 16;
    side_fit.min(side.saturating_sub(16) / 16 * 16)
}

/// Builds the time-lapse of an album (without rendering any frame yet). Photos without a usable
/// face are returned with the reason. The stylegan renderer encodes the keyframes with
/// `engines`' resident networks; `cancel` stops its generation at the next batch.
fn build_lapse(
    album: Selected,
    settings: &RenderSettings,
    engines: &Resident,
    cancel: &CancelToken,
) -> Result<(Lapse, Vec<ErrorReport>), RenderError> {
    let photos = album.album;
    if photos.photos.is_empty() {
        let why = match photos.rejected.len() + photos.duplicates.len() {
            0 => "no photos were given".to_string(),
            n => format!("all {n} inputs were rejected or duplicates"),
        };
        return Err(RenderError::NoPhotos(why));
    }
    // Say what is missing before any face is aligned.
    let checkpoint = match settings.renderer {
        RendererKind::Stylegan => Some(lapse::latent::find_checkpoint(
            &settings.latent.models_dir,
            settings.latent.generator,
        )?),
        _ => None,
    };
    let (mut keyframes, left_out) = album.keyframes(settings.size);
    if settings.background != Background::Keep {
        let images: Vec<&RgbImage> = keyframes.iter().map(|k| &k.image).collect();
        let masks = engines
            .person_masks(&images)
            .map_err(RenderError::Segmenter)?;
        for (k, mask) in keyframes.iter_mut().zip(masks) {
            k.person = Some(mask);
        }
    }
    let lapse = Lapse::with_renderer(
        keyframes,
        settings.timeline,
        settings.gamma,
        |keyframes, timeline| match &checkpoint {
            Some(entry) => Ok(Box::new(lapse::latent::LatentRenderer::new(
                keyframes,
                &timeline.frames,
                &settings.latent,
                entry,
                Box::new(
                    engines
                        .engine(&settings.latent.models_dir, entry)
                        .map_err(lapse::LapseError::from)?,
                ),
                cancel.clone(),
            )?)),
            None => lapse::classic_renderer(settings.renderer),
        },
    )?;
    Ok((
        Lapse {
            labels: settings.labels,
            backdrop: lapse::backdrop::Backdrop::new(settings.background, &lapse.keyframes),
            ..lapse
        },
        left_out,
    ))
}

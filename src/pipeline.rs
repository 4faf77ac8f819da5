//! The steps from photo files to a video, as plain functions the CLI, the bots and the
//! benchmarks share.

use crate::album::{self, Album, Duplicate, IntakeOptions, Rejected};
use crate::config::Config;
use crate::lapse::{keyframe, Keyframe, Lapse, TimelineOptions};
use crate::video::{self, gif::GifOptions};
use chrono::NaiveDate;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("no usable photos: {0}")]
    NoPhotos(String),
    #[error(transparent)]
    Lapse(#[from] crate::lapse::LapseError),
    #[error(transparent)]
    Video(#[from] video::VideoError),
    #[error("{0}")]
    Options(String),
}

/// What `analyze` says about each photo.
#[derive(Debug, Serialize)]
pub struct PhotoReport {
    pub photo: String,
    pub format: album::PhotoFormat,
    pub width: u32,
    pub height: u32,
    pub hash: String,
    /// EXIF capture date, when present and plausible.
    pub capture_date: Option<String>,
    /// Age in years at capture (needs `--born` and a capture date).
    pub age: Option<f64>,
    pub age_source: Option<&'static str>,
    /// Why a capture date in the file was ignored.
    pub date_note: Option<String>,
}

/// The whole `analyze` result; every input appears exactly once across the three lists.
#[derive(Debug, Serialize)]
pub struct AnalyzeReport {
    pub photos: Vec<PhotoReport>,
    pub duplicates: Vec<Duplicate>,
    pub errors: Vec<ErrorReport>,
}

#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub photo: String,
    pub error: String,
}

impl From<&Rejected> for ErrorReport {
    fn from(r: &Rejected) -> Self {
        Self {
            photo: r.source.clone(),
            error: r.error.to_string(),
        }
    }
}

/// Expands the inputs and takes them in as one album.
pub fn intake_paths(
    inputs: &[PathBuf],
    config: &Config,
    progress: &(dyn Fn() + Sync),
    total: &dyn Fn(usize),
) -> Album {
    let (files, missing) = album::expand_paths(inputs);
    total(files.len());
    let mut album = album::intake(&files, &IntakeOptions::from_config(&config.album), progress);
    album.rejected.splice(0..0, missing);
    album
}

/// Reports the album in time-lapse order.
pub fn analyze(album: &Album, born: Option<NaiveDate>) -> AnalyzeReport {
    let mut ordered: Vec<&album::Photo> = album.photos.iter().collect();
    ordered.sort_by(|a, b| {
        keyframe::timeline_order((a.capture_date, &a.source), (b.capture_date, &b.source))
    });
    let photos = ordered
        .into_iter()
        .map(|p| {
            let age = born
                .zip(p.capture_date)
                .and_then(|(b, d)| keyframe::age_at(b, d.date()));
            PhotoReport {
                photo: p.source.clone(),
                format: p.format,
                width: p.width,
                height: p.height,
                hash: p.hash.clone(),
                capture_date: p.capture_date.map(|d| d.to_string()),
                age: age.map(|a| (a * 10.0).round() / 10.0),
                age_source: age.map(|_| "exif"),
                date_note: p.date_note.clone(),
            }
        })
        .collect();
    AnalyzeReport {
        photos,
        duplicates: album.duplicates.clone(),
        errors: album.rejected.iter().map(ErrorReport::from).collect(),
    }
}

/// The album's photos as square keyframes of side `size`, in time-lapse order.
pub fn keyframes(album: &Album, size: u32, born: Option<NaiveDate>) -> Vec<Keyframe> {
    use rayon::prelude::*;
    let mut frames: Vec<Keyframe> = album
        .photos
        .par_iter()
        .map(|p| Keyframe::from_photo(p, size, born))
        .collect();
    keyframe::order(&mut frames);
    frames
}

/// Settings of one render, from the config with command-line overrides applied.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    pub size: u32,
    pub renderer: String,
    pub timeline: TimelineOptions,
    pub gamma: f32,
    pub gif: GifOptions,
}

impl RenderSettings {
    pub fn from_config(config: &Config) -> Result<Self, PipelineError> {
        Ok(Self {
            size: config.render.size,
            renderer: config.render.renderer.clone(),
            timeline: TimelineOptions {
                frames_between: config.render.frames_between,
                hold_frames: config.render.hold_frames,
            },
            gamma: config.render.gamma,
            gif: GifOptions {
                fps: config.render.fps,
                colors: config.gif.colors,
                dither: config.gif.dither.parse().map_err(PipelineError::Options)?,
                loop_count: config.gif.loop_count,
            },
        })
    }
}

/// Builds the time-lapse of an album (without rendering any frame yet).
pub fn build_lapse(
    album: &Album,
    settings: &RenderSettings,
    born: Option<NaiveDate>,
) -> Result<Lapse, PipelineError> {
    if album.photos.is_empty() {
        let why = match album.rejected.len() + album.duplicates.len() {
            0 => "no photos were given".to_string(),
            n => format!("all {n} inputs were rejected or duplicates"),
        };
        return Err(PipelineError::NoPhotos(why));
    }
    let renderer = crate::lapse::renderer_by_name(&settings.renderer)?;
    let keyframes = keyframes(album, settings.size, born);
    Ok(Lapse::new(
        keyframes,
        settings.timeline,
        renderer,
        settings.gamma,
    )?)
}

/// Renders and writes the video; the format follows the extension (GIF for now).
pub fn write_video(
    path: &Path,
    lapse: &Lapse,
    settings: &RenderSettings,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<video::gif::GifStats, PipelineError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("gif") => Ok(video::gif::write_file(
            path,
            lapse,
            &settings.gif,
            progress,
        )?),
        other => Err(PipelineError::Options(format!(
            "cannot write {:?} files; use an output name ending in .gif",
            other.unwrap_or("extension-less")
        ))),
    }
}

//! The steps from photo files to a video, as plain functions the CLI, the bots and the
//! benchmarks share.

use crate::album::{self, Album, Duplicate, IntakeOptions, Rejected};
use crate::config::{Config, RendererKind};
use crate::face::{self, quality::Quality, Face, FaceAnalyzer, IdentityOptions, Verdict};
use crate::lapse::{keyframe, Keyframe, Lapse, Spacing, TimelineOptions};
use crate::sheet;
use crate::video::{self, gif::GifOptions};
use chrono::NaiveDate;
use serde::Serialize;
use std::path::PathBuf;

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
    #[error("the render was cancelled")]
    Cancelled,
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
    pub age_source: Option<AgeSource>,
    /// Why a capture date in the file was ignored.
    pub date_note: Option<String>,
    /// Faces found in the photo.
    pub faces: usize,
}

/// One face found in a photo.
#[derive(Debug, Serialize)]
pub struct FaceReport {
    pub photo: String,
    /// x, y, width, height in pixels of the photo's working copy.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    pub score: f32,
    pub landmarks: Vec<[f32; 2]>,
    pub age: Option<f64>,
    pub age_source: Option<AgeSource>,
    /// Distance of its identity descriptor from the album's person (median of all faces).
    pub distance: Option<f32>,
    /// Not the album's person: a suspected intruder (too far from the album's person), or
    /// someone else in a group photo; `reason` says which.
    pub flagged: bool,
    /// 0–1: sharp, frontal, eyes open, large enough.
    pub quality: Option<f32>,
    /// Whether the face is a keyframe of the time-lapse.
    pub used: bool,
    /// Why it is not used.
    pub reason: Option<String>,
}

/// The whole `analyze` result; every input appears exactly once across photos, duplicates and
/// errors, and every face found in a photo is listed, used or not.
#[derive(Debug, Serialize)]
pub struct AnalyzeReport {
    pub faces: Vec<FaceReport>,
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

/// Finds the faces in every photo of the album, in album order.
pub fn find_faces(album: &Album, analyzer: &FaceAnalyzer, progress: &dyn Fn()) -> Vec<Vec<Face>> {
    album
        .photos
        .iter()
        .map(|p| {
            let faces = analyzer.analyze(&p.image);
            progress();
            faces
        })
        .collect()
}

/// What the album makes of one face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceDecision {
    pub verdict: Verdict,
    /// Overall quality score (see [`Quality::score`]), when the face could be described.
    pub quality: Option<f32>,
    /// Whether the face becomes a keyframe.
    pub used: bool,
    /// Why it does not (a sentence for the user).
    pub reason: Option<String>,
}

impl FaceDecision {
    /// Not the album's person: a suspected intruder, or someone else in a group photo.
    pub fn flagged(&self) -> bool {
        matches!(
            self.verdict,
            Verdict::Flagged { .. } | Verdict::OtherPerson { .. }
        )
    }

    /// The photo's candidate for the album's person, but too far from it.
    pub fn suspected_intruder(&self) -> bool {
        matches!(self.verdict, Verdict::Flagged { .. })
    }
}

/// Periods an album can be thinned to, keeping the best face of each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
}

impl std::str::FromStr for Period {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            "year" => Ok(Self::Year),
            other => Err(format!("{other:?} is not day, week, month or year")),
        }
    }
}

impl Period {
    fn key(self, date: NaiveDate) -> (i32, u32, u32) {
        use chrono::Datelike;
        match self {
            Period::Day => (date.year(), date.month(), date.day()),
            Period::Week => (date.iso_week().year(), date.iso_week().week(), 0),
            Period::Month => (date.year(), date.month(), 0),
            Period::Year => (date.year(), 0, 0),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
            Period::Year => "year",
        }
    }
}

/// How faces are chosen.
#[derive(Debug, Clone, Copy)]
pub struct DecideOptions {
    pub identity: IdentityOptions,
    /// Use flagged faces too (the user vouched for them).
    pub keep_all: bool,
    /// Faces scoring lower are left out as low quality.
    pub min_quality: f32,
    /// Keep only the best face of each period (photos with a capture date).
    pub per: Option<Period>,
}

impl DecideOptions {
    pub fn from_config(config: &Config) -> Self {
        Self {
            identity: identity_options(config),
            keep_all: false,
            min_quality: config.faces.min_quality,
            per: None,
        }
    }
}

/// The quality of a face of `photo`, when it could be described.
pub fn face_quality(photo: &album::Photo, face: &Face) -> Option<Quality> {
    let sharpness = face.sharpness?;
    let (frontal, eyes_open) = face::quality::pose_and_eyes(&face.landmarks);
    let scale = photo.width as f32 / photo.image.width().max(1) as f32;
    Some(Quality {
        sharpness,
        frontal,
        eyes_open,
        size: face::quality::size_score(face.bbox.w.min(face.bbox.h) * scale),
    })
}

fn low_quality_reason(q: &Quality, min: f32) -> String {
    let parts = [
        (q.sharpness, "blurred"),
        (q.frontal, "turned away"),
        (q.eyes_open, "eyes closed"),
        (q.size, "small"),
    ];
    let worst = parts
        .iter()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map_or("", |p| p.1);
    format!(
        "low quality: {:.2} (at least {min:.2}), mostly {worst}",
        q.score()
    )
}

/// Decides which face of each photo is the album's person, which are flagged, which are used,
/// and why each unused one is not. Every face gets exactly one decision.
pub fn decide(
    album: &Album,
    faces: &[Vec<Face>],
    options: DecideOptions,
) -> Vec<Vec<FaceDecision>> {
    let descriptors: Vec<Vec<Option<face::Descriptor>>> = faces
        .iter()
        .map(|fs| fs.iter().map(|f| f.descriptor).collect())
        .collect();
    let mut decisions: Vec<Vec<FaceDecision>> =
        face::identity::judge(&descriptors, options.identity)
            .into_iter()
            .zip(faces)
            .zip(&album.photos)
            .map(|((verdicts, fs), photo)| {
                verdicts
                    .into_iter()
                    .zip(fs)
                    .map(|(verdict, f)| {
                        let quality = face_quality(photo, f);
                        let reason = match verdict {
                            Verdict::Flagged { distance } if !options.keep_all => Some(format!(
                        "suspected intruder: {distance:.2} from the album's person (limit {:.2})",
                        options.identity.threshold
                    )),
                            Verdict::OtherPerson { .. } => {
                                Some("someone else in the same photo".to_string())
                            }
                            Verdict::NoDescriptor => Some(format!(
                                "too small to align ({:.0} px, at least {:.0} needed)",
                                f.bbox.w.min(f.bbox.h),
                                face::MIN_ALIGN_PX
                            )),
                            _ => quality
                                .filter(|q| q.score() < options.min_quality)
                                .map(|q| low_quality_reason(&q, options.min_quality)),
                        };
                        FaceDecision {
                            used: reason.is_none(),
                            quality: quality.map(|q| q.score()),
                            verdict,
                            reason,
                        }
                    })
                    .collect()
            })
            .collect();
    if let Some(period) = options.per {
        thin(album, &mut decisions, period);
    }
    decisions
}

/// Keeps the best-quality used face of each period; the others are marked as thinned.
fn thin(album: &Album, decisions: &mut [Vec<FaceDecision>], period: Period) {
    let mut best: std::collections::HashMap<(i32, u32, u32), (usize, f32)> = Default::default();
    for (i, photo) in album.photos.iter().enumerate() {
        let Some(date) = photo.capture_date else {
            continue;
        };
        let Some(q) = decisions[i]
            .iter()
            .find(|d| d.used)
            .map(|d| d.quality.unwrap_or(0.0))
        else {
            continue;
        };
        let slot = best.entry(period.key(date.date())).or_insert((i, q));
        if q > slot.1 {
            *slot = (i, q);
        }
    }
    for (i, photo) in album.photos.iter().enumerate() {
        let Some(date) = photo.capture_date else {
            continue;
        };
        let Some(&(keep, _)) = best.get(&period.key(date.date())) else {
            continue;
        };
        if keep == i {
            continue;
        }
        for d in decisions[i].iter_mut().filter(|d| d.used) {
            d.used = false;
            d.reason = Some(format!(
                "thinned: {} is the best photo of the same {}",
                album.photos[keep].source,
                period.name()
            ));
        }
    }
}

/// What the user told us about ages: a birth date, and ages fixed by hand.
#[derive(Debug, Clone, Default)]
pub struct AgeFacts {
    pub born: Option<NaiveDate>,
    /// (photo name or path suffix, age in years); the last match wins.
    pub fixed: Vec<(String, f64)>,
}

impl AgeFacts {
    fn fixed_for(&self, source: &str) -> Option<f64> {
        self.fixed
            .iter()
            .rev()
            .find(|(name, _)| source == name || source.ends_with(&format!("/{name}")))
            .map(|&(_, age)| age)
    }
}

/// Where an age came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgeSource {
    /// Capture date minus birth date.
    Exif,
    /// The age network's estimate.
    Model,
    /// Set by the user.
    User,
}

/// A face's age, for the album's person: set by the user, else capture date minus birth date
/// when both are known; else (and for strangers, whom a birth date says nothing about) the
/// network's estimate. One decimal.
fn face_age(
    photo: &album::Photo,
    face: &Face,
    decision: &FaceDecision,
    ages: &AgeFacts,
) -> Option<(f64, AgeSource)> {
    let by_user = ages
        .fixed_for(&photo.source)
        .filter(|_| decision.used)
        .map(|a| (a, AgeSource::User));
    let from_dates = ages
        .born
        .zip(photo.capture_date)
        .filter(|_| decision.used)
        .and_then(|(b, d)| keyframe::age_at(b, d.date()))
        .map(|a| (a, AgeSource::Exif));
    by_user
        .or(from_dates)
        .or_else(|| face.estimated_age.map(|a| (a as f64, AgeSource::Model)))
        .map(|(a, s)| ((a * 10.0).round() / 10.0, s))
}

/// An age in years and where it came from.
type Age = (f64, AgeSource);
/// A photo's used face and its age, when it has one.
type UsedFace<'a> = Option<(&'a Face, Option<Age>)>;

/// Each photo's used face and its age, if it has one.
fn used_faces<'a>(
    album: &'a Album,
    faces: &'a [Vec<Face>],
    decisions: &'a [Vec<FaceDecision>],
    ages: &AgeFacts,
) -> Vec<UsedFace<'a>> {
    album
        .photos
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let found = faces.get(i).map(Vec::as_slice).unwrap_or_default();
            let decided = decisions.get(i).map(Vec::as_slice).unwrap_or_default();
            found
                .iter()
                .zip(decided)
                .find(|(_, d)| d.used)
                .map(|(f, d)| (f, face_age(p, f, d, ages)))
        })
        .collect()
}

/// Photo indices in time-lapse order: by the age of the photo's face, ties by capture date,
/// then by name; photos without a used face last.
fn album_order(album: &Album, used: &[UsedFace]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..album.photos.len()).collect();
    let age = |i: usize| used[i].and_then(|(_, a)| a).map(|(a, _)| a);
    order.sort_by(|&a, &b| {
        let by_age = match (age(a), age(b)) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        };
        let (pa, pb) = (&album.photos[a], &album.photos[b]);
        by_age.then_with(|| {
            keyframe::timeline_order((pa.capture_date, &pa.source), (pb.capture_date, &pb.source))
        })
    });
    order
}

/// Reports the album in time-lapse order. `faces` holds each photo's faces (see [`find_faces`])
/// and `decisions` what became of them (see [`decide`]).
pub fn analyze(
    album: &Album,
    faces: &[Vec<Face>],
    decisions: &[Vec<FaceDecision>],
    ages: &AgeFacts,
) -> AnalyzeReport {
    let used = used_faces(album, faces, decisions, ages);
    let mut face_reports = Vec::new();
    let mut photos = Vec::new();
    for i in album_order(album, &used) {
        let p = &album.photos[i];
        let age = used[i].and_then(|(_, a)| a);
        let found = faces.get(i).map(Vec::as_slice).unwrap_or_default();
        let decided = decisions.get(i).map(Vec::as_slice).unwrap_or_default();
        for (f, d) in found.iter().zip(decided) {
            let age = face_age(p, f, d, ages);
            face_reports.push(FaceReport {
                photo: p.source.clone(),
                bbox: [f.bbox.x, f.bbox.y, f.bbox.w, f.bbox.h],
                score: f.bbox.score,
                landmarks: f.landmarks.to_vec(),
                age: age.map(|a| a.0),
                age_source: age.map(|a| a.1),
                distance: d.verdict.distance().map(|x| (x * 1000.0).round() / 1000.0),
                flagged: d.flagged(),
                quality: d.quality.map(|q| (q * 100.0).round() / 100.0),
                used: d.used,
                reason: d.reason.clone(),
            });
        }
        photos.push(PhotoReport {
            photo: p.source.clone(),
            format: p.format,
            width: p.width,
            height: p.height,
            hash: p.hash.clone(),
            capture_date: p.capture_date.map(|d| d.to_string()),
            age: age.map(|a| a.0),
            age_source: age.map(|a| a.1),
            date_note: p.date_note.clone(),
            faces: found.len(),
        });
    }
    AnalyzeReport {
        faces: face_reports,
        photos,
        duplicates: album.duplicates.clone(),
        errors: album.rejected.iter().map(ErrorReport::from).collect(),
    }
}

/// A face the chat review shows: a candidate for the album's person (used, a suspected
/// intruder, or left out for quality), in time-lapse order. Other people in group photos and
/// faces too small to align are not candidates.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewFace {
    /// Index into the album's photos and into that photo's faces.
    pub photo: usize,
    pub face: usize,
    pub age: Option<f64>,
    pub used: bool,
    pub suspected_intruder: bool,
}

/// The album's candidate faces in time-lapse order (see [`ReviewFace`]).
pub fn review_faces(
    album: &Album,
    faces: &[Vec<Face>],
    decisions: &[Vec<FaceDecision>],
    ages: &AgeFacts,
) -> Vec<ReviewFace> {
    let used = used_faces(album, faces, decisions, ages);
    let mut out = Vec::new();
    for i in album_order(album, &used) {
        let found = faces.get(i).map(Vec::as_slice).unwrap_or_default();
        let decided = decisions.get(i).map(Vec::as_slice).unwrap_or_default();
        for (j, (f, d)) in found.iter().zip(decided).enumerate() {
            if matches!(
                d.verdict,
                Verdict::OtherPerson { .. } | Verdict::NoDescriptor
            ) {
                continue;
            }
            out.push(ReviewFace {
                photo: i,
                face: j,
                age: face_age(&album.photos[i], f, d, ages).map(|a| a.0),
                used: d.used,
                suspected_intruder: d.suspected_intruder(),
            });
        }
    }
    out
}

/// Every face of the album aligned to `size`², in the order `analyze` lists them, as contact
/// sheet tiles numbered from 1 with their age (`?` for suspected intruders).
pub fn sheet_tiles(
    album: &Album,
    faces: &[Vec<Face>],
    decisions: &[Vec<FaceDecision>],
    ages: &AgeFacts,
    size: u32,
) -> Vec<sheet::Tile> {
    use rayon::prelude::*;
    let used = used_faces(album, faces, decisions, ages);
    let mut jobs = Vec::new();
    for i in album_order(album, &used) {
        let found = faces.get(i).map(Vec::as_slice).unwrap_or_default();
        let decided = decisions.get(i).map(Vec::as_slice).unwrap_or_default();
        for (f, d) in found.iter().zip(decided) {
            jobs.push((i, f, d));
        }
    }
    jobs.par_iter()
        .enumerate()
        .map(|(n, &(i, f, d))| {
            let p = &album.photos[i];
            let age = face_age(p, f, d, ages).map_or(String::new(), |(a, _)| format!(" {a:.0}y"));
            let (mark, caption) = if d.suspected_intruder() && !d.used {
                (sheet::Mark::Flagged, format!("#{} ?", n + 1))
            } else if d.used {
                (sheet::Mark::Used, format!("#{}{age}", n + 1))
            } else {
                (sheet::Mark::Unused, format!("#{}{age}", n + 1))
            };
            sheet::Tile {
                face: face::align::align(&p.image, f.quad, size),
                caption,
                mark,
            }
        })
        .collect()
}

/// The album's chosen faces, aligned FFHQ-style to `size`², in time-lapse order, and the
/// photos left out with the reason.
pub fn keyframes(
    album: &Album,
    faces: &[Vec<Face>],
    decisions: &[Vec<FaceDecision>],
    size: u32,
    ages: &AgeFacts,
) -> (Vec<Keyframe>, Vec<ErrorReport>) {
    use rayon::prelude::*;
    let used = used_faces(album, faces, decisions, ages);
    let mut left_out = Vec::new();
    let mut picks = Vec::new();
    for i in album_order(album, &used) {
        let found = faces.get(i).map(Vec::as_slice).unwrap_or_default();
        let decided = decisions.get(i).map(Vec::as_slice).unwrap_or_default();
        match used[i] {
            Some((f, age)) => picks.push((i, f, age.map(|a| a.0))),
            None => left_out.push(ErrorReport {
                photo: album.photos[i].source.clone(),
                error: match decided
                    .iter()
                    .find_map(|d| d.suspected_intruder().then_some(d.reason.clone()).flatten())
                {
                    Some(reason) => format!("{reason} (--keep-all uses it anyway)"),
                    None if found.is_empty() => "no face found".to_string(),
                    None => "no usable face (too small to align)".to_string(),
                },
            }),
        }
    }
    let frames = picks
        .par_iter()
        .map(|&(i, f, age_years)| {
            let p = &album.photos[i];
            Keyframe {
                source: p.source.clone(),
                image: face::align::align(&p.image, f.quad, size),
                capture_date: p.capture_date,
                age_years,
                landmarks: Some(
                    f.landmarks
                        .iter()
                        .map(|&q| face::align::to_aligned(f.quad, size, q))
                        .collect(),
                ),
            }
        })
        .collect();
    (frames, left_out)
}

/// Identity settings from the config.
pub fn identity_options(config: &Config) -> IdentityOptions {
    IdentityOptions {
        threshold: config.faces.flag_distance,
        min_faces: config.faces.min_faces_to_flag,
    }
}

/// Settings of one render, from the config with command-line overrides applied.
#[derive(Debug, Clone)]
pub struct RenderSettings {
    pub size: u32,
    pub renderer: RendererKind,
    /// The stylegan renderer's checkpoints, device and refinement.
    pub latent: crate::lapse::latent::LatentOptions,
    pub timeline: TimelineOptions,
    pub gamma: f32,
    /// Caption frames with the age.
    pub labels: bool,
    pub gif: GifOptions,
}

impl RenderSettings {
    pub fn from_config(config: &Config) -> Result<Self, PipelineError> {
        Ok(Self {
            size: config.render.size,
            renderer: config.render.renderer,
            latent: crate::lapse::latent::LatentOptions {
                models_dir: config.data_dir().join("models"),
                device: match config.render.renderer {
                    RendererKind::Stylegan => crate::nets::device::select(&config.general.device)
                        .map_err(|e| PipelineError::Options(e.to_string()))?,
                    _ => tch::Device::Cpu,
                },
                refine_steps: config.render.refine,
            },
            timeline: TimelineOptions {
                spacing: match config.render.spacing.as_str() {
                    "fixed" => Spacing::Fixed {
                        frames_between: config.render.frames_between,
                    },
                    "age" => Spacing::Age {
                        frames_per_year: config.render.frames_per_year,
                        min: config.render.min_between,
                        max: config.render.max_between,
                        budget: config.render.max_frames,
                        fallback: config.render.frames_between,
                    },
                    other => {
                        return Err(PipelineError::Options(format!(
                            "render.spacing {other:?} is not \"age\" or \"fixed\""
                        )))
                    }
                },
                hold_frames: config.render.hold_frames,
                ease: config.render.ease,
            },
            gamma: config.render.gamma,
            labels: config.render.labels,
            gif: GifOptions {
                fps: config.render.fps,
                colors: config.gif.colors,
                dither: config.gif.dither.parse().map_err(PipelineError::Options)?,
                loop_count: config.gif.loop_count,
            },
        })
    }
}

/// The process's resident generative networks on the configured device, with the configured
/// batch memory; nothing is loaded until a stylegan render asks.
pub fn resident_engines(config: &Config) -> Result<crate::engine::Resident, PipelineError> {
    let device = crate::nets::device::select(&config.general.device)
        .map_err(|e| PipelineError::Options(e.to_string()))?;
    Ok(crate::engine::Resident::new(crate::engine::EngineOptions {
        device,
        memory_budget: config.render.engine_memory_mb.saturating_mul(1 << 20),
        ..Default::default()
    }))
}

/// Builds the time-lapse of an album (without rendering any frame yet). Photos without a usable
/// face are returned with the reason. The stylegan renderer encodes the keyframes with
/// `engines`' resident networks; `cancel` stops its generation at the next batch.
pub fn build_lapse(
    album: &Album,
    faces: &[Vec<Face>],
    decisions: &[Vec<FaceDecision>],
    settings: &RenderSettings,
    ages: &AgeFacts,
    engines: &crate::engine::Resident,
    cancel: &crate::engine::CancelToken,
) -> Result<(Lapse, Vec<ErrorReport>), PipelineError> {
    if album.photos.is_empty() {
        let why = match album.rejected.len() + album.duplicates.len() {
            0 => "no photos were given".to_string(),
            n => format!("all {n} inputs were rejected or duplicates"),
        };
        return Err(PipelineError::NoPhotos(why));
    }
    // Say what is missing before any face is aligned.
    let checkpoint = match settings.renderer {
        RendererKind::Stylegan => Some(crate::lapse::latent::find_checkpoint(
            &settings.latent.models_dir,
        )?),
        _ => None,
    };
    let (keyframes, left_out) = keyframes(album, faces, decisions, settings.size, ages);
    let lapse = Lapse::with_renderer(
        keyframes,
        settings.timeline,
        settings.gamma,
        |keyframes, timeline| match &checkpoint {
            Some(entry) => Ok(Box::new(crate::lapse::latent::LatentRenderer::new(
                keyframes,
                &timeline.frames,
                &settings.latent,
                entry,
                engines,
                cancel.clone(),
            )?)),
            None => crate::lapse::classic_renderer(settings.renderer),
        },
    )?;
    Ok((
        Lapse {
            labels: settings.labels,
            ..lapse
        },
        left_out,
    ))
}

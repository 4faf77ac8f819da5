//! The selection stage: which face of each photo is the album's person, which are flagged and
//! why, each face's age and where it came from, and the time-lapse order. One
//! [`AnalyzedAlbum`] holds an album, its faces and the selection made from them; the CLI, the
//! chat's review and the render all read it through [`Selected`].

mod ages;

use crate::album::{self, Album, Duplicate, Rejected};
use crate::config::Config;
use crate::face::{self, quality::Quality, Face, IdentityOptions, Verdict};
use crate::lapse::{keyframe, Keyframe};
use crate::sheet;
use ages::{AgeCalibration, AgeEvidence};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::Serialize;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Period {
    Day,
    Week,
    Month,
    Year,
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
            identity: IdentityOptions {
                threshold: config.faces.flag_distance,
                min_faces: config.faces.min_faces_to_flag,
                ..IdentityOptions::default()
            },
            keep_all: false,
            min_quality: config.faces.min_quality,
            per: None,
        }
    }
}

/// What the user told us about ages: a birth date, and ages fixed by hand (or given by the
/// photos' sources).
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
    /// Capture date minus the birth date the album's dated photos imply (none was given).
    Dates,
    /// The age network's estimate.
    Model,
    /// The age network's estimate, corrected by the ages the album knows (see
    /// [`ages::AgeCalibration`]).
    Calibrated,
    /// Set by the user.
    User,
}

/// Who is in and at what age: every face's decision (by photo, then face) and the age facts.
/// The album's own selection, or one the user changed in the chat's review.
#[derive(Debug, Clone)]
pub struct Selection {
    pub decisions: Vec<Vec<FaceDecision>>,
    pub ages: AgeFacts,
}

/// An album, the faces found in each of its photos (album order), and the selection the album
/// makes of them.
pub struct AnalyzedAlbum {
    pub album: Album,
    pub faces: Vec<Vec<Face>>,
    pub selection: Selection,
}

impl AnalyzedAlbum {
    /// Decides which face of each photo is the album's person, which are flagged, which are
    /// used, and why each unused one is not. Every face gets exactly one decision.
    pub fn judge(
        album: Album,
        faces: Vec<Vec<Face>>,
        options: DecideOptions,
        ages: AgeFacts,
    ) -> Self {
        let decisions = decide(&album, &faces, options);
        Self {
            album,
            faces,
            selection: Selection { decisions, ages },
        }
    }

    /// The album read through its own selection.
    pub fn selected(&self) -> Selected<'_> {
        self.with(&self.selection)
    }

    /// The album read through another selection (the user's, from the review).
    pub fn with<'a>(&'a self, selection: &'a Selection) -> Selected<'a> {
        let evidence: Vec<AgeEvidence> = self
            .album
            .photos
            .iter()
            .zip(&self.faces)
            .zip(&selection.decisions)
            .flat_map(|((photo, faces), decisions)| {
                faces
                    .iter()
                    .zip(decisions)
                    .filter(|(_, d)| d.used)
                    .map(move |(face, _)| AgeEvidence {
                        estimate: face.estimated_age.map(f64::from),
                        taken: photo.capture_date.map(|d| d.date()),
                        fixed: selection.ages.fixed_for(&photo.source),
                    })
            })
            .collect();
        Selected {
            album: &self.album,
            faces: &self.faces,
            selection,
            calibration: AgeCalibration::learn(&evidence, selection.ages.born),
        }
    }

    /// The album's selection with exactly the faces `keep` names (photo, face) used, and
    /// `ages` as the age facts.
    pub fn keeping(&self, keep: &[(usize, usize)], ages: AgeFacts) -> Selection {
        let mut decisions = self.selection.decisions.clone();
        for d in decisions.iter_mut().flatten() {
            d.used = false;
        }
        for &(photo, face) in keep {
            if let Some(d) = decisions.get_mut(photo).and_then(|p| p.get_mut(face)) {
                d.used = true;
                d.reason = None;
            }
        }
        Selection { decisions, ages }
    }
}

/// An album, its faces and one selection of them: everything the reports, the review and the
/// render read.
#[derive(Clone, Copy)]
pub struct Selected<'a> {
    pub album: &'a Album,
    pub faces: &'a [Vec<Face>],
    pub selection: &'a Selection,
    /// What the selection's known ages say about the network's estimates.
    calibration: AgeCalibration,
}

/// An age in years and where it came from.
type Age = (f64, AgeSource);

/// A photo's face and what became of it.
#[derive(Clone, Copy)]
struct FaceOf<'a> {
    photo: usize,
    index: usize,
    face: &'a Face,
    decision: &'a FaceDecision,
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
    /// What became of the photo's candidate face.
    pub status: PhotoStatus,
    /// Why the photo gives no keyframe.
    pub reason: Option<String>,
}

/// What became of a photo's candidate face for the album's person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhotoStatus {
    /// A keyframe of the time-lapse.
    Used,
    /// A suspected intruder: too far from the album's person.
    Flagged,
    /// Left out for another reason (low quality, thinned, too small to describe).
    LeftOut,
    /// No face found.
    NoFace,
}

impl PhotoStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Used => "used",
            Self::Flagged => "flagged",
            Self::LeftOut => "left out",
            Self::NoFace => "no face",
        }
    }
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

/// A photo left out, and why.
#[derive(Debug, Serialize)]
pub struct ErrorReport {
    pub photo: String,
    pub error: String,
}

impl From<&Rejected> for ErrorReport {
    fn from(r: &Rejected) -> Self {
        Self {
            photo: r.source.clone(),
            error: crate::chain::Chain(&r.error).to_string(),
        }
    }
}

impl std::fmt::Display for AnalyzeReport {
    /// The report as a table for a person.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            out,
            "{:>3}  {:<40} {:>11}  {:<25} {:>6}  {:<8}",
            "#", "photo", "size", "taken", "age", "face"
        )?;
        for (i, p) in self.photos.iter().enumerate() {
            writeln!(
                out,
                "{:>3}  {:<40} {:>11}  {:<25} {:>6}  {:<8}",
                i + 1,
                p.photo,
                format!("{}×{}", p.width, p.height),
                p.capture_date.as_deref().unwrap_or("-"),
                p.age.map_or("-".to_string(), |a| format!("{a:.1}")),
                p.status.as_str()
            )?;
            if let Some(reason) = &p.reason {
                writeln!(out, "     why: {reason}")?;
            }
            if let Some(note) = &p.date_note {
                writeln!(out, "     note: {note}")?;
            }
        }
        Ok(())
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

impl<'a> Selected<'a> {
    /// Photo `i`'s faces and their decisions.
    fn faces_of(&self, photo: usize) -> impl Iterator<Item = FaceOf<'a>> + 'a {
        let found = self.faces.get(photo).map(Vec::as_slice).unwrap_or_default();
        let decided = self
            .selection
            .decisions
            .get(photo)
            .map(Vec::as_slice)
            .unwrap_or_default();
        found
            .iter()
            .zip(decided)
            .enumerate()
            .map(move |(index, (face, decision))| FaceOf {
                photo,
                index,
                face,
                decision,
            })
    }

    /// A face's age, for the album's person: set by the user, else capture date minus birth
    /// date (given, or implied by the album's dated photos); else the network's estimate,
    /// corrected by the ages the album knows. Faces left out (strangers, whom the album's
    /// facts say nothing about) get the raw estimate. One decimal.
    fn age(&self, f: &FaceOf) -> Option<Age> {
        let photo = &self.album.photos[f.photo];
        let ages = &self.selection.ages;
        let used = f.decision.used;
        let by_user = ages
            .fixed_for(&photo.source)
            .filter(|_| used)
            .map(|a| (a, AgeSource::User));
        let born = match (ages.born, self.calibration.implied_born) {
            (Some(born), _) => Some((born, AgeSource::Exif)),
            (None, Some(implied)) => Some((implied, AgeSource::Dates)),
            (None, None) => None,
        };
        let from_dates = born
            .zip(photo.capture_date)
            .filter(|_| used)
            .and_then(|((b, source), d)| keyframe::age_at(b, d.date()).map(|a| (a, source)));
        // The album's knowledge is about its person: a face left out keeps the raw estimate.
        let estimated = f
            .face
            .estimated_age
            .map(|a| match (used, self.calibration.support) {
                (true, 1..) => (self.calibration.correct(a as f64), AgeSource::Calibrated),
                _ => (a as f64, AgeSource::Model),
            });
        by_user
            .or(from_dates)
            .or(estimated)
            .map(|(a, s)| ((a * 10.0).round() / 10.0, s))
    }

    /// Each photo's used face, if it has one.
    fn used(&self) -> Vec<Option<FaceOf<'a>>> {
        (0..self.album.photos.len())
            .map(|i| self.faces_of(i).find(|f| f.decision.used))
            .collect()
    }

    /// Photo indices in time-lapse order: by the age of the photo's used face, ties by capture
    /// date, then by name; photos without a used face last.
    fn order(&self, used: &[Option<FaceOf>]) -> Vec<usize> {
        let ages: Vec<Option<f64>> = used
            .iter()
            .map(|u| u.as_ref().and_then(|f| self.age(f)).map(|a| a.0))
            .collect();
        let mut order: Vec<usize> = (0..self.album.photos.len()).collect();
        order.sort_by(|&a, &b| {
            let by_age = match (ages[a], ages[b]) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            };
            let (pa, pb) = (&self.album.photos[a], &self.album.photos[b]);
            by_age.then_with(|| {
                keyframe::timeline_order(
                    (pa.capture_date, &pa.source),
                    (pb.capture_date, &pb.source),
                )
            })
        });
        order
    }

    /// Every face of the album in time-lapse order.
    fn all_in_order(&self) -> Vec<FaceOf<'a>> {
        let used = self.used();
        self.order(&used)
            .into_iter()
            .flat_map(|i| self.faces_of(i))
            .collect()
    }

    /// How many photos have a face in the time-lapse.
    pub fn keyframe_count(&self) -> usize {
        self.used().iter().flatten().count()
    }

    /// The album in time-lapse order, every face and every input listed.
    pub fn report(&self) -> AnalyzeReport {
        let used = self.used();
        let mut faces = Vec::new();
        let mut photos = Vec::new();
        for i in self.order(&used) {
            let p = &self.album.photos[i];
            // The photo's face for the album's person: the used one, else its candidate.
            let candidate = used[i].or_else(|| {
                self.faces_of(i).find(|f| {
                    !matches!(
                        f.decision.verdict,
                        Verdict::OtherPerson { .. } | Verdict::NoDescriptor
                    )
                })
            });
            let age = candidate.as_ref().and_then(|f| self.age(f));
            let status = match &candidate {
                Some(f) if f.decision.used => PhotoStatus::Used,
                Some(f) if f.decision.suspected_intruder() => PhotoStatus::Flagged,
                _ if self.faces_of(i).next().is_none() => PhotoStatus::NoFace,
                _ => PhotoStatus::LeftOut,
            };
            let reason = match &candidate {
                Some(f) if f.decision.used => None,
                Some(f) => f.decision.reason.clone(),
                None => Some(self.left_out_reason(i)),
            };
            let mut found = 0;
            for f in self.faces_of(i) {
                found += 1;
                let (face, d) = (f.face, f.decision);
                let age = self.age(&f);
                faces.push(FaceReport {
                    photo: p.source.clone(),
                    bbox: [face.bbox.x, face.bbox.y, face.bbox.w, face.bbox.h],
                    score: face.bbox.score,
                    landmarks: face.landmarks.to_vec(),
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
                faces: found,
                status,
                reason,
            });
        }
        AnalyzeReport {
            faces,
            photos,
            duplicates: self.album.duplicates.clone(),
            errors: self.album.rejected.iter().map(ErrorReport::from).collect(),
        }
    }

    /// The album's candidate faces in time-lapse order (see [`ReviewFace`]).
    pub fn review_faces(&self) -> Vec<ReviewFace> {
        self.all_in_order()
            .into_iter()
            .filter(|f| {
                !matches!(
                    f.decision.verdict,
                    Verdict::OtherPerson { .. } | Verdict::NoDescriptor
                )
            })
            .map(|f| ReviewFace {
                photo: f.photo,
                face: f.index,
                age: self.age(&f).map(|a| a.0),
                used: f.decision.used,
                suspected_intruder: f.decision.suspected_intruder(),
            })
            .collect()
    }

    /// Every face of the album (`analyze`'s order) as contact-sheet tiles of `size`².
    pub fn sheet_tiles(&self, size: u32) -> Vec<sheet::Tile> {
        let picks: Vec<(usize, usize)> = self
            .all_in_order()
            .into_iter()
            .map(|f| (f.photo, f.index))
            .collect();
        self.tiles(&picks, size)
    }

    /// The faces `picks` names (photo, face) as contact-sheet tiles of `size`², numbered from 1
    /// in that order with their age; suspected intruders framed and captioned `?` (with the
    /// age the network estimates), other unused faces dimmed.
    pub fn tiles(&self, picks: &[(usize, usize)], size: u32) -> Vec<sheet::Tile> {
        picks
            .par_iter()
            .enumerate()
            .filter_map(|(n, &(photo, face))| {
                let f = self.faces_of(photo).nth(face)?;
                let d = f.decision;
                let age = self
                    .age(&f)
                    .map_or(String::new(), |(a, _)| format!(" {a:.0}y"));
                let (mark, caption) = match (d.used, d.suspected_intruder()) {
                    (true, _) => (sheet::Mark::Used, format!("#{}{age}", n + 1)),
                    (false, true) => (sheet::Mark::Flagged, format!("#{} ?{age}", n + 1)),
                    (false, false) => (sheet::Mark::Unused, format!("#{}{age}", n + 1)),
                };
                Some(sheet::Tile {
                    face: face::align::align(&self.album.photos[photo].image, f.face.quad, size),
                    caption,
                    mark,
                })
            })
            .collect()
    }

    /// The selection's faces, aligned FFHQ-style to `size`², in time-lapse order, and the
    /// photos left out with the reason.
    pub fn keyframes(&self, size: u32) -> (Vec<Keyframe>, Vec<ErrorReport>) {
        let used = self.used();
        let mut left_out = Vec::new();
        let mut picks = Vec::new();
        for i in self.order(&used) {
            match &used[i] {
                Some(f) => picks.push((f, self.age(f).map(|a| a.0))),
                None => left_out.push(ErrorReport {
                    photo: self.album.photos[i].source.clone(),
                    error: self.left_out_reason(i),
                }),
            }
        }
        let frames = picks
            .par_iter()
            .map(|&(f, age_years)| {
                let p = &self.album.photos[f.photo];
                let quad = f.face.quad;
                Keyframe {
                    source: p.source.clone(),
                    image: face::align::align(&p.image, quad, size),
                    capture_date: p.capture_date,
                    age_years,
                    landmarks: Some(
                        f.face
                            .landmarks
                            .iter()
                            .map(|&q| face::align::to_aligned(quad, size, q))
                            .collect(),
                    ),
                    person: None,
                }
            })
            .collect();
        (frames, left_out)
    }

    /// Why photo `i` has no face in the time-lapse.
    fn left_out_reason(&self, i: usize) -> String {
        let mut faces = self.faces_of(i).peekable();
        if faces.peek().is_none() {
            return "no face found".to_string();
        }
        match faces.find_map(|f| {
            f.decision
                .suspected_intruder()
                .then(|| f.decision.reason.clone())
                .flatten()
        }) {
            Some(reason) => format!("{reason} (--keep-all uses it anyway)"),
            None => "no usable face (too small to align)".to_string(),
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

fn decide(album: &Album, faces: &[Vec<Face>], options: DecideOptions) -> Vec<Vec<FaceDecision>> {
    let descriptors: Vec<Vec<Option<face::identity::Described>>> = faces
        .iter()
        .map(|fs| {
            fs.iter()
                .map(|f| {
                    f.descriptor.map(|descriptor| face::identity::Described {
                        descriptor,
                        age: f.estimated_age,
                    })
                })
                .collect()
        })
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
                    .map(|(verdict, f)| decide_face(photo, f, verdict, options))
                    .collect()
            })
            .collect();
    if let Some(period) = options.per {
        thin(album, &mut decisions, period);
    }
    decisions
}

fn decide_face(
    photo: &album::Photo,
    f: &Face,
    verdict: Verdict,
    options: DecideOptions,
) -> FaceDecision {
    let quality = face_quality(photo, f);
    let reason = match verdict {
        Verdict::Flagged { distance, limit } if !options.keep_all => Some(format!(
            "suspected intruder: {distance:.2} from the album's person (limit {limit:.2})"
        )),
        Verdict::OtherPerson { .. } => Some("someone else in the same photo".to_string()),
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

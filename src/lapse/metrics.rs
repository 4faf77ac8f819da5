//! How good a time-lapse looks, frame by frame: identity kept, ghosting avoided, motion smooth.
//! Pure functions over images and descriptors; `lifelapse eval` drives them.
//!
//! - **Identity**: 1 − the descriptor distance between the frame's face and the nearest real
//!   keyframe's face (the same 128-D descriptor the intruder check uses; two photos of one person
//!   are usually within 0.6, so similarity above 0.4).
//! - **Ghosting**: a cross-fade of two faces whose features are not in the same place shows
//!   both faces' edges at once, each at half strength, where a good in-between frame shows one
//!   set of edges somewhere between them. So a frame is ghosted to the degree that its edge map
//!   (gradient magnitude of the luminance over the face) correlates with *both*
//!   keyframes' edge maps: the score is how far the smaller of the two correlations rises above
//!   the keyframes' correlation with each other, as a per cent of the way to 1. A keyframe
//!   itself scores 0; a 50/50 overlay of two different faces scores high; a morph, whose edges
//!   sit between the two faces' positions, scores low.
//! - **Smoothness**: the mean absolute change between consecutive frames, in 8-bit levels;
//!   a frame whose change exceeds three times the median change (and 2 levels) is a spike.

use crate::face::Descriptor;
use image::RgbImage;
use serde::Serialize;

/// The face in an FFHQ-aligned frame (fractions of the side): brows to chin, cheek to cheek.
const FACE_REGION: (f64, f64, f64, f64) = (0.22, 0.30, 0.78, 0.90);

/// The head around the face (hair, ears, head outline) in an FFHQ-aligned frame: an ellipse
/// (centre x, centre y, half width, half height, fractions of the side) less the face.
const HEAD_ELLIPSE: (f64, f64, f64, f64) = (0.5, 0.45, 0.36, 0.47);

/// Below this height (fraction of the side), outside the head, FFHQ crops show the neck,
/// shoulders and collar.
const SHOULDERS_FROM: f64 = 0.78;

/// The parts of an aligned frame the ghosting score is reported for. FFHQ alignment puts the
/// eyes and mouth at fixed places, so fixed regions fit every frame of a time-lapse and every
/// renderer alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    Face,
    /// Hair, ears and the outline of the head.
    Hair,
    /// Neck, shoulders, collar and clothes.
    Clothes,
    Background,
}

impl Region {
    pub const ALL: [Region; 4] = [
        Region::Face,
        Region::Hair,
        Region::Clothes,
        Region::Background,
    ];

    /// The region a pixel centre at (`x`, `y`), in fractions of the side, belongs to.
    pub fn at(x: f64, y: f64) -> Region {
        let (x0, y0, x1, y1) = FACE_REGION;
        if (x0..x1).contains(&x) && (y0..y1).contains(&y) {
            return Region::Face;
        }
        let (cx, cy, rx, ry) = HEAD_ELLIPSE;
        if ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0 {
            Region::Hair
        } else if y >= SHOULDERS_FROM {
            Region::Clothes
        } else {
            Region::Background
        }
    }
}

/// Gradient magnitude of the luminance at every pixel of the frame but its one-pixel border,
/// row by row, unsmoothed: a feature moved by two pixels must count as moved (smoothing made
/// the renderers harder to tell apart).
pub fn edge_field(img: &RgbImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    let luma = |x: u32, y: u32| {
        let p = img.get_pixel(x, y).0;
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    let mut values = Vec::with_capacity((w.saturating_sub(2) * h.saturating_sub(2)) as usize);
    for y in 1..h.saturating_sub(1) {
        for x in 1..w.saturating_sub(1) {
            let gx = luma(x + 1, y) - luma(x - 1, y);
            let gy = luma(x, y + 1) - luma(x, y - 1);
            values.push((gx * gx + gy * gy).sqrt());
        }
    }
    values
}

/// Which [`Region`] each value of an [`edge_field`] of one frame size lies in.
pub struct RegionMap {
    labels: Vec<Region>,
}

/// One frame's edge magnitudes, whole and split by region.
pub struct RegionEdges {
    pub full: Vec<f32>,
    /// In the order of [`Region::ALL`].
    pub regions: [Vec<f32>; 4],
}

impl RegionMap {
    /// The FFHQ regions of a `width`×`height` frame.
    pub fn ffhq(width: u32, height: u32) -> Self {
        let (w, h) = (width as f64, height as f64);
        let mut labels = Vec::new();
        for y in 1..height.saturating_sub(1) {
            for x in 1..width.saturating_sub(1) {
                labels.push(Region::at((x as f64 + 0.5) / w, (y as f64 + 0.5) / h));
            }
        }
        Self { labels }
    }

    /// `img`'s edge field, whole and split by region.
    pub fn edges(&self, img: &RgbImage) -> RegionEdges {
        let full = edge_field(img);
        let mut regions: [Vec<f32>; 4] = Default::default();
        for (&v, &r) in full.iter().zip(&self.labels) {
            regions[r as usize].push(v);
        }
        RegionEdges { full, regions }
    }

    /// `img`'s edge magnitudes over the face region.
    pub fn face_edges(&self, img: &RgbImage) -> Vec<f32> {
        let mut edges = self.edges(img);
        std::mem::take(&mut edges.regions[Region::Face as usize])
    }
}

/// Gradient magnitude of the luminance over the face region of one frame (for many frames of
/// one size, make one [`RegionMap`] and ask it).
pub fn edge_map(img: &RgbImage) -> Vec<f32> {
    let (w, h) = img.dimensions();
    RegionMap::ffhq(w, h).face_edges(img)
}

/// A frame's ghosting over the whole frame and per region, in per cent (see [`ghosting`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct RegionGhosting {
    pub full: f64,
    pub face: f64,
    pub hair: f64,
    pub clothes: f64,
    pub background: f64,
}

/// [`ghosting`] of `frame` between keyframes `a` and `b`, over the whole frame and per region.
pub fn region_ghosting(frame: &RegionEdges, a: &RegionEdges, b: &RegionEdges) -> RegionGhosting {
    let score = |r: Region| {
        let i = r as usize;
        ghosting(&frame.regions[i], &a.regions[i], &b.regions[i])
    };
    RegionGhosting {
        full: ghosting(&frame.full, &a.full, &b.full),
        face: score(Region::Face),
        hair: score(Region::Hair),
        clothes: score(Region::Clothes),
        background: score(Region::Background),
    }
}

/// Pearson correlation of two edge maps of one frame size (0 when either is flat).
pub fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let mean = |v: &[f32]| v[..n].iter().map(|&x| x as f64).sum::<f64>() / n as f64;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (&x, &y) in a[..n].iter().zip(&b[..n]) {
        let (dx, dy) = (x as f64 - ma, y as f64 - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Ghosting of a frame between keyframes `a` and `b` (edge maps), in per cent: how far the
/// smaller of its correlations with the two rises above their correlation with each other.
pub fn ghosting(frame: &[f32], a: &[f32], b: &[f32]) -> f64 {
    let baseline = correlation(a, b);
    if baseline >= 1.0 - 1e-9 {
        return 0.0;
    }
    let both = correlation(frame, a).min(correlation(frame, b));
    (100.0 * (both - baseline) / (1.0 - baseline)).max(0.0)
}

/// Identity similarity: 1 − the smallest descriptor distance to any of `references`.
pub fn identity(face: &Descriptor, references: &[&Descriptor]) -> Option<f64> {
    references
        .iter()
        .map(|r| crate::face::identity::distance(face, r) as f64)
        .min_by(f64::total_cmp)
        .map(|d| 1.0 - d)
}

/// Mean absolute difference between two frames of one size, in 8-bit levels.
pub fn frame_change(a: &RgbImage, b: &RgbImage) -> f64 {
    let (pa, pb) = (a.as_raw(), b.as_raw());
    if pa.len() != pb.len() || pa.is_empty() {
        return 0.0;
    }
    let sum: u64 = pa
        .iter()
        .zip(pb)
        .map(|(&x, &y)| (x as i32 - y as i32).unsigned_abs() as u64)
        .sum();
    sum as f64 / pa.len() as f64
}

/// Which changes are spikes: more than three times the median of the non-zero changes, and
/// more than 2 levels.
pub fn spikes(changes: &[f64]) -> Vec<bool> {
    let mut moving: Vec<f64> = changes.iter().copied().filter(|&c| c > 0.0).collect();
    moving.sort_by(f64::total_cmp);
    let median = moving.get(moving.len() / 2).copied().unwrap_or(0.0);
    changes
        .iter()
        .map(|&c| c > 3.0 * median && c > 2.0)
        .collect()
}

/// Per-frame measurements of one video.
#[derive(Debug, Clone, Serialize)]
pub struct FrameScores {
    /// Identity similarity per frame; `None` where no face was found in the frame.
    pub identity: Vec<Option<f64>>,
    /// Ghosting over the face.
    pub ghosting: Vec<f64>,
    /// Ghosting over the whole frame.
    pub ghosting_full: Vec<f64>,
    pub ghosting_hair: Vec<f64>,
    pub ghosting_clothes: Vec<f64>,
    pub ghosting_background: Vec<f64>,
    /// Change from the previous frame (0 for the first).
    pub change: Vec<f64>,
    pub spike: Vec<bool>,
}

/// The summary `lifelapse eval` reports per renderer or video.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Mean identity similarity; frames without a face count as 0.
    pub identity_mean: f64,
    pub identity_min: f64,
    /// Frames in which no face was found.
    pub faceless_frames: usize,
    /// Ghosting over the face.
    pub ghosting_mean: f64,
    pub ghosting_max: f64,
    /// Ghosting over the whole frame.
    pub ghosting_full_mean: f64,
    pub ghosting_full_max: f64,
    /// Ghosting over the hair and head outline, the neck and clothes, and the background.
    pub ghosting_hair_mean: f64,
    pub ghosting_clothes_mean: f64,
    pub ghosting_background_mean: f64,
    /// Mean frame-to-frame change in 8-bit levels (lower is smoother).
    pub smoothness: f64,
    pub spikes: usize,
    pub frames: usize,
}

impl FrameScores {
    /// Scores from per-frame identity, region ghosting and change.
    pub fn new(identity: Vec<Option<f64>>, ghosting: &[RegionGhosting], change: Vec<f64>) -> Self {
        let series = |f: fn(&RegionGhosting) -> f64| ghosting.iter().map(f).collect::<Vec<_>>();
        Self {
            identity,
            ghosting: series(|g| g.face),
            ghosting_full: series(|g| g.full),
            ghosting_hair: series(|g| g.hair),
            ghosting_clothes: series(|g| g.clothes),
            ghosting_background: series(|g| g.background),
            spike: spikes(&change),
            change,
        }
    }

    pub fn summary(&self) -> Summary {
        let n = self.ghosting.len().max(1) as f64;
        let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
        let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        let ids: Vec<f64> = self.identity.iter().map(|i| i.unwrap_or(0.0)).collect();
        Summary {
            identity_mean: ids.iter().sum::<f64>() / n,
            identity_min: ids.iter().copied().fold(f64::INFINITY, f64::min).min(1.0),
            faceless_frames: self.identity.iter().filter(|i| i.is_none()).count(),
            ghosting_mean: mean(&self.ghosting),
            ghosting_max: max(&self.ghosting),
            ghosting_full_mean: mean(&self.ghosting_full),
            ghosting_full_max: max(&self.ghosting_full),
            ghosting_hair_mean: mean(&self.ghosting_hair),
            ghosting_clothes_mean: mean(&self.ghosting_clothes),
            ghosting_background_mean: mean(&self.ghosting_background),
            smoothness: self.change.iter().skip(1).sum::<f64>()
                / (self.change.len().saturating_sub(1).max(1)) as f64,
            spikes: self.spike.iter().filter(|s| **s).count(),
            frames: self.ghosting.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spikes_stand_out_from_the_median() {
        let changes = [0.0, 1.0, 1.2, 0.9, 9.0, 1.1, 0.0];
        assert_eq!(
            spikes(&changes),
            vec![false, false, false, false, true, false, false]
        );
        assert_eq!(spikes(&[0.0, 0.0]), vec![false, false]);
    }

    #[test]
    fn a_keyframe_does_not_ghost_and_an_overlay_does() {
        let a: Vec<f32> = (0..100)
            .map(|i| if i % 10 == 3 { 9.0 } else { 0.0 })
            .collect();
        let b: Vec<f32> = (0..100)
            .map(|i| if i % 10 == 7 { 9.0 } else { 0.0 })
            .collect();
        let overlay: Vec<f32> = a.iter().zip(&b).map(|(x, y)| (x + y) / 2.0).collect();
        assert_eq!(ghosting(&a, &a, &b), 0.0);
        assert_eq!(ghosting(&b, &a, &b), 0.0);
        assert!(ghosting(&overlay, &a, &b) > 50.0);
        assert_eq!(correlation(&a, &[0.0; 100]), 0.0);
    }

    #[test]
    fn frame_change_is_in_levels() {
        let a = RgbImage::from_pixel(4, 4, image::Rgb([10, 10, 10]));
        let b = RgbImage::from_pixel(4, 4, image::Rgb([13, 7, 10]));
        assert!((frame_change(&a, &b) - 2.0).abs() < 1e-9);
    }
}

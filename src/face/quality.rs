//! How good a face is as a keyframe: sharp, frontal, eyes open, large enough. Used to pick the
//! best face when an album is thinned, and to leave out the unusable.

use super::landmarks::Landmarks;
use image::RgbImage;
use serde::Serialize;

/// Each part is 0 (bad) to 1 (good).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// Variance of the Laplacian of the face chip, mapped logarithmically (blur lowers it).
    pub sharpness: f32,
    /// How squarely the face looks at the camera: the nose tip's place between the eyes.
    pub frontal: f32,
    /// Eye aspect ratio (Soukupová & Čech 2016): open eyes are about 0.3 tall for their width.
    pub eyes_open: f32,
    /// Face size in the original photo: full marks from 128 px.
    pub size: f32,
}

impl Quality {
    /// The overall score, 0–1: a weighted mean that no single perfect part can rescue from
    /// a ruinous one (a closed-eye face stays low however sharp).
    pub fn score(&self) -> f32 {
        let parts = [
            (self.sharpness, 0.3),
            (self.frontal, 0.3),
            (self.eyes_open, 0.2),
            (self.size, 0.2),
        ];
        let mean: f32 = parts.iter().map(|(v, w)| v * w).sum();
        let worst = parts.iter().map(|p| p.0).fold(1.0f32, f32::min);
        mean * (0.5 + 0.5 * worst)
    }
}

fn dist(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

/// Sharpness from a grey 4-neighbour Laplacian over the chip's central 80 %.
pub fn sharpness(chip: &RgbImage) -> f32 {
    let (w, h) = chip.dimensions();
    if w < 8 || h < 8 {
        return 0.0;
    }
    let grey = |x: u32, y: u32| {
        let p = chip.get_pixel(x, y).0;
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    let (x0, x1, y0, y1) = (w / 10 + 1, w - w / 10 - 1, h / 10 + 1, h - h / 10 - 1);
    let mut values = Vec::with_capacity(((x1 - x0) * (y1 - y0)) as usize);
    for y in y0..y1 {
        for x in x0..x1 {
            values.push(
                grey(x - 1, y) + grey(x + 1, y) + grey(x, y - 1) + grey(x, y + 1)
                    - 4.0 * grey(x, y),
            );
        }
    }
    let n = values.len() as f32;
    let mean = values.iter().sum::<f32>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    // ~30 is a soft, out-of-focus face at 112²; ~400 and above is crisp.
    ((var.max(1.0).ln() - 30f32.ln()) / (400f32.ln() - 30f32.ln())).clamp(0.0, 1.0)
}

/// Frontal pose and open eyes from the 68 landmarks (iBUG numbering).
pub fn pose_and_eyes(lm: &Landmarks) -> (f32, f32) {
    let eye = |r: std::ops::Range<usize>| {
        let n = r.len() as f32;
        let s = lm[r]
            .iter()
            .fold([0.0, 0.0], |a, p| [a[0] + p[0], a[1] + p[1]]);
        [s[0] / n, s[1] / n]
    };
    let (left, right) = (eye(36..42), eye(42..48));
    let span = dist(left, right).max(1e-3);
    let dir = [(right[0] - left[0]) / span, (right[1] - left[1]) / span];
    let nose = lm[30];
    let along = ((nose[0] - left[0]) * dir[0] + (nose[1] - left[1]) * dir[1]) / span;
    let frontal = (1.0 - (along - 0.5).abs() * 2.5).clamp(0.0, 1.0);
    let ear =
        |p: &[[f32; 2]]| (dist(p[1], p[5]) + dist(p[2], p[4])) / (2.0 * dist(p[0], p[3]).max(1e-3));
    let openness = (ear(&lm[36..42]) + ear(&lm[42..48])) / 2.0;
    let eyes_open = ((openness - 0.12) / 0.12).clamp(0.0, 1.0);
    (frontal, eyes_open)
}

/// Size part from the face's smaller side in original-photo pixels.
pub fn size_score(side_px: f32) -> f32 {
    (side_px / 128.0).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_chip_is_blurred_and_noise_is_sharp() {
        let flat = RgbImage::from_pixel(64, 64, image::Rgb([120, 120, 120]));
        assert_eq!(sharpness(&flat), 0.0);
        let checks = RgbImage::from_fn(64, 64, |x, y| {
            if (x + y) % 2 == 0 {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([255, 255, 255])
            }
        });
        assert_eq!(sharpness(&checks), 1.0);
    }

    #[test]
    fn a_ruinous_part_drags_the_score_down() {
        let good = Quality {
            sharpness: 1.0,
            frontal: 1.0,
            eyes_open: 1.0,
            size: 1.0,
        };
        let closed = Quality {
            eyes_open: 0.0,
            ..good
        };
        assert!((good.score() - 1.0).abs() < 1e-6);
        assert!(closed.score() < 0.45);
    }
}

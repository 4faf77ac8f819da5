//! Faces in a photo: the detector's grid decoded into boxes, thresholded and de-duplicated.

use crate::leaves::resize;
use crate::nets::{self, face_detector::TinyFaceDetector};
use image::RgbImage;
use serde::Serialize;

/// A face's box in photo pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaceBox {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    /// Detector confidence, 0–1.
    pub score: f32,
}

impl FaceBox {
    fn iou(&self, o: &FaceBox) -> f32 {
        let ix = (self.x + self.w).min(o.x + o.w) - self.x.max(o.x);
        let iy = (self.y + self.h).min(o.y + o.h) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.w * self.h + o.w * o.h - inter)
    }
}

#[derive(Debug, Clone, Copy)]
pub struct DetectOptions {
    /// Side the photo is scaled to (a multiple of 32); larger finds smaller faces, slower.
    pub input_size: u32,
    pub score_threshold: f32,
    pub iou_threshold: f32,
}

impl Default for DetectOptions {
    fn default() -> Self {
        Self {
            input_size: 608,
            score_threshold: 0.5,
            iou_threshold: 0.4,
        }
    }
}

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Finds the faces in `image`. The photo is padded to a square at the bottom/right (as the
/// network was trained) and scaled to `input_size`.
pub fn detect(net: &TinyFaceDetector, image: &RgbImage, options: DetectOptions) -> Vec<FaceBox> {
    let (w, h) = image.dimensions();
    let side = w.max(h);
    let mut square = RgbImage::new(side, side);
    image::imageops::replace(&mut square, image, 0, 0);
    let size = options.input_size.max(32) / 32 * 32;
    let input = resize::crop_resize(&square, (0.0, 0.0, side as f64, side as f64), size, size);
    let grid =
        tch::no_grad(|| net.forward(&nets::batch_from_rgb(&[&input]))).to_device(tch::Device::Cpu);
    let cells = grid.size()[2];
    let anchors = net.anchors();
    let values: Vec<f32> = match Vec::<f32>::try_from(grid.flatten(0, -1)) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let at = |channel: usize, row: i64, col: i64| {
        values[(channel as i64 * cells * cells + row * cells + col) as usize] as f64
    };
    let mut boxes = Vec::new();
    let scale = side as f64;
    for row in 0..cells {
        for col in 0..cells {
            for (a, &(aw, ah)) in anchors.iter().enumerate() {
                let score = sigmoid(at(a * 5 + 4, row, col));
                if score <= options.score_threshold as f64 {
                    continue;
                }
                let cx = (col as f64 + sigmoid(at(a * 5, row, col))) / cells as f64;
                let cy = (row as f64 + sigmoid(at(a * 5 + 1, row, col))) / cells as f64;
                let bw = at(a * 5 + 2, row, col).exp() * aw / cells as f64;
                let bh = at(a * 5 + 3, row, col).exp() * ah / cells as f64;
                let x0 = ((cx - bw / 2.0) * scale).max(0.0);
                let y0 = ((cy - bh / 2.0) * scale).max(0.0);
                let x1 = ((cx + bw / 2.0) * scale).min(w as f64);
                let y1 = ((cy + bh / 2.0) * scale).min(h as f64);
                if x1 > x0 && y1 > y0 {
                    boxes.push(FaceBox {
                        x: x0 as f32,
                        y: y0 as f32,
                        w: (x1 - x0) as f32,
                        h: (y1 - y0) as f32,
                        score: score as f32,
                    });
                }
            }
        }
    }
    non_max_suppression(boxes, options.iou_threshold)
}

/// Keeps the best-scoring box of each group of overlapping boxes.
pub fn non_max_suppression(mut boxes: Vec<FaceBox>, iou_threshold: f32) -> Vec<FaceBox> {
    boxes.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<FaceBox> = Vec::new();
    for b in boxes {
        if kept.iter().all(|k| k.iou(&b) <= iou_threshold) {
            kept.push(b);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(x: f32, score: f32) -> FaceBox {
        FaceBox {
            x,
            y: 0.0,
            w: 10.0,
            h: 10.0,
            score,
        }
    }

    #[test]
    fn nms_keeps_the_best_of_overlapping_boxes_and_separate_ones() {
        let kept = non_max_suppression(vec![b(0.0, 0.6), b(1.0, 0.9), b(50.0, 0.7)], 0.4);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].x, 50.0);
    }
}

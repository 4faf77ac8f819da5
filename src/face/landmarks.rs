//! 68 landmarks for a detected face, in photo pixels.

use super::detect::FaceBox;
use crate::leaves::resize;
use crate::nets::{self, landmarks68::FaceLandmark68Net};
use image::RgbImage;

pub type Landmarks = [[f32; 2]; 68];

/// The face's box, cut out, padded to a centred square and scaled to the network's input; the
/// network's 0–1 positions are mapped back to the photo.
pub fn locate(net: &FaceLandmark68Net, image: &RgbImage, faces: &[FaceBox]) -> Vec<Landmarks> {
    if faces.is_empty() {
        return Vec::new();
    }
    let size = net.input_size() as u32;
    let mut crops = Vec::with_capacity(faces.len());
    let mut frames = Vec::with_capacity(faces.len());
    for f in faces {
        let side = f.w.max(f.h) as f64;
        // Square crop centred on the box; parts outside the photo stay black, as the padding does.
        let (x0, y0) = (
            f.x as f64 + f.w as f64 / 2.0 - side / 2.0,
            f.y as f64 + f.h as f64 / 2.0 - side / 2.0,
        );
        crops.push(square_crop(image, x0, y0, side, size));
        frames.push((x0, y0, side));
    }
    let refs: Vec<&RgbImage> = crops.iter().collect();
    let out =
        tch::no_grad(|| net.forward(&nets::batch_from_rgb(&refs))).to_device(tch::Device::Cpu);
    let values: Vec<f32> = Vec::<f32>::try_from(out.flatten(0, -1)).unwrap_or_default();
    frames
        .iter()
        .enumerate()
        .map(|(i, &(x0, y0, side))| {
            let mut pts = [[0.0f32; 2]; 68];
            for (k, p) in pts.iter_mut().enumerate() {
                let vx = values.get(i * 136 + 2 * k).copied().unwrap_or(0.0) as f64;
                let vy = values.get(i * 136 + 2 * k + 1).copied().unwrap_or(0.0) as f64;
                *p = [(x0 + vx * side) as f32, (y0 + vy * side) as f32];
            }
            pts
        })
        .collect()
}

/// The square (x0, y0, side) of `image` scaled to `size`², black where it leaves the photo.
fn square_crop(image: &RgbImage, x0: f64, y0: f64, side: f64, size: u32) -> RgbImage {
    let (w, h) = (image.width() as f64, image.height() as f64);
    let (cx0, cy0) = (x0.max(0.0), y0.max(0.0));
    let (cx1, cy1) = ((x0 + side).min(w), (y0 + side).min(h));
    let mut out = RgbImage::new(size, size);
    if cx1 <= cx0 || cy1 <= cy0 {
        return out;
    }
    let scale = size as f64 / side;
    let (ow, oh) = (
        ((cx1 - cx0) * scale).round().max(1.0) as u32,
        ((cy1 - cy0) * scale).round().max(1.0) as u32,
    );
    let inner = resize::crop_resize(
        image,
        (cx0, cy0, cx1 - cx0, cy1 - cy0),
        ow.min(size),
        oh.min(size),
    );
    image::imageops::replace(
        &mut out,
        &inner,
        ((cx0 - x0) * scale).round() as i64,
        ((cy0 - y0) * scale).round() as i64,
    );
    out
}

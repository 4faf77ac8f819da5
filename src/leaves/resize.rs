//! High-quality resampling shared by intake and rendering.

use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;

/// Lanczos3 resample of the `crop` rectangle (x, y, w, h, in source pixels) to `width`×`height`.
pub fn crop_resize(
    src: &RgbImage,
    crop: (f64, f64, f64, f64),
    width: u32,
    height: u32,
) -> RgbImage {
    let mut dst = RgbImage::new(width.max(1), height.max(1));
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(crop.0, crop.1, crop.2, crop.3);
    // Both images are non-empty RGB8 buffers, the one case the resizer cannot refuse.
    if Resizer::new().resize(src, &mut dst, &options).is_err() {
        dst = image::imageops::resize(
            src,
            width.max(1),
            height.max(1),
            image::imageops::FilterType::Lanczos3,
        );
    }
    dst
}

/// Scales the image down so its long side is at most `long_side`; smaller images are kept as they are.
pub fn fit_within(src: RgbImage, long_side: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    if w.max(h) <= long_side {
        return src;
    }
    let scale = long_side as f64 / w.max(h) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    crop_resize(&src, (0.0, 0.0, w as f64, h as f64), nw, nh)
}

/// Bilinear sample at (x, y) in pixel coordinates (pixel centres at whole numbers); positions
/// outside the image take the nearest edge pixel.
pub fn bilinear(img: &RgbImage, x: f64, y: f64) -> [f64; 3] {
    let (w, h) = (img.width().max(1) as f64, img.height().max(1) as f64);
    let (x, y) = (x.clamp(0.0, w - 1.0), y.clamp(0.0, h - 1.0));
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let (x0, y0) = (x0 as u32, y0 as u32);
    let (x1, y1) = (
        (x0 + 1).min(img.width() - 1),
        (y0 + 1).min(img.height() - 1),
    );
    let p = |xx, yy| img.get_pixel(xx, yy).0;
    let (a, b, c, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
    [0, 1, 2].map(|k| {
        let top = a[k] as f64 * (1.0 - fx) + b[k] as f64 * fx;
        let bottom = c[k] as f64 * (1.0 - fx) + d[k] as f64 * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

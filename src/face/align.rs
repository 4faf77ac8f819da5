//! FFHQ-style alignment (Karras et al. 2019, <https://arxiv.org/abs/1812.04948>, appendix A):
//! an oriented square from the eyes and mouth, resampled to `size`², with the parts outside the
//! photo filled by reflection that fades into a blur, as StyleGAN encoders expect.

use super::landmarks::Landmarks;
use crate::leaves::resize;
use image::RgbImage;

type V = [f64; 2];

fn add(a: V, b: V) -> V {
    [a[0] + b[0], a[1] + b[1]]
}
fn sub(a: V, b: V) -> V {
    [a[0] - b[0], a[1] - b[1]]
}
fn mul(a: V, s: f64) -> V {
    [a[0] * s, a[1] * s]
}
fn norm(a: V) -> f64 {
    a[0].hypot(a[1])
}
/// Quarter turn: the FFHQ recipe's `flipud(v) * [-1, 1]`.
fn perp(a: V) -> V {
    [-a[1], a[0]]
}

fn mean(points: &[[f32; 2]]) -> V {
    let n = points.len().max(1) as f64;
    let s = points.iter().fold([0.0, 0.0], |acc, p| {
        [acc[0] + p[0] as f64, acc[1] + p[1] as f64]
    });
    [s[0] / n, s[1] / n]
}

/// The oriented square to cut out: centre `c`, half-side vectors `x` (rightwards) and `y` (down).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quad {
    pub c: V,
    pub x: V,
    pub y: V,
}

impl Quad {
    /// Side length in photo pixels.
    pub fn side(&self) -> f64 {
        2.0 * norm(self.x)
    }
}

pub fn ffhq_quad(lm: &Landmarks) -> Quad {
    let eye_left = mean(&lm[36..42]);
    let eye_right = mean(&lm[42..48]);
    let eye_avg = mul(add(eye_left, eye_right), 0.5);
    let eye_to_eye = sub(eye_right, eye_left);
    let mouth_avg = mul(add(mean(&lm[48..49]), mean(&lm[54..55])), 0.5);
    let eye_to_mouth = sub(mouth_avg, eye_avg);
    let mut x = sub(eye_to_eye, perp(eye_to_mouth));
    x = mul(x, 1.0 / norm(x).max(1e-9));
    x = mul(x, (norm(eye_to_eye) * 2.0).max(norm(eye_to_mouth) * 1.8));
    Quad {
        c: add(eye_avg, mul(eye_to_mouth, 0.1)),
        x,
        y: perp(x),
    }
}

/// Mirrors a coordinate back into 0..n (reflection padding without repeating the edge pixel).
fn reflect(v: f64, n: f64) -> f64 {
    if n <= 1.0 {
        return 0.0;
    }
    let period = 2.0 * (n - 1.0);
    let m = v.rem_euclid(period);
    if m > n - 1.0 {
        period - m
    } else {
        m
    }
}

/// Bilinear sample with reflection outside the image.
fn bilinear(img: &RgbImage, x: f64, y: f64) -> [f64; 3] {
    resize::bilinear(
        img,
        reflect(x, img.width() as f64),
        reflect(y, img.height() as f64),
    )
}

/// Where photo point `p` lands in the `size`² image [`align`] cuts out of `quad`, in pixel
/// coordinates (pixel centres at whole numbers).
pub fn to_aligned(quad: Quad, size: u32, p: [f32; 2]) -> [f32; 2] {
    let tl = sub(sub(quad.c, quad.x), quad.y);
    let d = sub([p[0] as f64, p[1] as f64], tl);
    let dot = |a: V, b: V| a[0] * b[0] + a[1] * b[1];
    let (nx, ny) = (2.0 * dot(quad.x, quad.x), 2.0 * dot(quad.y, quad.y));
    let s = size as f64;
    [
        (dot(d, quad.x) / nx.max(1e-12) * s - 0.5) as f32,
        (dot(d, quad.y) / ny.max(1e-12) * s - 0.5) as f32,
    ]
}

/// Cuts `quad` out of `image` as a `size`² image.
pub fn align(image: &RgbImage, quad: Quad, size: u32) -> RgbImage {
    // Shrink first when the face is much larger than the output, so the final bilinear sampling
    // never skips pixels (aliasing); Lanczos does the heavy lifting.
    let shrink = (quad.side() / size as f64).max(1.0);
    let (src, scale) = if shrink > 1.5 {
        let (w, h) = image.dimensions();
        let (nw, nh) = (
            (w as f64 / shrink).round().max(1.0) as u32,
            (h as f64 / shrink).round().max(1.0) as u32,
        );
        (
            resize::crop_resize(image, (0.0, 0.0, w as f64, h as f64), nw, nh),
            nw as f64 / w as f64,
        )
    } else {
        (image.clone(), 1.0)
    };
    // The blur that replaces reflected content the further it lies outside the photo.
    let (sw, sh) = src.dimensions();
    let blurred = resize::crop_resize(
        &src,
        (0.0, 0.0, sw as f64, sh as f64),
        (sw / 16).max(1),
        (sh / 16).max(1),
    );
    let fade = (quad.side() * scale * 0.15).max(1.0);
    let (tl, dx, dy) = (
        sub(sub(quad.c, quad.x), quad.y),
        mul(quad.x, 2.0),
        mul(quad.y, 2.0),
    );
    let mut out = RgbImage::new(size, size);
    for (i, j, px) in out.enumerate_pixels_mut() {
        let (u, v) = (
            (i as f64 + 0.5) / size as f64,
            (j as f64 + 0.5) / size as f64,
        );
        let p = add(add(tl, mul(dx, u)), mul(dy, v));
        let (x, y) = (p[0] * scale - 0.5, p[1] * scale - 0.5);
        let sharp = bilinear(&src, x, y);
        let outside = (-x)
            .max(x - (sw as f64 - 1.0))
            .max(-y)
            .max(y - (sh as f64 - 1.0))
            .max(0.0);
        let value = if outside > 0.0 {
            let t = (outside / fade).min(1.0);
            let soft = bilinear(&blurred, (x + 0.5) / 16.0 - 0.5, (y + 0.5) / 16.0 - 0.5);
            [0, 1, 2].map(|k| sharp[k] * (1.0 - t) + soft[k] * t)
        } else {
            sharp
        };
        px.0 = value.map(|v| v.round().clamp(0.0, 255.0) as u8);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(eye_y: f32, tilt: f32) -> Landmarks {
        let mut lm = [[0.0f32; 2]; 68];
        for p in &mut lm[36..42] {
            *p = [40.0, eye_y - tilt];
        }
        for p in &mut lm[42..48] {
            *p = [60.0, eye_y + tilt];
        }
        lm[48] = [42.0, eye_y + 25.0];
        lm[54] = [58.0, eye_y + 25.0];
        lm
    }

    #[test]
    fn upright_face_gives_an_axis_aligned_square_below_the_eyes() {
        let q = ffhq_quad(&face(50.0, 0.0));
        assert!(q.x[1].abs() < 1e-9 && q.x[0] > 0.0);
        assert!((q.side() - 2.0 * (25.0f64 * 1.8).max(40.0)).abs() < 1e-6);
        assert!(q.c[1] > 50.0, "centre sits a little below the eyes");
    }

    #[test]
    fn tilted_face_is_turned_upright() {
        let q = ffhq_quad(&face(50.0, 5.0));
        let angle = q.x[1].atan2(q.x[0]).to_degrees();
        assert!(angle > 5.0 && angle < 25.0, "{angle}");
    }

    #[test]
    fn landmarks_land_where_the_aligned_image_shows_them() {
        let lm = face(50.0, 5.0);
        let q = ffhq_quad(&lm);
        let img = RgbImage::from_fn(120, 120, |x, y| {
            let near = (x as f32 - lm[48][0]).abs() < 2.0 && (y as f32 - lm[48][1]).abs() < 2.0;
            if near {
                image::Rgb([255, 255, 255])
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        let out = align(&img, q, 256);
        let p = to_aligned(q, 256, lm[48]);
        let v = out.get_pixel(p[0].round() as u32, p[1].round() as u32)[0];
        assert!(v > 100, "mouth corner not at its mapped place: {v}");
    }

    #[test]
    fn reflection_stays_inside() {
        for v in [-5.0, -0.5, 0.0, 3.3, 9.0, 12.0, 25.0] {
            let r = reflect(v, 10.0);
            assert!((0.0..=9.0).contains(&r), "{v} -> {r}");
        }
    }
}

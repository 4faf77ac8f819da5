//! Showing the real photo through near its keyframe.

use image::RgbImage;

/// Weight of the real photo at `alpha` of the way between two keyframes: γ(1+cos 2πα)/2.
/// It is γ at both keyframes (α = 0, 1) and 0 half-way, so each photo fades in and out smoothly.
pub fn keyframe_weight(alpha: f32, gamma: f32) -> f32 {
    gamma * (1.0 + (2.0 * std::f32::consts::PI * alpha).cos()) / 2.0
}

/// `(1 − w)·a + w·b`, per channel, rounded.
pub fn mix(a: &RgbImage, b: &RgbImage, w: f32) -> RgbImage {
    if w <= 0.0 {
        return a.clone();
    }
    // Fixed point (8 fractional bits) keeps this a cheap integer loop the compiler vectorises.
    let wb = (w.clamp(0.0, 1.0) * 256.0).round() as u32;
    let wa = 256 - wb;
    let mut out = RgbImage::new(a.width(), a.height());
    for ((o, &x), &y) in out.iter_mut().zip(a.iter()).zip(b.iter()) {
        *o = ((x as u32 * wa + y as u32 * wb + 128) >> 8) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_gamma_at_keyframes_and_zero_half_way() {
        assert!((keyframe_weight(0.0, 0.5) - 0.5).abs() < 1e-6);
        assert!((keyframe_weight(1.0, 0.5) - 0.5).abs() < 1e-6);
        assert!(keyframe_weight(0.5, 0.5).abs() < 1e-6);
        assert!((keyframe_weight(0.25, 1.0) - 0.5).abs() < 1e-6);
        assert_eq!(keyframe_weight(0.3, 0.0), 0.0);
    }

    #[test]
    fn mix_interpolates_and_keeps_ends() {
        let a = RgbImage::from_pixel(2, 2, image::Rgb([0, 100, 200]));
        let b = RgbImage::from_pixel(2, 2, image::Rgb([200, 100, 0]));
        assert_eq!(mix(&a, &b, 0.0), a);
        assert_eq!(mix(&a, &b, 1.0), b);
        assert_eq!(mix(&a, &b, 0.5).get_pixel(1, 1).0, [100, 100, 100]);
    }
}

//! Pixel cross-fade: the baseline every other renderer is measured against.

use super::{backdrop, blend, Backdrop, FrameSpec, Keyframe, LapseError, Renderer};
use image::RgbImage;

/// Linear blend of the two keyframes' pixels. Shows two overlaid faces mid-way ("ghosts").
pub struct PixelRenderer;

impl Renderer for PixelRenderer {
    fn name(&self) -> &'static str {
        "pixel"
    }

    fn frame(&self, keyframes: &[Keyframe], spec: FrameSpec) -> Result<RgbImage, LapseError> {
        let (a, b) = super::keyframe_pair(keyframes, spec)?;
        Ok(blend::mix(&a.image, &b.image, spec.alpha))
    }

    /// The cross-fade at the texture share the real photo's weight gives; with a backdrop,
    /// each photo's person is laid over it (the same treatment as the morph's, so comparisons
    /// stay fair).
    fn frame_blended(
        &self,
        keyframes: &[Keyframe],
        spec: FrameSpec,
        nearest: usize,
        weight: f32,
        backdrop: Option<&Backdrop>,
    ) -> Result<RgbImage, LapseError> {
        let (a, b) = super::keyframe_pair(keyframes, spec)?;
        let s = super::texture_share(spec, nearest, weight);
        let (Some(backdrop), Some(ma), Some(mb)) = (backdrop, &a.person, &b.person) else {
            return Ok(blend::mix(&a.image, &b.image, s));
        };
        let mut out = RgbImage::new(a.image.width(), a.image.height());
        let pixels = out.pixels_mut().zip(a.image.pixels().zip(b.image.pixels()));
        for (i, (o, (pa, pb))) in pixels.enumerate() {
            let (ca, cb) = (pa.0.map(f32::from), pb.0.map(f32::from));
            o.0 = backdrop::over_backdrop(
                ca,
                ma.value(i),
                cb,
                mb.value(i),
                s,
                backdrop.at(spec.from, spec.to, s, i),
            );
        }
        Ok(out)
    }
}

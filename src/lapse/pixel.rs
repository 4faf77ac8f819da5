//! Pixel cross-fade: the baseline every other renderer is measured against.

use super::{blend, FrameSpec, Keyframe, LapseError, Renderer};
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
}

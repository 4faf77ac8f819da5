//! A person's mask: per pixel, the probability that it shows the person rather than the
//! background. Made by the person segmenter, used by the renderers and plain data in between.

/// A probability per pixel (0–1) that it shows the person, row by row.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMask {
    pub width: u32,
    pub height: u32,
    pub values: Vec<f32>,
}

impl PersonMask {
    /// The probability at pixel (x, y); outside the mask, that of the nearest edge pixel.
    pub fn at(&self, x: i64, y: i64) -> f32 {
        let x = x.clamp(0, (self.width as i64 - 1).max(0)) as usize;
        let y = y.clamp(0, (self.height as i64 - 1).max(0)) as usize;
        self.values
            .get(y * self.width as usize + x)
            .copied()
            .unwrap_or(0.0)
    }

    /// Bilinear sample at (x, y) in pixel coordinates, like [`crate::leaves::resize::bilinear`].
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x, y) = (
            x.clamp(0.0, (self.width as f32 - 1.0).max(0.0)),
            y.clamp(0.0, (self.height as f32 - 1.0).max(0.0)),
        );
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let top = self.at(x0, y0) * (1.0 - fx) + self.at(x0 + 1, y0) * fx;
        let bottom = self.at(x0, y0 + 1) * (1.0 - fx) + self.at(x0 + 1, y0 + 1) * fx;
        top * (1.0 - fy) + bottom * fy
    }
}

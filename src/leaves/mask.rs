//! A person's mask: per pixel, the probability that it shows the person rather than the
//! background. Made by the person segmenter, used by the renderers and plain data in between.

/// A probability per pixel that it shows the person, row by row, kept in 8 bits (0–255 for
/// 0–1): a mask lives as long as its keyframe, and a byte per pixel is as much as the
/// segmenter's precision carries.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonMask {
    pub width: u32,
    pub height: u32,
    levels: Vec<u8>,
}

impl PersonMask {
    /// A mask from probabilities (clamped to 0–1), row by row; missing ones are 0.
    pub fn from_probabilities(
        width: u32,
        height: u32,
        probabilities: impl IntoIterator<Item = f32>,
    ) -> Self {
        let len = width as usize * height as usize;
        let mut levels: Vec<u8> = probabilities
            .into_iter()
            .take(len)
            .map(|p| (p.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        levels.resize(len, 0);
        Self {
            width,
            height,
            levels,
        }
    }

    /// The probability at pixel `index` (row by row); 0 past the end.
    pub fn value(&self, index: usize) -> f32 {
        self.levels.get(index).map_or(0.0, |&l| l as f32 / 255.0)
    }

    /// The probability at pixel (x, y); outside the mask, that of the nearest edge pixel.
    pub fn at(&self, x: i64, y: i64) -> f32 {
        let x = x.clamp(0, (self.width as i64 - 1).max(0)) as usize;
        let y = y.clamp(0, (self.height as i64 - 1).max(0)) as usize;
        self.value(y * self.width as usize + x)
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

    /// Every pixel's probability, row by row.
    pub fn probabilities(&self) -> impl Iterator<Item = f32> + '_ {
        self.levels.iter().map(|&l| l as f32 / 255.0)
    }
}

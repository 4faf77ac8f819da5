//! One palette for a whole video and fast, parallel mapping of frames onto it.
//!
//! NeuQuant (from `color_quant`) learns the palette from pixels sampled across the video, so
//! colours do not jump between frames. Mapping uses a 64³ nearest-colour table built once:
//! NeuQuant's own per-pixel search is ~50× slower, and the quantiser crates do not map onto a
//! palette given to them with the dithers a GIF video needs.

use image::RgbImage;
use rayon::prelude::*;

/// How frames are dithered onto the palette (the `[gif] dither` setting).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
pub enum Dither {
    /// No dithering: banding in gradients, smallest files.
    None,
    /// 8×8 Bayer matrix: the same pattern in every frame, so still areas do not shimmer and
    /// LZW compresses well.
    Ordered,
    /// Error diffusion: the most faithful still frame, but noise moves from frame to frame.
    #[serde(alias = "fs")]
    #[value(alias = "fs")]
    FloydSteinberg,
}

const LUT_BITS: u32 = 6;
const LUT_SIDE: usize = 1 << LUT_BITS;

/// A palette and its nearest-colour table.
pub struct Palette {
    colors: Vec<[u8; 3]>,
    lut: Vec<u8>,
    /// Amplitude of the ordered-dither pattern.
    strength: i32,
}

impl Palette {
    /// Learns up to `size` colours from pixels sampled evenly across `frames`.
    pub fn learn(frames: &[&RgbImage], size: u32) -> Self {
        const SAMPLE_PIXELS: usize = 300_000;
        let total: usize = frames
            .iter()
            .map(|f| (f.width() * f.height()) as usize)
            .sum();
        let step = (total / SAMPLE_PIXELS).max(1);
        let mut rgba = Vec::with_capacity(4 * (total / step + 1));
        for frame in frames {
            for px in frame.pixels().step_by(step) {
                rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
            }
        }
        if rgba.is_empty() {
            rgba.extend_from_slice(&[0, 0, 0, 255]);
        }
        let nq = color_quant::NeuQuant::new(3, size.clamp(2, 256) as usize, &rgba);
        let colors: Vec<[u8; 3]> = nq
            .color_map_rgb()
            .chunks_exact(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        Self::from_colors(colors)
    }

    /// A palette of exactly these colours (at least one).
    pub fn from_colors(colors: Vec<[u8; 3]>) -> Self {
        let colors = if colors.is_empty() {
            vec![[0, 0, 0]]
        } else {
            colors
        };
        let lut: Vec<u8> = (0..LUT_SIDE * LUT_SIDE * LUT_SIDE)
            .into_par_iter()
            .map(|cell| {
                let centre = |c: usize| ((c << (8 - LUT_BITS)) | (1 << (7 - LUT_BITS))) as i32;
                let r = centre(cell >> (2 * LUT_BITS));
                let g = centre((cell >> LUT_BITS) & (LUT_SIDE - 1));
                let b = centre(cell & (LUT_SIDE - 1));
                nearest(&colors, r, g, b)
            })
            .collect();
        let mut palette = Self {
            colors,
            lut,
            strength: 0,
        };
        palette.strength = palette.dither_strength();
        palette
    }

    /// Palette entries as `r, g, b, r, g, b, …`.
    pub fn rgb_bytes(&self) -> Vec<u8> {
        self.colors.iter().flatten().copied().collect()
    }

    pub fn len(&self) -> usize {
        self.colors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.colors.is_empty()
    }

    pub fn color(&self, index: u8) -> [u8; 3] {
        self.colors[index as usize % self.colors.len()]
    }

    #[inline]
    fn lookup(&self, r: i32, g: i32, b: i32) -> u8 {
        let q = |v: i32| (v.clamp(0, 255) as usize) >> (8 - LUT_BITS);
        self.lut[(q(r) << (2 * LUT_BITS)) | (q(g) << LUT_BITS) | q(b)]
    }

    /// Palette indices for one frame.
    pub fn map(&self, frame: &RgbImage, dither: Dither) -> Vec<u8> {
        match dither {
            Dither::None => frame
                .pixels()
                .map(|p| self.lookup(p[0] as i32, p[1] as i32, p[2] as i32))
                .collect(),
            Dither::Ordered => self.map_ordered(frame),
            Dither::FloydSteinberg => self.map_floyd_steinberg(frame),
        }
    }

    fn map_ordered(&self, frame: &RgbImage) -> Vec<u8> {
        // Bayer thresholds centred on zero, scaled to about half a palette step.
        const BAYER8: [[i32; 8]; 8] = [
            [0, 32, 8, 40, 2, 34, 10, 42],
            [48, 16, 56, 24, 50, 18, 58, 26],
            [12, 44, 4, 36, 14, 46, 6, 38],
            [60, 28, 52, 20, 62, 30, 54, 22],
            [3, 35, 11, 43, 1, 33, 9, 41],
            [51, 19, 59, 27, 49, 17, 57, 25],
            [15, 47, 7, 39, 13, 45, 5, 37],
            [63, 31, 55, 23, 61, 29, 53, 21],
        ];
        let strength = self.strength;
        let w = frame.width() as usize;
        frame
            .as_raw()
            .chunks_exact(3)
            .enumerate()
            .map(|(i, p)| {
                let (x, y) = (i % w, i / w);
                let t = (BAYER8[y & 7][x & 7] * 2 - 63) * strength / 128;
                self.lookup(p[0] as i32 + t, p[1] as i32 + t, p[2] as i32 + t)
            })
            .collect()
    }

    /// Serpentine Floyd–Steinberg with errors damped to 7/8 so they cannot run away.
    fn map_floyd_steinberg(&self, frame: &RgbImage) -> Vec<u8> {
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        let raw = frame.as_raw();
        let mut out = vec![0u8; w * h];
        // Errors in 1/16 units for this row and the next, with a pixel of margin on each side.
        let mut cur = vec![[0i32; 3]; w + 2];
        let mut next = vec![[0i32; 3]; w + 2];
        for y in 0..h {
            let ltr = y % 2 == 0;
            for step in 0..w {
                let x = if ltr { step } else { w - 1 - step };
                let i = y * w + x;
                let e = cur[x + 1];
                let want = [
                    raw[3 * i] as i32 + e[0] / 16,
                    raw[3 * i + 1] as i32 + e[1] / 16,
                    raw[3 * i + 2] as i32 + e[2] / 16,
                ];
                let index = self.lookup(want[0], want[1], want[2]);
                out[i] = index;
                let got = self.colors[index as usize];
                let (fwd, back) = if ltr { (x + 2, x) } else { (x, x + 2) };
                for c in 0..3 {
                    let err = (want[c].clamp(0, 255) - got[c] as i32) * 7 / 8;
                    cur[fwd][c] += err * 7;
                    next[back][c] += err * 3;
                    next[x + 1][c] += err * 5;
                    next[fwd][c] += err;
                }
            }
            std::mem::swap(&mut cur, &mut next);
            next.iter_mut().for_each(|e| *e = [0; 3]);
        }
        out
    }

    /// Typical distance between neighbouring palette colours, for ordered dithering: the
    /// median over colours of the distance to the closest other colour. Learned palettes crowd
    /// colours where the image has many (skin), so a fixed strength would add visible noise.
    fn dither_strength(&self) -> i32 {
        if self.colors.len() < 2 {
            return 0;
        }
        let mut closest: Vec<f64> = self
            .colors
            .iter()
            .enumerate()
            .map(|(i, a)| {
                self.colors
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, b)| {
                        (0..3)
                            .map(|c| (a[c] as f64 - b[c] as f64).powi(2))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
                    .sqrt()
            })
            .collect();
        closest.sort_by(f64::total_cmp);
        closest[closest.len() / 2].round().clamp(2.0, 64.0) as i32
    }
}

fn nearest(colors: &[[u8; 3]], r: i32, g: i32, b: i32) -> u8 {
    let mut best = 0;
    let mut best_d = i32::MAX;
    for (i, c) in colors.iter().enumerate() {
        let (dr, dg, db) = (c[0] as i32 - r, c[1] as i32 - g, c[2] as i32 - b);
        // Weighted towards green, as the eye is (a cheap stand-in for a perceptual distance).
        let d = 2 * dr * dr + 4 * dg * dg + 3 * db * db;
        if d < best_d {
            best_d = d;
            best = i;
        }
    }
    best as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gradient() -> RgbImage {
        RgbImage::from_fn(128, 64, |x, y| {
            image::Rgb([(x * 2) as u8, (y * 4) as u8, 128])
        })
    }

    fn unmap(p: &Palette, idx: &[u8], w: u32, h: u32) -> RgbImage {
        RgbImage::from_raw(w, h, idx.iter().flat_map(|&i| p.color(i)).collect()).expect("size")
    }

    #[test]
    fn colours_in_the_palette_map_to_themselves() {
        let p = Palette::from_colors(vec![[0, 0, 0], [255, 255, 255], [200, 30, 30]]);
        let img = RgbImage::from_fn(3, 1, |x, _| image::Rgb(p.color(x as u8)));
        assert_eq!(p.map(&img, Dither::None), vec![0, 1, 2]);
    }

    #[test]
    fn learned_palette_reproduces_a_gradient_faithfully() {
        let img = gradient();
        let p = Palette::learn(&[&img], 256);
        for dither in [Dither::None, Dither::Ordered, Dither::FloydSteinberg] {
            let back = unmap(&p, &p.map(&img, dither), 128, 64);
            let db = crate::video::psnr(&img, &back);
            // Error diffusion trades per-pixel error for the right local average.
            let floor = if dither == Dither::FloydSteinberg {
                27.0
            } else {
                30.0
            };
            assert!(db > floor, "{dither:?}: {db:.1} dB");
        }
    }

    #[test]
    fn dithering_keeps_the_average_colour_of_a_flat_area() {
        // A flat colour half-way between two palette entries: no dither picks one, dithers mix.
        let p = Palette::from_colors(vec![[0, 0, 0], [100, 100, 100]]);
        let img = RgbImage::from_pixel(64, 64, image::Rgb([50, 50, 50]));
        for dither in [Dither::Ordered, Dither::FloydSteinberg] {
            let idx = p.map(&img, dither);
            let share = idx.iter().filter(|&&i| i == 1).count() as f64 / idx.len() as f64;
            assert!((0.35..0.65).contains(&share), "{dither:?}: {share}");
        }
    }
}

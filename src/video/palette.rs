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
    /// 8×8 Bayer matrix where the palette is coarse: the same pattern in every frame, so still
    /// areas do not shimmer and LZW compresses well.
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
    /// Learns up to `size` colours from pixels sampled evenly across `frames`: NeuQuant for a
    /// start, then a few rounds of k-means on a histogram of the samples, which moves each
    /// colour to the mean of the pixels it stands for (NeuQuant leaves colours a few levels off,
    /// which shows as noise on skin). Pixels in the middle of a frame, where a time-lapse's face
    /// is, count twice.
    pub fn learn(frames: &[&RgbImage], size: u32) -> Self {
        let samples = Samples::of(frames);
        let size = size.clamp(2, 256) as usize;
        let nq = color_quant::NeuQuant::new(3, size, &samples.rgba);
        let start: Vec<[f32; 3]> = nq
            .color_map_rgb()
            .chunks_exact(3)
            .map(|c| [c[0] as f32, c[1] as f32, c[2] as f32])
            .collect();
        let refined = kmeans(&samples.histogram(), start, KMEANS_ROUNDS);
        Self::from_colors(
            refined
                .iter()
                .map(|c| c.map(|v| v.round().clamp(0.0, 255.0) as u8))
                .collect(),
        )
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

    /// Weighted squared distance between palette colour `index` and `px`, as the
    /// nearest-colour search measures it.
    #[inline]
    pub fn distance(&self, index: u8, px: [u8; 3]) -> i32 {
        let c = self.color(index);
        (0..3)
            .map(|k| WEIGHTS[k] * (c[k] as i32 - px[k] as i32).pow(2))
            .sum()
    }

    /// Whether palette colour `index` is within `tolerance` levels of `px` (the root mean square
    /// over the channels, weighted as [`Palette::distance`] weighs them).
    #[inline]
    pub fn within(&self, index: u8, px: [u8; 3], tolerance: f32) -> bool {
        let limit = tolerance * tolerance * (WEIGHTS[0] + WEIGHTS[1] + WEIGHTS[2]) as f32;
        self.distance(index, px) as f32 <= limit
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

    /// Ordered dithering where the palette is coarse: a pixel whose nearest colour is within
    /// [`DITHER_THRESHOLD`] levels takes that colour, so areas the palette covers well stay
    /// clean (and compress well); gradients it covers coarsely are dithered.
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
                let (r, g, b) = (p[0] as i32, p[1] as i32, p[2] as i32);
                let plain = self.lookup(r, g, b);
                if self.within(plain, [p[0], p[1], p[2]], DITHER_THRESHOLD) {
                    return plain;
                }
                let (x, y) = (i % w, i / w);
                let t = (BAYER8[y & 7][x & 7] * 2 - 63) * strength / 128;
                self.lookup(r + t, g + t, b + t)
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

/// Ordered dithering applies only where the nearest palette colour is further off than this
/// (levels, weighted root mean square): measured on time-lapse frames, dithering what the
/// palette already matches adds noise and bytes and no fidelity.
const DITHER_THRESHOLD: f32 = 5.0;
/// Rounds of k-means after NeuQuant: most of the gain comes in the first two.
const KMEANS_ROUNDS: usize = 4;
/// Channel weights of the colour distance, towards green as the eye is (a cheap stand-in for a
/// perceptual distance); the nearest-colour table and k-means use the same ones.
const WEIGHTS: [i32; 3] = [2, 4, 3];

/// Pixels sampled for learning a palette: RGBA for NeuQuant, with the centre of each frame
/// sampled twice as densely.
struct Samples {
    rgba: Vec<u8>,
}

impl Samples {
    fn of(frames: &[&RgbImage]) -> Self {
        const SAMPLE_PIXELS: usize = 300_000;
        let total: usize = frames
            .iter()
            .map(|f| (f.width() * f.height()) as usize)
            .sum();
        // Every `step`-th pixel outside the centre, every (step/2)-th inside it: about
        // SAMPLE_PIXELS in all.
        let step = (total * 5 / 4 / SAMPLE_PIXELS).max(2);
        let mut rgba = Vec::with_capacity(4 * (2 * total / step + 1));
        for frame in frames {
            let (w, h) = (frame.width() as usize, frame.height() as usize);
            for (i, px) in frame.pixels().enumerate() {
                let (x, y) = (i % w, i / w);
                // The centre: an ellipse over the middle half of the frame.
                let (dx, dy) = (
                    (2 * x) as f32 / w as f32 - 1.0,
                    (2 * y) as f32 / h as f32 - 1.0,
                );
                let centre = dx * dx + dy * dy < 0.36;
                let every = if centre { step / 2 } else { step };
                if i % every == 0 {
                    rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
                }
            }
        }
        if rgba.is_empty() {
            rgba.extend_from_slice(&[0, 0, 0, 255]);
        }
        Self { rgba }
    }

    /// The samples binned at 6 bits a channel: each bin's mean colour and count.
    fn histogram(&self) -> Vec<([f32; 3], f32)> {
        const BITS: u32 = 6;
        let mut bins = vec![([0u32; 3], 0u32); 1 << (3 * BITS)];
        for px in self.rgba.chunks_exact(4) {
            let q = |v: u8| (v >> (8 - BITS)) as usize;
            let bin = &mut bins[(q(px[0]) << (2 * BITS)) | (q(px[1]) << BITS) | q(px[2])];
            for (sum, &v) in bin.0.iter_mut().zip(px) {
                *sum += v as u32;
            }
            bin.1 += 1;
        }
        bins.into_iter()
            .filter(|b| b.1 > 0)
            .map(|(sum, n)| (sum.map(|s| s as f32 / n as f32), n as f32))
            .collect()
    }
}

/// [`Palette::distance`] between two points of colour space.
fn distance(a: &[f32; 3], b: &[f32; 3]) -> f32 {
    (0..3)
        .map(|c| WEIGHTS[c] as f32 * (a[c] - b[c]) * (a[c] - b[c]))
        .sum()
}

/// Lloyd's k-means on weighted points, from `centres`. A centre left without points moves to
/// the point worst served, so no palette entry is wasted.
fn kmeans(points: &[([f32; 3], f32)], mut centres: Vec<[f32; 3]>, rounds: usize) -> Vec<[f32; 3]> {
    if centres.is_empty() || points.is_empty() {
        return centres;
    }
    let k = centres.len();
    for _ in 0..rounds {
        let nearest_of = |p: &[f32; 3]| {
            let mut best = (0, f32::INFINITY);
            for (i, c) in centres.iter().enumerate() {
                let d = distance(p, c);
                if d < best.1 {
                    best = (i, d);
                }
            }
            best
        };
        // Per centre: the weighted sums of its points' channels and their weight; and the point
        // served worst (weighted distance, index).
        type Sums = (Vec<[f64; 4]>, (f32, usize));
        let empty = || -> Sums { (vec![[0f64; 4]; k], (0.0, 0)) };
        let (sums, worst) = points
            .par_iter()
            .enumerate()
            .fold(empty, |(mut sums, mut worst), (j, (p, w))| {
                let (i, d) = nearest_of(p);
                let s = &mut sums[i];
                for c in 0..3 {
                    s[c] += (p[c] * w) as f64;
                }
                s[3] += *w as f64;
                if d * w > worst.0 {
                    worst = (d * w, j);
                }
                (sums, worst)
            })
            .reduce(empty, |(mut a, wa), (b, wb)| {
                for (x, y) in a.iter_mut().zip(&b) {
                    for c in 0..4 {
                        x[c] += y[c];
                    }
                }
                (a, if wa.0 >= wb.0 { wa } else { wb })
            });
        let mut orphan_moved = false;
        for (centre, s) in centres.iter_mut().zip(&sums) {
            if s[3] > 0.0 {
                *centre = [0, 1, 2].map(|c| (s[c] / s[3]) as f32);
            } else if !orphan_moved {
                *centre = points[worst.1].0;
                orphan_moved = true;
            }
        }
    }
    centres
}

fn nearest(colors: &[[u8; 3]], r: i32, g: i32, b: i32) -> u8 {
    let mut best = 0;
    let mut best_d = i32::MAX;
    for (i, c) in colors.iter().enumerate() {
        let (dr, dg, db) = (c[0] as i32 - r, c[1] as i32 - g, c[2] as i32 - b);
        let d = WEIGHTS[0] * dr * dr + WEIGHTS[1] * dg * dg + WEIGHTS[2] * db * db;
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

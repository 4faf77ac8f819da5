//! Difference hash: the same photo re-encoded or resized. (Exact duplicates go by
//! [`crate::leaves::hash::content_hash`].)

use image::RgbImage;

/// A 128-bit difference hash: brightness gradients of a 9×8 (horizontal) and an 8×9 (vertical)
/// thumbnail. Survives re-encoding, resizing and mild colour changes; differs for different shots.
/// Written here because it is a dozen lines on pixels we already hold, while the hashing crates
/// bring DCT stacks we do not use.
///
/// On a flat or nearly flat picture (a wall, the sky, a page with a line of text) the gradients
/// are noise and the bits say nothing, so such a picture is never a near-duplicate of another;
/// the mean colour guards against two different pictures that happen to share a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiffHash {
    pub bits: u128,
    /// How many of the 128 gradients are large enough to survive re-encoding.
    pub strong: u32,
    /// Mean colour of the picture.
    pub mean: [u8; 3],
}

/// A gradient smaller than this (of 255) may flip when the photo is re-encoded.
const STRONG_GRADIENT: i16 = 4;
/// Fewer strong gradients than this and the hash is noise.
const MIN_STRONG: u32 = 24;
/// Two pictures whose mean colours differ by more than this in a channel are different pictures.
const MAX_MEAN_DIFFERENCE: u8 = 24;

impl DiffHash {
    pub fn of(image: &RgbImage) -> Self {
        let gray = image::imageops::grayscale(image);
        let h = image::imageops::resize(&gray, 9, 8, image::imageops::FilterType::Triangle);
        let v = image::imageops::resize(&gray, 8, 9, image::imageops::FilterType::Triangle);
        let (mut bits, mut strong) = (0u128, 0u32);
        let mut k = 0;
        let mut gradient = |from: u8, to: u8, bit: u32| {
            let d = to as i16 - from as i16;
            if d > 0 {
                bits |= 1 << bit;
            }
            if d.abs() >= STRONG_GRADIENT {
                strong += 1;
            }
        };
        for y in 0..8 {
            for x in 0..8 {
                gradient(h.get_pixel(x, y)[0], h.get_pixel(x + 1, y)[0], k);
                gradient(v.get_pixel(x, y)[0], v.get_pixel(x, y + 1)[0], k + 64);
                k += 1;
            }
        }
        let one = image::imageops::thumbnail(image, 1, 1);
        Self {
            bits,
            strong,
            mean: one.get_pixel(0, 0).0,
        }
    }

    /// Number of differing bits.
    pub fn distance(self, other: Self) -> u32 {
        (self.bits ^ other.bits).count_ones()
    }

    /// Whether the picture has enough structure for its hash to mean anything.
    pub fn is_detailed(self) -> bool {
        self.strong >= MIN_STRONG
    }

    /// The differing bits when `other` is the same picture re-encoded or resized: both detailed,
    /// of the same mean colour, and at most `max_bits` apart.
    pub fn near_duplicate(self, other: Self, max_bits: u32) -> Option<u32> {
        let same_colour = self
            .mean
            .iter()
            .zip(other.mean)
            .all(|(a, b)| a.abs_diff(b) <= MAX_MEAN_DIFFERENCE);
        let bits = self.distance(other);
        (self.is_detailed() && other.is_detailed() && same_colour && bits <= max_bits)
            .then_some(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A portrait-like picture: a lit oval on a graded background, with some texture.
    fn picture(seed: u32) -> RgbImage {
        RgbImage::from_fn(320, 240, |x, y| {
            let (dx, dy) = (x as f32 - 160.0, y as f32 - 110.0);
            let inside = (dx / 70.0).powi(2) + (dy / 90.0).powi(2) < 1.0;
            let texture = ((x * 7 + y * 13 + seed * 31) % 23) as f32;
            let base = if inside { 190.0 } else { 40.0 + y as f32 * 0.4 };
            let v = (base + texture + (x as f32 / 8.0).sin() * 20.0) as u8;
            image::Rgb([v, v.saturating_sub(30), v / 2])
        })
    }

    #[test]
    fn a_resized_copy_is_a_near_duplicate() {
        let original = picture(1);
        let small =
            image::imageops::resize(&original, 160, 120, image::imageops::FilterType::Triangle);
        let (a, b) = (DiffHash::of(&original), DiffHash::of(&small));
        assert!(a.is_detailed(), "{a:?}");
        assert!(a.near_duplicate(b, 10).is_some(), "{a:?} {b:?}");
    }

    #[test]
    fn flat_and_nearly_flat_pictures_are_not_duplicates_of_each_other() {
        let flat = |c: [u8; 3]| RgbImage::from_pixel(300, 200, image::Rgb(c));
        let noisy = RgbImage::from_fn(300, 200, |x, y| {
            let n = (x
                .wrapping_mul(2654435761)
                .wrapping_add(y.wrapping_mul(40503))
                >> 29) as u8;
            image::Rgb([120 + n, 120 + n, 120 + n])
        });
        let sky = RgbImage::from_fn(300, 200, |_, y| image::Rgb([90, 140, 200 + (y / 40) as u8]));
        let mut text = flat([255, 255, 255]);
        for x in 100..200 {
            for y in 95..105 {
                if (x / 3 + y) % 4 == 0 {
                    text.put_pixel(x, y, image::Rgb([220, 0, 0]));
                }
            }
        }
        let hashes: Vec<DiffHash> = [
            flat([255, 255, 255]),
            flat([250, 250, 250]),
            flat([0, 0, 0]),
            noisy,
            sky,
            text,
        ]
        .iter()
        .map(DiffHash::of)
        .collect();
        for (i, a) in hashes.iter().enumerate() {
            assert!(!a.is_detailed(), "picture {i}: {a:?}");
            for b in &hashes[i + 1..] {
                assert_eq!(a.near_duplicate(*b, 10), None);
            }
        }
    }

    #[test]
    fn different_pictures_are_not_near_duplicates() {
        let (a, b) = (
            DiffHash::of(&picture(1)),
            DiffHash::of(&image::imageops::flip_horizontal(&picture(5))),
        );
        assert!(b.is_detailed());
        assert_eq!(
            a.near_duplicate(
                DiffHash {
                    mean: [0, 0, 0],
                    ..a
                },
                10
            ),
            None
        );
        assert!(a.distance(b) > 0);
    }
}

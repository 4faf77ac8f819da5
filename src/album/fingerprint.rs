//! Content hash (exact duplicates) and difference hash (the same photo re-encoded or resized).

use image::RgbImage;
use sha2::{Digest, Sha256};

/// SHA-256 of the file's bytes, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 128-bit difference hash: brightness gradients of a 9×8 (horizontal) and an 8×9 (vertical)
/// thumbnail. Survives re-encoding, resizing and mild colour changes; differs for different shots.
/// Written here because it is a dozen lines on pixels we already hold, while the hashing crates
/// bring DCT stacks we do not use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DiffHash(pub u128);

impl DiffHash {
    pub fn of(image: &RgbImage) -> Self {
        let gray = image::imageops::grayscale(image);
        let h = image::imageops::resize(&gray, 9, 8, image::imageops::FilterType::Triangle);
        let v = image::imageops::resize(&gray, 8, 9, image::imageops::FilterType::Triangle);
        let mut bits = 0u128;
        let mut k = 0;
        for y in 0..8 {
            for x in 0..8 {
                if h.get_pixel(x + 1, y)[0] > h.get_pixel(x, y)[0] {
                    bits |= 1 << k;
                }
                if v.get_pixel(x, y + 1)[0] > v.get_pixel(x, y)[0] {
                    bits |= 1 << (k + 64);
                }
                k += 1;
            }
        }
        Self(bits)
    }

    /// Number of differing bits.
    pub fn distance(self, other: Self) -> u32 {
        (self.0 ^ other.0).count_ones()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            content_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

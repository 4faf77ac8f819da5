//! Bytes → upright RGB pixels, with limits checked before any pixel is decoded.

use super::heif;
use super::metadata::{self, Metadata};
use image::{DynamicImage, ImageFormat, RgbImage};
use std::io::Cursor;

/// Limits applied to one photo before its pixels are decoded.
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    pub max_file_bytes: u64,
    pub max_pixels: u64,
}

/// Why one photo could not be used. Each message is meant for the person who sent it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PhotoError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {size_mb:.1} MB, over the {limit_mb} MB limit")]
    TooLarge { size_mb: f64, limit_mb: u64 },
    #[error("the image is {width}×{height} ({megapixels:.1} MP), over the {limit_mp:.0} MP limit")]
    TooManyPixels {
        width: u32,
        height: u32,
        megapixels: f64,
        limit_mp: f64,
    },
    #[error("not a supported image (JPEG, PNG, WebP or HEIC expected)")]
    UnknownFormat,
    #[error("the JPEG is truncated (it ends before its last image data)")]
    Truncated,
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Heif(String),
    #[error("cannot read the file: {0}")]
    Io(String),
    #[error("the album already has {0} photos, the most one album may hold")]
    AlbumFull(usize),
}

impl PhotoError {
    /// The Fluent message (in `locales/*.ftl`) that tells a chat user about this error.
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::Empty => "photo-empty",
            Self::TooLarge { .. } => "photo-too-large",
            Self::TooManyPixels { .. } => "photo-too-many-pixels",
            Self::UnknownFormat => "photo-unknown-format",
            Self::Truncated => "photo-truncated",
            Self::Corrupt(_) => "photo-corrupt",
            Self::Heif(_) => "photo-heif",
            Self::Io(_) => "photo-unreadable",
            Self::AlbumFull(_) => "photo-album-full",
        }
    }

    /// The arguments [`PhotoError::message_key`]'s message takes.
    pub fn message_args(&self) -> std::collections::BTreeMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Self::Empty | Self::UnknownFormat | Self::Truncated => Vec::new(),
            Self::TooLarge { size_mb, limit_mb } => vec![
                ("size-mb", format!("{size_mb:.1}")),
                ("limit-mb", limit_mb.to_string()),
            ],
            Self::TooManyPixels {
                width,
                height,
                megapixels,
                limit_mp,
            } => vec![
                ("width", width.to_string()),
                ("height", height.to_string()),
                ("megapixels", format!("{megapixels:.1}")),
                ("limit-mp", format!("{limit_mp:.0}")),
            ],
            Self::Corrupt(d) | Self::Heif(d) | Self::Io(d) => vec![("detail", d.clone())],
            Self::AlbumFull(max) => vec![("max", max.to_string())],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// The formats lifelapse accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoFormat {
    Jpeg,
    Png,
    Webp,
    Heif,
}

/// A decoded, upright photo and what its metadata said.
pub struct Decoded {
    pub image: RgbImage,
    pub format: PhotoFormat,
    pub metadata: Metadata,
}

/// Recognises the format from the first bytes; file names lie.
pub fn sniff(bytes: &[u8]) -> Option<PhotoFormat> {
    if is_heif(bytes) {
        return Some(PhotoFormat::Heif);
    }
    match image::guess_format(bytes).ok()? {
        ImageFormat::Jpeg => Some(PhotoFormat::Jpeg),
        ImageFormat::Png => Some(PhotoFormat::Png),
        ImageFormat::WebP => Some(PhotoFormat::Webp),
        _ => None,
    }
}

/// An ISO-BMFF `ftyp` box whose brands name a HEIF still image.
fn is_heif(bytes: &[u8]) -> bool {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return false;
    }
    let box_len = (u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize)
        .clamp(16, bytes.len().min(256));
    const BRANDS: [&[u8; 4]; 8] = [
        b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
    ];
    bytes[8..box_len]
        .chunks_exact(4)
        .any(|brand| BRANDS.iter().any(|b| brand == *b))
}

/// Decodes one photo: checks the limits, decodes, applies EXIF orientation, flattens alpha onto
/// white, and reads the capture date.
pub fn decode(
    bytes: &[u8],
    limits: DecodeLimits,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Decoded, PhotoError> {
    if bytes.is_empty() {
        return Err(PhotoError::Empty);
    }
    check_file_size(bytes.len() as u64, limits)?;
    let format = sniff(bytes).ok_or(PhotoError::UnknownFormat)?;
    let metadata = metadata::read(bytes, now);
    let image = match format {
        PhotoFormat::Heif => {
            // libheif applies the container's rotation itself; EXIF orientation must not be applied twice.
            let mut refused = None;
            let decoded = heif::decode(bytes, |w, h| {
                check_pixels(w, h, limits).map_err(|e| {
                    let message = e.to_string();
                    refused = Some(e);
                    message
                })
            });
            if let Some(e) = refused {
                return Err(e);
            }
            decoded.map_err(|e| PhotoError::Heif(e.to_string()))?
        }
        _ => {
            if format == PhotoFormat::Jpeg && jpeg_is_truncated(bytes) {
                return Err(PhotoError::Truncated);
            }
            let mut image = decode_raster(bytes, limits)?;
            if let Some(o) = image::metadata::Orientation::from_exif(metadata.orientation) {
                image.apply_orientation(o);
            }
            flatten(image)
        }
    };
    Ok(Decoded {
        image,
        format,
        metadata,
    })
}

pub(crate) fn check_file_size(size: u64, limits: DecodeLimits) -> Result<(), PhotoError> {
    if size > limits.max_file_bytes {
        return Err(PhotoError::TooLarge {
            size_mb: size as f64 / 1e6,
            limit_mb: limits.max_file_bytes / 1_000_000,
        });
    }
    Ok(())
}

fn check_pixels(width: u32, height: u32, limits: DecodeLimits) -> Result<(), PhotoError> {
    let pixels = width as u64 * height as u64;
    if pixels > limits.max_pixels {
        return Err(PhotoError::TooManyPixels {
            width,
            height,
            megapixels: pixels as f64 / 1e6,
            limit_mp: limits.max_pixels as f64 / 1e6,
        });
    }
    Ok(())
}

fn decode_raster(bytes: &[u8], limits: DecodeLimits) -> Result<DynamicImage, PhotoError> {
    let reader = |bytes| {
        image::ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| PhotoError::Io(e.to_string()))
    };
    let (width, height) = reader(bytes)?
        .into_dimensions()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))?;
    check_pixels(width, height, limits)?;
    let mut reader = reader(bytes)?;
    let mut image_limits = image::Limits::default();
    // Room for the decoded image in its widest layout (16-bit RGBA) plus decoder scratch.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    reader
        .decode()
        .map_err(|e| PhotoError::Corrupt(e.to_string()))
}

/// Composes transparent pixels onto white: faces on a transparent background stay visible.
fn flatten(image: DynamicImage) -> RgbImage {
    if !image.color().has_alpha() {
        return image.into_rgb8();
    }
    let rgba = image.into_rgba8();
    let (w, h) = rgba.dimensions();
    let mut out = RgbImage::new(w, h);
    for (src, dst) in rgba.pixels().zip(out.pixels_mut()) {
        let a = src[3] as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    out
}

/// Walks the JPEG's segments and entropy-coded data to its end-of-image marker. A file that runs
/// out first is truncated: some decoders fill the missing part with grey instead of failing, and
/// data after the marker (phones append videos there) is no reason to refuse a photo.
fn jpeg_is_truncated(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI
    let n = bytes.len();
    while i + 1 < n {
        if bytes[i] != 0xFF {
            return true; // not at a marker: structure is broken
        }
        let marker = bytes[i + 1];
        match marker {
            0xD9 => return false, // EOI
            0xFF => i += 1,       // fill byte
            0x01 | 0xD0..=0xD7 => i += 2,
            _ => {
                if i + 3 >= n {
                    return true;
                }
                let len = u16::from_be_bytes([bytes[i + 2], bytes[i + 3]]) as usize;
                i += 2 + len;
                if marker == 0xDA {
                    // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a restart.
                    loop {
                        match bytes
                            .get(i..)
                            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
                        {
                            None => return true,
                            Some(p) => {
                                i += p;
                                match bytes.get(i + 1) {
                                    None => return true,
                                    Some(0x00) | Some(0xD0..=0xD7) | Some(0xFF) => i += 1,
                                    Some(_) => break,
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_bytes() -> Vec<u8> {
        let img = RgbImage::from_fn(64, 48, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        });
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
            .encode_image(&img)
            .expect("encode");
        out
    }

    const LIMITS: DecodeLimits = DecodeLimits {
        max_file_bytes: 10_000_000,
        max_pixels: 10_000_000,
    };

    #[test]
    fn complete_jpeg_with_trailer_is_whole_and_cut_one_is_truncated() {
        let mut bytes = jpeg_bytes();
        assert!(!jpeg_is_truncated(&bytes));
        let cut = bytes[..bytes.len() * 2 / 3].to_vec();
        assert!(jpeg_is_truncated(&cut));
        assert_eq!(
            decode(&cut, LIMITS, chrono::Utc::now()).err(),
            Some(PhotoError::Truncated)
        );
        bytes.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
        assert!(!jpeg_is_truncated(&bytes));
        assert_eq!(
            decode(&bytes, LIMITS, chrono::Utc::now())
                .expect("decode")
                .image
                .dimensions(),
            (64, 48)
        );
    }

    #[test]
    fn pixel_limit_is_checked_before_decoding() {
        let small = DecodeLimits {
            max_file_bytes: 10_000_000,
            max_pixels: 1000,
        };
        let err = decode(&jpeg_bytes(), small, chrono::Utc::now()).err();
        assert!(
            matches!(
                err,
                Some(PhotoError::TooManyPixels {
                    width: 64,
                    height: 48,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn every_error_has_a_message_in_every_locale() {
        let errors = [
            PhotoError::Empty,
            PhotoError::TooLarge {
                size_mb: 1.0,
                limit_mb: 1,
            },
            PhotoError::TooManyPixels {
                width: 1,
                height: 1,
                megapixels: 1.0,
                limit_mp: 1.0,
            },
            PhotoError::UnknownFormat,
            PhotoError::Truncated,
            PhotoError::Corrupt(String::new()),
            PhotoError::Heif(String::new()),
            PhotoError::Io(String::new()),
            PhotoError::AlbumFull(1),
        ];
        let locales = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("locales");
        for locale in ["en.ftl", "cs.ftl"] {
            let text = std::fs::read_to_string(locales.join(locale)).expect("locale file");
            for e in &errors {
                let key = e.message_key();
                assert!(
                    text.lines().any(|l| l.starts_with(&format!("{key} ="))),
                    "{locale} lacks {key}"
                );
            }
        }
    }

    #[test]
    fn transparent_pixels_become_white_and_opaque_ones_stay() {
        let mut rgba = image::RgbaImage::from_pixel(2, 1, image::Rgba([10, 20, 30, 255]));
        rgba.put_pixel(1, 0, image::Rgba([10, 20, 30, 0]));
        let flat = flatten(DynamicImage::ImageRgba8(rgba));
        assert_eq!(flat.get_pixel(0, 0).0, [10, 20, 30]);
        assert_eq!(flat.get_pixel(1, 0).0, [255, 255, 255]);
    }

    #[test]
    fn sniffs_heif_brands() {
        let mut b = vec![0, 0, 0, 24];
        b.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        assert_eq!(sniff(&b), Some(PhotoFormat::Heif));
        assert_eq!(sniff(b"hello world, this is text"), None);
    }
}

//! Bytes → upright RGB pixels, with limits checked before any pixel is decoded.

use super::heif;
use super::metadata::{self, Metadata};
use crate::files::{FileKind, ReadError};
use crate::leaves::cause::Cause;
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
    #[error("not a supported image (JPEG, PNG, WebP, HEIC, TIFF, BMP or GIF expected)")]
    UnknownFormat,
    #[error("the JPEG is truncated (it ends before its last image data)")]
    Truncated,
    #[error("the image is corrupt")]
    Corrupt(#[source] Cause),
    #[error(transparent)]
    Heif(Cause),
    #[error(transparent)]
    Unreadable(ReadError),
    #[error("the folder holds no photo (sub-folders are not searched)")]
    NoPhotosInFolder,
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
            Self::Unreadable(e) => match e {
                ReadError::NotFound => "photo-not-found",
                ReadError::PermissionDenied => "photo-permission-denied",
                ReadError::SymlinkLoop => "photo-symlink-loop",
                ReadError::NotRegular(_) => "photo-not-regular",
                // Reads of photos map the size cap to `TooLarge`.
                ReadError::TooLarge { .. } => "photo-too-large",
                ReadError::Io(_) => "photo-unreadable",
            },
            Self::NoPhotosInFolder => "photo-empty-folder",
            Self::AlbumFull(_) => "photo-album-full",
        }
    }

    /// The arguments [`PhotoError::message_key`]'s message takes.
    pub fn message_args(&self) -> std::collections::BTreeMap<String, String> {
        let pairs: Vec<(&str, String)> = match self {
            Self::Empty | Self::UnknownFormat | Self::Truncated | Self::NoPhotosInFolder => {
                Vec::new()
            }
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
            Self::Unreadable(ReadError::NotRegular(kind)) => {
                vec![("kind", kind_key(*kind).to_string())]
            }
            Self::Unreadable(ReadError::Io(d)) | Self::Corrupt(d) | Self::Heif(d) => {
                vec![("detail", d.to_string())]
            }
            Self::Unreadable(_) => Vec::new(),
            Self::AlbumFull(max) => vec![("max", max.to_string())],
        };
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

impl PhotoError {
    /// `size` bytes against a cap of `limit`, in the megabytes the messages speak.
    fn too_large(size: u64, limit: u64) -> Self {
        Self::TooLarge {
            size_mb: size as f64 / 1e6,
            limit_mb: limit / 1_000_000,
        }
    }
}

impl From<ReadError> for PhotoError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::TooLarge { size, limit } => Self::too_large(size, limit),
            other => Self::Unreadable(other),
        }
    }
}

/// The `kind` argument of the `photo-not-regular` message.
fn kind_key(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Directory => "folder",
        FileKind::NamedPipe => "pipe",
        FileKind::Socket => "socket",
        FileKind::CharacterDevice | FileKind::BlockDevice => "device",
        FileKind::Other => "other",
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
    Tiff,
    Bmp,
    Gif,
}

impl PhotoFormat {
    /// The usual file extension, for files lifelapse writes.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::Webp => "webp",
            Self::Heif => "heic",
            Self::Tiff => "tif",
            Self::Bmp => "bmp",
            Self::Gif => "gif",
        }
    }
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
        ImageFormat::Tiff => Some(PhotoFormat::Tiff),
        ImageFormat::Bmp => Some(PhotoFormat::Bmp),
        ImageFormat::Gif => Some(PhotoFormat::Gif),
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
    check_file_size(bytes.len() as u64, limits.max_file_bytes)?;
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
            decoded.map_err(|e| PhotoError::Heif(Cause::new(e)))?
        }
        _ => {
            let bytes = if format == PhotoFormat::Jpeg {
                let scan = scan_jpeg(bytes);
                if !scan.whole {
                    return Err(PhotoError::Truncated);
                }
                scan.without_short_adobe_segments(bytes)
            } else {
                std::borrow::Cow::Borrowed(bytes)
            };
            let mut image = decode_raster(&bytes, limits)?;
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

pub(crate) fn check_file_size(size: u64, max_bytes: u64) -> Result<(), PhotoError> {
    if size > max_bytes {
        return Err(PhotoError::too_large(size, max_bytes));
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
            .map_err(|e| PhotoError::Corrupt(Cause::new(e)))
    };
    let (width, height) = reader(bytes)?
        .into_dimensions()
        .map_err(|e| PhotoError::Corrupt(Cause::new(e)))?;
    check_pixels(width, height, limits)?;
    let mut reader = reader(bytes)?;
    let mut image_limits = image::Limits::default();
    // Room for the decoded image in its widest layout (16-bit RGBA) plus decoder scratch.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);
    reader
        .decode()
        .map_err(|e| PhotoError::Corrupt(Cause::new(e)))
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

/// What one walk through a JPEG's markers found.
struct JpegScan {
    /// The end-of-image marker was reached. Some decoders fill a missing part with grey
    /// instead of failing, so the check is ours; data after the marker (phones append videos
    /// there) is no reason to refuse a photo.
    whole: bool,
    /// Where Adobe APP14 segments shorter than their 12-byte payload start.
    short_adobe: Vec<usize>,
}

fn scan_jpeg(bytes: &[u8]) -> JpegScan {
    let mut short_adobe = Vec::new();
    let whole = walk_jpeg(bytes, |at, marker, len| {
        if marker == 0xEE && len < 14 && bytes.get(at + 4..at + 9) == Some(b"Adobe") {
            short_adobe.push(at);
        }
    });
    JpegScan { whole, short_adobe }
}

/// Walks a JPEG's markers from SOI to EOI, calling `segment(at, marker, length)` for each marker
/// segment, and says whether EOI was reached. Segments are skipped by their stated lengths, and
/// bytes between segments that are not a marker (junk some writers leave, or a length that is off
/// by a little) are stepped over to the next marker as decoders do: only running out of bytes
/// counts as the file ending early.
fn walk_jpeg(bytes: &[u8], mut segment: impl FnMut(usize, u8, usize)) -> bool {
    let mut i = 2; // after SOI
    loop {
        // The next 0xFF; inside entropy-coded data this is the next marker or stuffed byte.
        match bytes
            .get(i..)
            .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
        {
            Some(p) => i += p,
            None => return false,
        }
        let Some(&marker) = bytes.get(i + 1) else {
            return false;
        };
        match marker {
            0xD9 => return true, // EOI
            // Fill byte, stuffed zero, TEM, restart markers, a stray SOI: no length follows.
            0xFF => i += 1,
            0x00 | 0x01 | 0xD0..=0xD8 => i += 2,
            _ => {
                let Some(len) = bytes.get(i + 2..i + 4) else {
                    return false;
                };
                let len = u16::from_be_bytes([len[0], len[1]]) as usize;
                segment(i, marker, len);
                // A length under 2 cannot be right; resynchronise on the next marker instead.
                i += 2 + if len < 2 { 0 } else { len };
                if i > bytes.len() {
                    return false;
                }
            }
        }
    }
}

impl JpegScan {
    /// An Adobe APP14 segment shorter than its 12-byte payload is ignored by libjpeg but refused
    /// by our decoder; it is renamed APP15, which every decoder skips, so such a photo still
    /// decodes. `bytes` are the scanned ones.
    fn without_short_adobe_segments<'a>(&self, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        if self.short_adobe.is_empty() {
            return std::borrow::Cow::Borrowed(bytes);
        }
        let mut patched = bytes.to_vec();
        for &at in &self.short_adobe {
            patched[at + 1] = 0xEF;
        }
        std::borrow::Cow::Owned(patched)
    }
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
        assert!(scan_jpeg(&bytes).whole);
        let cut = bytes[..bytes.len() * 2 / 3].to_vec();
        assert!(!scan_jpeg(&cut).whole);
        assert_eq!(
            decode(&cut, LIMITS, chrono::Utc::now()).err(),
            Some(PhotoError::Truncated)
        );
        bytes.extend_from_slice(b"\0\0\0\x18ftypmp42 trailing video");
        assert!(scan_jpeg(&bytes).whole);
        assert_eq!(
            decode(&bytes, LIMITS, chrono::Utc::now())
                .expect("decode")
                .image
                .dimensions(),
            (64, 48)
        );
    }

    /// `jpeg` with `segment` (marker, stated length, payload) and then `junk` inserted after SOI.
    fn with_segment(
        jpeg: &[u8],
        marker: u8,
        stated_len: u16,
        payload: &[u8],
        junk: &[u8],
    ) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&stated_len.to_be_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(junk);
        out.extend_from_slice(&jpeg[2..]);
        out
    }

    #[test]
    fn valid_jpegs_with_odd_segments_are_decoded() {
        let jpeg = jpeg_bytes();
        let comment = b"made by a scanner";
        let photoshop = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\0";
        let adobe = b"Adobe\0\x64\0\0\0\0\x01";
        let odd = [
            // Junk bytes after a comment segment.
            with_segment(
                &jpeg,
                0xFE,
                comment.len() as u16 + 2,
                comment,
                b"\0\x13junk",
            ),
            // An APP13 whose stated length is shorter than its data.
            with_segment(&jpeg, 0xED, 12, photoshop, b""),
            // An Adobe APP14 of length 13, one byte short of its 12-byte payload.
            with_segment(&jpeg, 0xEE, 13, adobe, b""),
        ];
        for (i, bytes) in odd.iter().enumerate() {
            assert!(scan_jpeg(bytes).whole, "case {i} called truncated");
            let decoded = decode(bytes, LIMITS, chrono::Utc::now());
            assert_eq!(
                decoded.map(|d| d.image.dimensions()).ok(),
                Some((64, 48)),
                "case {i}"
            );
        }
    }

    #[test]
    fn a_jpeg_cut_anywhere_before_its_end_is_truncated() {
        let jpeg = with_segment(&jpeg_bytes(), 0xFE, 7, b"hello", b"");
        for cut in (4..jpeg.len()).step_by(7).chain([jpeg.len() - 1]) {
            assert!(!scan_jpeg(&jpeg[..cut]).whole, "cut at {cut}");
        }
    }

    #[test]
    fn tiff_bmp_and_gif_are_decoded_upright_and_flat() {
        use image::ImageFormat as F;
        let rgb = RgbImage::from_fn(40, 30, |x, y| {
            image::Rgb([(x * 6) as u8, (y * 8) as u8, 77])
        });
        let images = [
            (
                F::Tiff,
                DynamicImage::ImageRgb8(rgb.clone()),
                PhotoFormat::Tiff,
            ),
            (
                F::Tiff,
                DynamicImage::ImageRgb16(DynamicImage::ImageRgb8(rgb.clone()).into_rgb16()),
                PhotoFormat::Tiff,
            ),
            (
                F::Tiff,
                DynamicImage::ImageLuma16(DynamicImage::ImageRgb8(rgb.clone()).into_luma16()),
                PhotoFormat::Tiff,
            ),
            (
                F::Bmp,
                DynamicImage::ImageRgb8(rgb.clone()),
                PhotoFormat::Bmp,
            ),
            (
                F::Gif,
                DynamicImage::ImageRgba8(DynamicImage::ImageRgb8(rgb.clone()).into_rgba8()),
                PhotoFormat::Gif,
            ),
        ];
        for (format, image, expected) in images {
            let mut bytes = Vec::new();
            image
                .write_to(&mut Cursor::new(&mut bytes), format)
                .expect("encode");
            assert_eq!(sniff(&bytes), Some(expected));
            let decoded = decode(&bytes, LIMITS, chrono::Utc::now()).expect("decode");
            assert_eq!(decoded.image.dimensions(), (40, 30), "{format:?}");
            let px = decoded.image.get_pixel(20, 15).0;
            let want = rgb.get_pixel(20, 15).0;
            let gray = image.color().channel_count() < 3;
            if !gray && format != F::Gif {
                assert_eq!(px, want, "{format:?}");
            }
        }
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
            PhotoError::Corrupt(Cause::words("")),
            PhotoError::Heif(Cause::words("")),
            PhotoError::Unreadable(ReadError::NotFound),
            PhotoError::Unreadable(ReadError::PermissionDenied),
            PhotoError::Unreadable(ReadError::SymlinkLoop),
            PhotoError::Unreadable(ReadError::NotRegular(FileKind::NamedPipe)),
            PhotoError::Unreadable(ReadError::Io(Cause::words(""))),
            PhotoError::NoPhotosInFolder,
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

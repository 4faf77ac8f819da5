//! Photo intake: decode with limits, EXIF orientation and capture date, content hash, and
//! duplicate removal. Only a working copy (long side `working_size`) of each photo is kept.

mod decode;
mod fingerprint;
pub mod heif;
pub mod metadata;

pub use decode::{decode, sniff, DecodeLimits, Decoded, PhotoError, PhotoFormat};
pub use fingerprint::DiffHash;
pub use metadata::CaptureDate;

use crate::config::AlbumConfig;
use crate::files::{self, display_name, ReadError};
use image::RgbImage;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// File extensions taken from a directory; files named explicitly are always tried.
const PHOTO_EXTENSIONS: [&str; 12] = [
    "jpg", "jpeg", "png", "webp", "heic", "heif", "hif", "tif", "tiff", "bmp", "dib", "gif",
];

/// How intake treats an album.
#[derive(Debug, Clone)]
pub struct IntakeOptions {
    pub limits: DecodeLimits,
    pub max_photos: usize,
    pub working_size: u32,
    pub near_duplicate_bits: u32,
    /// "Now", for refusing capture dates in the future.
    pub now: chrono::DateTime<chrono::Utc>,
}

impl IntakeOptions {
    pub fn from_config(config: &AlbumConfig) -> Self {
        Self {
            limits: DecodeLimits {
                max_file_bytes: config.max_file_mb.saturating_mul(1_000_000),
                max_pixels: (config.max_megapixels * 1e6) as u64,
            },
            max_photos: config.max_photos,
            working_size: config.working_size,
            near_duplicate_bits: config.near_duplicate_bits,
            now: chrono::Utc::now(),
        }
    }
}

/// One usable photo.
#[derive(Debug, Clone)]
pub struct Photo {
    /// Where it came from (a path, or a chat's file name).
    pub source: String,
    pub hash: String,
    pub format: PhotoFormat,
    /// Upright size of the original.
    pub width: u32,
    pub height: u32,
    pub capture_date: Option<CaptureDate>,
    /// Why a capture date in the file was not believed.
    pub date_note: Option<String>,
    pub fingerprint: DiffHash,
    /// The working copy, long side at most `working_size`.
    pub image: RgbImage,
}

/// A file that could not be used, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Rejected {
    pub source: String,
    #[serde(serialize_with = "as_display")]
    pub error: PhotoError,
}

fn as_display<S: serde::Serializer>(e: &PhotoError, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(e)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DuplicateKind {
    /// Byte-for-byte the same file.
    Exact,
    /// The same picture re-encoded or resized; `bits` of 128 differ.
    Near { bits: u32 },
}

/// A photo left out because another one in the album shows the same picture.
#[derive(Debug, Clone, Serialize)]
pub struct Duplicate {
    pub source: String,
    /// The photo that was kept.
    pub of: String,
    #[serde(flatten)]
    pub kind: DuplicateKind,
}

/// The outcome of intake: every input is in exactly one of the three lists.
#[derive(Debug, Default)]
pub struct Album {
    pub photos: Vec<Photo>,
    pub rejected: Vec<Rejected>,
    pub duplicates: Vec<Duplicate>,
}

/// Expands folders (their photo files by extension, sorted; hidden entries and sub-folders are
/// left alone) and keeps explicit files as given. A path that cannot be used (missing, a loop of
/// links, unreadable, a folder with no photo) is rejected with its reason; whether a file is a
/// regular file is checked when it is read.
pub fn expand_paths(inputs: &[PathBuf]) -> (Vec<PathBuf>, Vec<Rejected>) {
    let mut files = Vec::new();
    let mut rejected = Vec::new();
    let mut reject = |path: &Path, error| {
        rejected.push(Rejected {
            source: display_name(path),
            error,
        })
    };
    for input in inputs {
        match std::fs::metadata(input) {
            Err(e) => reject(input, ReadError::from(e).into()),
            Ok(meta) if meta.is_dir() => match std::fs::read_dir(input) {
                Err(e) => reject(input, ReadError::from(e).into()),
                Ok(entries) => {
                    let mut found = Vec::new();
                    for entry in entries {
                        match entry {
                            Ok(entry) => {
                                let path = entry.path();
                                // A link that cannot be followed is kept, so reading names why.
                                let is_dir = std::fs::metadata(&path).is_ok_and(|m| m.is_dir());
                                if !is_dir && has_photo_extension(&path) {
                                    found.push(path);
                                }
                            }
                            Err(e) => reject(input, ReadError::from(e).into()),
                        }
                    }
                    if found.is_empty() {
                        reject(input, PhotoError::NoPhotosInFolder);
                    }
                    found.sort();
                    files.extend(found);
                }
            },
            Ok(_) => files.push(input.clone()),
        }
    }
    (files, rejected)
}

fn has_photo_extension(path: &Path) -> bool {
    let hidden = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'));
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    !hidden && ext.is_some_and(|e| PHOTO_EXTENSIONS.contains(&e.as_str()))
}

/// Where intake reads a photo's bytes from.
pub trait PhotoSource: Sync {
    fn name(&self) -> String;
    /// The bytes, refused with [`PhotoError::TooLarge`] past `max_bytes` whatever the source
    /// claims its size is.
    fn read(&self, max_bytes: u64) -> Result<Vec<u8>, PhotoError>;
}

impl PhotoSource for PathBuf {
    fn name(&self) -> String {
        display_name(self)
    }
    fn read(&self, max_bytes: u64) -> Result<Vec<u8>, PhotoError> {
        Ok(files::read_regular(self, max_bytes)?)
    }
}

/// Photos already in memory, e.g. received from a chat.
impl PhotoSource for (String, Vec<u8>) {
    fn name(&self) -> String {
        self.0.clone()
    }
    fn read(&self, max_bytes: u64) -> Result<Vec<u8>, PhotoError> {
        decode::check_file_size(self.1.len() as u64, max_bytes)?;
        Ok(self.1.clone())
    }
}

/// Expands files and folders (see [`expand_paths`]) and takes them in as one album; the paths
/// that could not be expanded come first among the rejected. `total` is told how many files
/// will be read, `progress` once per file.
pub fn intake_paths(
    inputs: &[PathBuf],
    options: &IntakeOptions,
    progress: &(dyn Fn() + Sync),
    total: &dyn Fn(usize),
) -> Album {
    let (files, missing) = expand_paths(inputs);
    total(files.len());
    let mut album = intake(&files, options, progress);
    album.rejected.splice(0..0, missing);
    album
}

/// Takes in an album: every source ends up a photo, a rejection with its reason, or a duplicate.
/// `progress` is called once per source decoded. At most two full-size images are decoded at
/// once per core, and only working copies are kept, so memory stays bounded on large albums.
pub fn intake<S: PhotoSource>(
    sources: &[S],
    options: &IntakeOptions,
    progress: &(dyn Fn() + Sync),
) -> Album {
    let mut album = Album::default();

    // Pass 1: hash the bytes, so exact duplicates are never decoded.
    let hashes: Vec<Result<String, PhotoError>> = sources
        .par_iter()
        .map(|s| {
            s.read(options.limits.max_file_bytes)
                .map(|bytes| crate::leaves::hash::content_hash(&bytes))
        })
        .collect();
    let mut first_by_hash: HashMap<String, usize> = HashMap::new();
    let mut unique = Vec::new();
    for (i, hash) in hashes.into_iter().enumerate() {
        match hash {
            Err(error) => {
                progress();
                album.rejected.push(Rejected {
                    source: sources[i].name(),
                    error,
                })
            }
            Ok(hash) => match first_by_hash.get(&hash) {
                Some(&first) => {
                    progress();
                    album.duplicates.push(Duplicate {
                        source: sources[i].name(),
                        of: sources[first].name(),
                        kind: DuplicateKind::Exact,
                    })
                }
                None if unique.len() >= options.max_photos => {
                    progress();
                    album.rejected.push(Rejected {
                        source: sources[i].name(),
                        error: PhotoError::AlbumFull(options.max_photos),
                    })
                }
                None => {
                    first_by_hash.insert(hash.clone(), i);
                    unique.push((i, hash));
                }
            },
        }
    }

    // Pass 2: decode the unique ones into working copies.
    let decoded: Vec<(usize, Result<Photo, PhotoError>)> = unique
        .into_par_iter()
        .map(|(i, hash)| {
            let result = sources[i]
                .read(options.limits.max_file_bytes)
                .and_then(|bytes| {
                    let _span =
                        tracing::debug_span!("decode", source = %sources[i].name()).entered();
                    let d = decode(&bytes, options.limits, options.now)?;
                    drop(bytes);
                    let (width, height) = d.image.dimensions();
                    let image = crate::leaves::resize::fit_within(d.image, options.working_size);
                    Ok(Photo {
                        source: sources[i].name(),
                        hash,
                        format: d.format,
                        width,
                        height,
                        capture_date: d.metadata.capture_date,
                        date_note: d.metadata.date_rejected,
                        fingerprint: DiffHash::of(&image),
                        image,
                    })
                });
            progress();
            (i, result)
        })
        .collect();
    let mut photos = Vec::new();
    for (i, result) in decoded {
        match result {
            Ok(photo) => photos.push(photo),
            Err(error) => album.rejected.push(Rejected {
                source: sources[i].name(),
                error,
            }),
        }
    }

    // Pass 3: near-duplicates. The largest original of each group is kept.
    let mut order: Vec<usize> = (0..photos.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(photos[i].width as u64 * photos[i].height as u64));
    let mut duplicate_of: Vec<Option<(usize, u32)>> = vec![None; photos.len()];
    for (a_pos, &a) in order.iter().enumerate() {
        if duplicate_of[a].is_some() {
            continue;
        }
        for &b in &order[a_pos + 1..] {
            if duplicate_of[b].is_some() {
                continue;
            }
            if let Some(bits) = photos[a]
                .fingerprint
                .near_duplicate(photos[b].fingerprint, options.near_duplicate_bits)
            {
                duplicate_of[b] = Some((a, bits));
            }
        }
    }
    for (i, dup) in duplicate_of.iter().enumerate() {
        if let Some((kept, bits)) = dup {
            album.duplicates.push(Duplicate {
                source: photos[i].source.clone(),
                of: photos[*kept].source.clone(),
                kind: DuplicateKind::Near { bits: *bits },
            });
        }
    }
    album.photos = photos
        .into_iter()
        .zip(duplicate_of)
        .filter_map(|(p, d)| d.is_none().then_some(p))
        .collect();
    album
}

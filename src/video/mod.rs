//! Video encoders over a source of frames that can be rendered in any order.

pub mod gif;
pub mod mp4;
pub mod palette;

use image::RgbImage;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("a video needs at least one frame")]
    NoFrames,
    #[error("frame size {0}×{1} is too large for a GIF (at most 65535×65535)")]
    TooLarge(u32, u32),
    #[error("frame {index} has size {got:?}, expected {expected:?}")]
    FrameSize {
        index: usize,
        got: (u32, u32),
        expected: (u32, u32),
    },
    #[error("cannot render frame {index}")]
    Frame {
        index: usize,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("frame {index} does not exist")]
    NoFrame { index: usize },
    #[error("the render was cancelled before frame {index}")]
    Cancelled { index: usize },
    #[error("cannot write {path}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("GIF encoding failed")]
    GifEncode(#[source] ::gif::EncodingError),
    /// ffmpeg failed; its own words (a separate process leaves no error value).
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("ffmpeg stopped reading frames")]
    FfmpegPipe(#[source] std::io::Error),
    #[error("cannot read the GIF")]
    Decode(#[source] image::ImageError),
    #[error("cannot open {path}")]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0} is not a .gif or .mp4 video")]
    NotAVideo(String),
    /// ffmpeg or ffprobe could not read a video; their own words.
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{0}")]
    EncoderMissing(&'static str),
}

/// Frames, rendered on demand from any thread. Encoders ask for each frame once (plus a few
/// for the palette) and never hold more than a small batch in memory.
pub trait FrameSource: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn size(&self) -> (u32, u32);
    fn frame(&self, index: usize) -> Result<RgbImage, VideoError>;
}

/// Frames already in memory (benchmarks, tests).
impl FrameSource for Vec<RgbImage> {
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn size(&self) -> (u32, u32) {
        self.first().map_or((0, 0), |f| f.dimensions())
    }
    fn frame(&self, index: usize) -> Result<RgbImage, VideoError> {
        self.get(index)
            .cloned()
            .ok_or(VideoError::NoFrame { index })
    }
}

/// What was written: frames and file size.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct VideoStats {
    pub frames: usize,
    pub bytes: u64,
}

fn write_error(path: &Path) -> impl Fn(std::io::Error) -> VideoError + '_ {
    move |source| VideoError::Write {
        path: path.display().to_string(),
        source,
    }
}

/// A temporary file beside `path`: on the same file system, so [`persist`] is an atomic rename.
pub(crate) fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile, VideoError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".lifelapse-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(write_error(path))
}

/// Syncs the finished temporary file and renames it onto `path`; returns its size.
pub(crate) fn persist(tmp: tempfile::NamedTempFile, path: &Path) -> Result<u64, VideoError> {
    let err = write_error(path);
    tmp.as_file().sync_all().map_err(&err)?;
    // Temporary files are private (0600); the video is an ordinary file.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(&err)?;
    }
    let size = tmp.as_file().metadata().map_err(&err)?.len();
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(size)
}

/// Writes through `write` into a temporary file beside `path`, then renames it into place, so
/// `path` is either the old file or the whole new one, never half a video.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<&mut std::fs::File>) -> Result<(), VideoError>,
) -> Result<u64, VideoError> {
    let mut tmp = temp_beside(path)?;
    {
        let mut out = std::io::BufWriter::new(tmp.as_file_mut());
        write(&mut out)?;
        std::io::Write::flush(&mut out).map_err(write_error(path))?;
    }
    persist(tmp, path)
}

/// Peak signal-to-noise ratio in dB between two images of the same size (∞ when identical).
pub fn psnr(a: &RgbImage, b: &RgbImage) -> f64 {
    let n = a.as_raw().len().min(b.as_raw().len()).max(1);
    let sse: f64 = a
        .as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(&x, &y)| {
            let d = x as f64 - y as f64;
            d * d
        })
        .sum();
    if sse == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0f64 * 255.0 / (sse / n as f64)).log10()
}

/// How faithfully decoded frames show their source frames.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Fidelity {
    /// PSNR over every frame's pixels together, in dB.
    pub psnr_db: f64,
    /// PSNR of the worst frame, in dB.
    pub worst_psnr_db: f64,
    /// Flicker: the change between consecutive frames that the source does not have, mean
    /// absolute levels per channel: |(d[t] − d[t−1]) − (s[t] − s[t−1])|. Dither patterns that
    /// move and colours that jump between palette entries raise it; the source's own motion
    /// does not.
    pub flicker: f64,
}

/// Compares `decoded` frames with their `source` frames (pairs up to the shorter list; frames
/// of other sizes count as completely wrong).
pub fn fidelity(decoded: &[RgbImage], source: &[RgbImage]) -> Fidelity {
    let sse = |a: &RgbImage, b: &RgbImage| -> (f64, usize) {
        if a.dimensions() != b.dimensions() {
            return (255.0 * 255.0 * a.as_raw().len() as f64, a.as_raw().len());
        }
        let sum = a
            .as_raw()
            .iter()
            .zip(b.as_raw())
            .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
            .sum();
        (sum, a.as_raw().len())
    };
    let db = |sse: f64, n: usize| {
        let mse = sse / n.max(1) as f64;
        if mse == 0.0 {
            99.0
        } else {
            (10.0 * (255.0f64 * 255.0 / mse).log10()).min(99.0)
        }
    };
    let (mut total, mut count, mut worst) = (0.0, 0, 99.0f64);
    for (d, s) in decoded.iter().zip(source) {
        let (e, n) = sse(d, s);
        total += e;
        count += n;
        worst = worst.min(db(e, n));
    }
    let (mut flicker, mut samples) = (0.0, 0usize);
    let pairs = decoded.len().min(source.len());
    for t in 1..pairs {
        let (d0, d1, s0, s1) = (&decoded[t - 1], &decoded[t], &source[t - 1], &source[t]);
        if d0.dimensions() != s0.dimensions() || d1.dimensions() != s1.dimensions() {
            continue;
        }
        flicker += d0
            .as_raw()
            .iter()
            .zip(d1.as_raw())
            .zip(s0.as_raw().iter().zip(s1.as_raw()))
            .map(|((&a0, &a1), (&b0, &b1))| {
                ((a1 as i32 - a0 as i32) - (b1 as i32 - b0 as i32)).unsigned_abs() as f64
            })
            .sum::<f64>();
        samples += d0.as_raw().len();
    }
    Fidelity {
        psnr_db: db(total, count),
        worst_psnr_db: if count == 0 { 0.0 } else { worst },
        flicker: flicker / samples.max(1) as f64,
    }
}

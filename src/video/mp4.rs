//! MP4 (H.264, yuv420p, even dimensions, metadata up front): what Telegram, Discord and every
//! browser play inline. Encoding is handed to the system's ffmpeg (Debian: `ffmpeg`, installed by
//! tools/setup.sh): libx264 is the encoder those players are tested against, and no crate ships
//! an H.264 encoder of that quality and reliability that builds from source here.

use super::{FrameSource, VideoError};
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

#[derive(Debug, Clone, Copy)]
pub struct Mp4Options {
    pub fps: f32,
    /// x264 constant rate factor: 18 is visually lossless, 23 the usual default.
    pub crf: u8,
}

impl Default for Mp4Options {
    fn default() -> Self {
        Self { fps: 12.0, crf: 20 }
    }
}

/// Whether an ffmpeg that can run is on the PATH.
pub fn available() -> bool {
    Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Encodes every frame of `source` into `path`, atomically: ffmpeg writes a temporary file
/// beside it that is renamed into place only when it succeeded.
pub fn write_file(
    path: &Path,
    source: &dyn FrameSource,
    options: &Mp4Options,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<u64, VideoError> {
    let n = source.len();
    if n == 0 {
        return Err(VideoError::NoFrames);
    }
    if !available() {
        return Err(VideoError::EncoderMissing(
            "MP4 needs ffmpeg (Debian: apt-get install ffmpeg); GIF output works without it",
        ));
    }
    let (w, h) = source.size();
    let io = super::write_error(path);
    let tmp = super::temp_beside(path)?;
    let mut child = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
        ])
        .arg(format!("{w}x{h}"))
        .arg("-r")
        .arg(format!("{}", options.fps))
        .args([
            "-i", "-", "-an", "-c:v", "libx264", "-preset", "medium", "-crf",
        ])
        .arg(options.crf.to_string())
        // yuv420p halves the chroma, so both sides must be even; players refuse anything else.
        .args([
            "-vf",
            "pad=ceil(iw/2)*2:ceil(ih/2)*2",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ])
        .arg(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(&io)?;
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| VideoError::Ffmpeg("it has no input pipe".into()))?;
    let batch = rayon::current_num_threads().max(1) * 4;
    let mut fed = Ok(());
    for start in (0..n).step_by(batch) {
        let end = (start + batch).min(n);
        let frames = (start..end)
            .into_par_iter()
            .map(|i| source.frame(i))
            .collect::<Result<Vec<_>, _>>();
        let frames = match frames {
            Ok(f) => f,
            Err(e) => {
                fed = Err(e);
                break;
            }
        };
        if let Some(bad) = frames.iter().position(|f| f.dimensions() != (w, h)) {
            fed = Err(VideoError::FrameSize {
                index: start + bad,
                got: frames[bad].dimensions(),
                expected: (w, h),
            });
            break;
        }
        if let Err(e) = frames.iter().try_for_each(|f| stdin.write_all(f.as_raw())) {
            fed = Err(VideoError::FfmpegPipe(e));
            break;
        }
        progress(end);
    }
    drop(stdin);
    let output = child.wait_with_output().map_err(io)?;
    fed?;
    if !output.status.success() {
        let message = String::from_utf8_lossy(&output.stderr);
        return Err(VideoError::Ffmpeg(message.trim().to_string()));
    }
    super::persist(tmp, path)
}

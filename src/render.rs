//! The one render path: an analysed album and the user's choices in, a written video out, with
//! progress and cancellation throughout. The CLI's `render` and the chat's render jobs both
//! call [`run`]; they differ only in the settings they pass and where the video goes.

use crate::album::Album;
use crate::engine::{CancelToken, Resident};
use crate::face::Face;
use crate::pipeline::{self, AgeFacts, ErrorReport, FaceDecision, PipelineError, RenderSettings};
use crate::video::{self, FrameSource, VideoError, VideoStats};
use std::path::Path;

/// The container a video is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VideoFormat {
    Gif,
    Mp4,
}

impl VideoFormat {
    /// The format an output file's extension names.
    pub fn of_path(path: &Path) -> Result<Self, PipelineError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("gif") => Ok(Self::Gif),
            Some("mp4") => Ok(Self::Mp4),
            other => Err(PipelineError::Options(format!(
                "cannot write {:?} files; use an output name ending in .gif or .mp4",
                other.unwrap_or("extension-less")
            ))),
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Gif => "gif",
            Self::Mp4 => "mp4",
        }
    }
}

/// One render: which faces, their ages, the settings, and where the video goes.
pub struct RenderRequest<'a> {
    pub album: &'a Album,
    pub faces: &'a [Vec<Face>],
    pub decisions: &'a [Vec<FaceDecision>],
    pub ages: &'a AgeFacts,
    pub settings: &'a RenderSettings,
    pub output: &'a Path,
    pub format: VideoFormat,
}

/// What a render wrote.
#[derive(Debug)]
pub struct Rendered {
    pub stats: VideoStats,
    /// Photos in the video.
    pub keyframes: usize,
    /// Photos without a usable face, with the reason.
    pub left_out: Vec<ErrorReport>,
}

/// Frames of a lapse that stop coming once the render is cancelled.
struct Cancellable<'a> {
    inner: &'a crate::lapse::Lapse,
    cancel: &'a CancelToken,
}

impl FrameSource for Cancellable<'_> {
    fn len(&self) -> usize {
        FrameSource::len(self.inner)
    }
    fn size(&self) -> (u32, u32) {
        FrameSource::size(self.inner)
    }
    fn frame(&self, index: usize) -> Result<image::RgbImage, VideoError> {
        if self.cancel.is_cancelled() {
            return Err(VideoError::Frame {
                index,
                message: "cancelled".into(),
            });
        }
        FrameSource::frame(self.inner, index)
    }
}

/// Renders the request into its output file (written atomically: a failed or cancelled render
/// leaves no half video). `progress` is told (frames done, frames in all) as frames are written;
/// with the stylegan renderer that is also the generation's progress, since frames are made as
/// they are written. `cancel` stops the render at the next frame or generator batch.
pub fn run(
    request: &RenderRequest,
    engines: &Resident,
    progress: &(dyn Fn(usize, usize) + Sync),
    cancel: &CancelToken,
) -> Result<Rendered, PipelineError> {
    let settings = request.settings;
    let built = pipeline::build_lapse(
        request.album,
        request.faces,
        request.decisions,
        settings,
        request.ages,
        engines,
        cancel,
    );
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }
    let (lapse, left_out) = built?;
    let source = Cancellable {
        inner: &lapse,
        cancel,
    };
    let total = lapse.len();
    let report = |done: usize| progress(done, total);
    let written = match request.format {
        VideoFormat::Gif => video::gif::write_file(request.output, &source, &settings.gif, &report),
        VideoFormat::Mp4 => {
            let options = video::mp4::Mp4Options {
                fps: settings.gif.fps,
                ..Default::default()
            };
            video::mp4::write_file(request.output, &source, &options, &report).map(|bytes| {
                VideoStats {
                    frames: total,
                    bytes,
                }
            })
        }
    };
    if cancel.is_cancelled() {
        return Err(PipelineError::Cancelled);
    }
    Ok(Rendered {
        stats: written?,
        keyframes: lapse.keyframes.len(),
        left_out,
    })
}

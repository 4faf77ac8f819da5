//! The process's exit codes (also listed in the README), and which code each library error
//! ends a command with: every mapping is here.

use lifelapse::chat::serve::ServeError;
use lifelapse::chat::worker::WorkerError;
use lifelapse::crawl::CrawlError;
use lifelapse::gan::GanError;
use lifelapse::lapse::LapseError;
use lifelapse::nets::import::ImportError;
use lifelapse::render::RenderError;
use lifelapse::video::VideoError;

/// Something unexpected failed (a bug, or the machine).
pub const FAILURE: u8 = 1;
/// The command line or the config is wrong.
pub const USAGE: u8 = 2;
/// The photos cannot make what was asked (none usable, fewer than two for a video).
pub const INPUT: u8 = 3;
/// The output could not be written.
pub const OUTPUT: u8 = 4;

/// The exit code a command ends with when this error stops it.
pub trait ExitCode {
    fn exit_code(&self) -> u8;
}

impl ExitCode for RenderError {
    fn exit_code(&self) -> u8 {
        match self {
            RenderError::Lapse(e) => e.exit_code(),
            RenderError::NoPhotos(_) => INPUT,
            RenderError::Video(e) => e.exit_code(),
            RenderError::Options(_) | RenderError::Device(_) => USAGE,
            RenderError::Cancelled | RenderError::Segmenter(_) => FAILURE,
        }
    }
}

impl ExitCode for LapseError {
    fn exit_code(&self) -> u8 {
        match self {
            LapseError::MissingWeights { .. } => USAGE,
            LapseError::Generative(_)
            | LapseError::Inference(_)
            | LapseError::Checkpoint(_)
            | LapseError::Weights(_)
            | LapseError::Tensor(_)
            | LapseError::Net(_)
            | LapseError::Cancelled => FAILURE,
            LapseError::TooFewKeyframes(_)
            | LapseError::SizeMismatch(..)
            | LapseError::NeedsEngine
            | LapseError::NoLandmarks(_)
            | LapseError::FrameOutOfRange { .. } => INPUT,
        }
    }
}

impl ExitCode for VideoError {
    fn exit_code(&self) -> u8 {
        match self {
            VideoError::Write { .. } => OUTPUT,
            VideoError::EncoderMissing(_) => USAGE,
            _ => FAILURE,
        }
    }
}

impl ExitCode for CrawlError {
    fn exit_code(&self) -> u8 {
        match self {
            CrawlError::UnknownName(_) | CrawlError::NoPhotos(_) => INPUT,
            CrawlError::Config(_) => USAGE,
            CrawlError::Write { .. } => OUTPUT,
            _ => FAILURE,
        }
    }
}

impl ExitCode for ServeError {
    fn exit_code(&self) -> u8 {
        match self {
            ServeError::NoPlatform | ServeError::Metrics(..) => USAGE,
            _ => FAILURE,
        }
    }
}

impl ExitCode for WorkerError {
    fn exit_code(&self) -> u8 {
        match self {
            WorkerError::NoCluster => USAGE,
            WorkerError::Cluster(_) => FAILURE,
        }
    }
}

/// A checkpoint the user named: unreadable or not one lifelapse knows is their input.
impl ExitCode for ImportError {
    fn exit_code(&self) -> u8 {
        match self {
            ImportError::Write { .. } => OUTPUT,
            _ => INPUT,
        }
    }
}

impl ExitCode for GanError {
    fn exit_code(&self) -> u8 {
        match self {
            GanError::HalfOnCpu | GanError::Net(_) => USAGE,
            GanError::Checkpoint(e) => e.exit_code(),
            _ => INPUT,
        }
    }
}

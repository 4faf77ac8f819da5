//! Helpers for tests that run the real `lifelapse` binary on ../shared/testdata.
#![allow(dead_code)]

pub mod fake_http {
    #[allow(unused_imports)]
    pub use lifelapse::bench::fake_http::*;
}

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// ../shared/testdata beside the repository (or `LIFELAPSE_TESTDATA`).
pub fn testdata() -> PathBuf {
    let dir = std::env::var_os("LIFELAPSE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata"));
    assert!(
        dir.join("manifest.json").is_file(),
        "test photos not found at {}",
        dir.display()
    );
    dir
}

pub fn photo(rel: &str) -> PathBuf {
    testdata().join(rel)
}

/// The binary, run in a fresh working directory with no config file and a clean environment.
pub fn lifelapse(cwd: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifelapse"));
    cmd.current_dir(cwd);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LIFELAPSE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run lifelapse")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Decodes a GIF as a viewer shows it: composed RGB frames, their delays in ms, and the loop count.
pub struct DecodedGif {
    pub frames: Vec<image::RgbImage>,
    pub delays_ms: Vec<u32>,
    pub loops_forever: bool,
}

pub fn decode_gif(path: &Path) -> DecodedGif {
    use image::AnimationDecoder;
    let bytes = std::fs::read(path).expect("read gif");
    let decoder =
        image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&bytes)).expect("gif header");
    let mut frames = Vec::new();
    let mut delays_ms = Vec::new();
    for frame in decoder.into_frames() {
        let frame = frame.expect("gif frame");
        let (n, d) = frame.delay().numer_denom_ms();
        delays_ms.push(n / d.max(1));
        frames.push(image::DynamicImage::ImageRgba8(frame.into_buffer()).into_rgb8());
    }
    // NETSCAPE2.0 application extension with loop count 0.
    let loops_forever = bytes
        .windows(16)
        .any(|w| &w[..11] == b"NETSCAPE2.0" && w[11..16] == [3, 1, 0, 0, 0]);
    DecodedGif {
        frames,
        delays_ms,
        loops_forever,
    }
}

/// ../shared/fixtures beside the repository (or `LIFELAPSE_FIXTURES`).
pub fn fixtures() -> PathBuf {
    let dir = std::env::var_os("LIFELAPSE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    assert!(
        dir.join("g_small.pt").is_file(),
        "parity fixtures not found at {}",
        dir.display()
    );
    dir
}

//! Helpers for tests that run the real `lifelapse` binary on ../shared/testdata.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use lifelapse_test_support::http as fake_http;

pub mod parity;
pub mod running;
pub mod store_contract;
pub mod telegram;

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

/// Decodes a GIF as a viewer shows it: composed RGB frames (a frame stored once for a still
/// stretch counts once for each frame time it is shown), the stored frames' delays in ms, and
/// the loop count.
pub struct DecodedGif {
    pub frames: Vec<image::RgbImage>,
    pub delays_ms: Vec<u32>,
    pub loops_forever: bool,
}

pub fn decode_gif(path: &Path) -> DecodedGif {
    use image::AnimationDecoder;
    let bytes = std::fs::read(path).expect("read gif");
    let frames = lifelapse::video::gif::decode(std::io::Cursor::new(&bytes), 100_000)
        .expect("a GIF that decodes");
    let decoder =
        image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&bytes)).expect("gif header");
    let delays_ms = decoder
        .into_frames()
        .map(|frame| {
            let (n, d) = frame.expect("gif frame").delay().numer_denom_ms();
            n / d.max(1)
        })
        .collect();
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

/// A little-endian EXIF (TIFF) block with Orientation, DateTimeOriginal (`YYYY:MM:DD HH:MM:SS`)
/// and, when given, OffsetTimeOriginal (`±HH:MM`), as cameras write them.
pub fn exif_block(orientation: u16, date: &str, offset: Option<&str>) -> Vec<u8> {
    let mut t: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |t: &mut Vec<u8>, tag: u16, kind: u16, count: u32, value: u32| {
        t.extend_from_slice(&tag.to_le_bytes());
        t.extend_from_slice(&kind.to_le_bytes());
        t.extend_from_slice(&count.to_le_bytes());
        t.extend_from_slice(&value.to_le_bytes());
    };
    let exif_ifd = 8 + 2 + 2 * 12 + 4;
    t.extend_from_slice(&2u16.to_le_bytes());
    entry(&mut t, 0x0112, 3, 1, orientation as u32); // Orientation
    entry(&mut t, 0x8769, 4, 1, exif_ifd); // ExifIFDPointer
    t.extend_from_slice(&0u32.to_le_bytes());
    let entries = 1 + offset.is_some() as u32;
    let data = exif_ifd + 2 + entries * 12 + 4;
    t.extend_from_slice(&(entries as u16).to_le_bytes());
    entry(&mut t, 0x9003, 2, 20, data); // DateTimeOriginal
    if offset.is_some() {
        entry(&mut t, 0x9011, 2, 7, data + 20); // OffsetTimeOriginal
    }
    t.extend_from_slice(&0u32.to_le_bytes());
    t.extend_from_slice(date.as_bytes());
    t.push(0);
    if let Some(offset) = offset {
        t.extend_from_slice(offset.as_bytes());
        t.push(0);
    }
    t
}

/// `jpeg` with `exif` as its APP1 segment, right after the start-of-image marker.
pub fn jpeg_with_exif(jpeg: &[u8], exif: &[u8]) -> Vec<u8> {
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(exif);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Imports the random-weight pSp fixture into `data` (the data directory) with the real binary,
/// as a user imports a published checkpoint; returns what it printed.
pub fn import_psp_fixture(cwd: &Path, data: &Path) -> Output {
    let out = run(lifelapse(cwd)
        .env("LIFELAPSE_DATA_DIR", data)
        .arg("import-weights")
        .arg(fixtures().join("psp_small.pt")));
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// The two top corners of a frame: background in every test portrait.
pub fn top_corners(frame: &image::RgbImage) -> [image::Rgb<u8>; 2] {
    let w = frame.width();
    [
        *frame.get_pixel(1, 1),
        *frame.get_pixel(w.saturating_sub(2), 1),
    ]
}

/// Fails unless the top corners keep one colour (up to a GIF palette's 6 levels) in every frame.
pub fn assert_top_corners_steady(frames: &[image::RgbImage]) {
    let first = top_corners(&frames[0]);
    for (i, frame) in frames.iter().enumerate() {
        for (got, want) in top_corners(frame).iter().zip(&first) {
            let diff = (0..3).map(|c| got[c].abs_diff(want[c])).max().unwrap_or(0);
            assert!(diff <= 6, "frame {i}: corner {got:?} vs {want:?}");
        }
    }
}

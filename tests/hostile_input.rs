//! Input a person really has, and input made to break things: pipes and devices given as photos,
//! link loops, odd file names, scans in TIFF, and a corpus of damaged files built from the
//! shipped sample photos. Every input ends with a result or a named reason, without blocking.

mod common;

use common::*;
use lifelapse::album::{self, IntakeOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

/// Runs the command, failing the test if it has not finished within `limit` (it is killed).
fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lifelapse");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("lifelapse did not finish within {limit:?}: it blocked");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout thread"),
        stderr: stderr.join().expect("stderr thread"),
    }
}

fn error_for<'a>(report: &'a serde_json::Value, name: &str) -> &'a str {
    report["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .find(|e| e["photo"].as_str().is_some_and(|p| p.ends_with(name)))
        .and_then(|e| e["error"].as_str())
        .unwrap_or_else(|| panic!("no error for {name} in {report}"))
}

fn mkfifo(path: &Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success());
}

#[test]
fn pipes_and_devices_are_refused_without_blocking_the_album() {
    let dir = tmp();
    let fifo = dir.path().join("pipe.jpg");
    mkfifo(&fifo);
    let result = run_within(
        lifelapse(dir.path())
            .args(["analyze", "--json"])
            .arg(&fifo)
            .arg("/dev/zero")
            .arg(photo("faces/barack_obama/01.jpg")),
        Duration::from_secs(120),
    );
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    assert!(error_for(&report, "pipe.jpg").contains("a named pipe, not a regular file"));
    assert!(error_for(&report, "/dev/zero").contains("a character device, not a regular file"));
    assert_eq!(report["photos"].as_array().map(Vec::len), Some(1));
}

#[test]
fn a_pipe_inside_a_folder_is_named_and_the_folder_still_taken() {
    let dir = tmp();
    let album = dir.path().join("album");
    std::fs::create_dir(&album).expect("mkdir");
    mkfifo(&album.join("a_pipe.jpg"));
    std::fs::copy(
        photo("faces/barack_obama/01.jpg"),
        album.join("b_photo.jpg"),
    )
    .expect("copy");
    let result = run_within(
        lifelapse(dir.path())
            .args(["analyze", "--json"])
            .arg(&album),
        Duration::from_secs(120),
    );
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    assert!(error_for(&report, "a_pipe.jpg").contains("named pipe"));
    assert_eq!(report["photos"].as_array().map(Vec::len), Some(1));
}

#[test]
fn link_loops_missing_files_and_empty_folders_each_get_their_reason() {
    let dir = tmp();
    let (a, b) = (dir.path().join("a.jpg"), dir.path().join("b.jpg"));
    std::os::unix::fs::symlink(&b, &a).expect("link");
    std::os::unix::fs::symlink(&a, &b).expect("link");
    let empty = dir.path().join("holiday");
    std::fs::create_dir(&empty).expect("mkdir");
    std::fs::write(empty.join("notes.txt"), "no photos here").expect("write");
    std::fs::create_dir(empty.join("2019")).expect("mkdir");
    let result = run_within(
        lifelapse(dir.path())
            .args(["analyze", "--json"])
            .arg(&a)
            .arg(&empty)
            .arg(dir.path().join("missing.jpg")),
        Duration::from_secs(60),
    );
    let report = json(&result);
    assert_eq!(error_for(&report, "a.jpg"), "a loop of symbolic links");
    assert!(error_for(&report, "holiday").contains("holds no photo"));
    assert_eq!(error_for(&report, "missing.jpg"), "no such file or folder");
}

#[test]
fn a_file_name_with_a_newline_stays_on_one_line() {
    let dir = tmp();
    let odd = dir.path().join("bad\nname.jpg");
    std::fs::write(&odd, "not a photo").expect("write");
    let result = run_within(
        lifelapse(dir.path())
            .arg("render")
            .arg(&odd)
            .arg(photo("bad/empty.jpg"))
            .arg("-o")
            .arg(dir.path().join("out.gif")),
        Duration::from_secs(60),
    );
    let err = stderr(&result);
    let line = err
        .lines()
        .find(|l| l.contains("bad\\nname.jpg"))
        .unwrap_or_else(|| panic!("no escaped name in {err}"));
    assert!(line.contains("not a supported image"), "{line}");
    assert!(!err.lines().any(|l| l.starts_with("name.jpg")), "{err}");
}

/// A face photo from the test set (`source`), re-encoded by `encode`.
fn face_as(
    dir: &Path,
    source: &str,
    name: &str,
    encode: impl Fn(&image::RgbImage) -> Vec<u8>,
) -> PathBuf {
    let rgb = image::open(photo(source)).expect("open").into_rgb8();
    let path = dir.join(name);
    std::fs::write(&path, encode(&rgb)).expect("write");
    path
}

fn encoded(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut out), format)
        .expect("encode");
    out
}

fn cmyk_tiff(rgb: &image::RgbImage) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let cmyk: Vec<u8> = rgb
        .pixels()
        .flat_map(|p| {
            let k = 255 - *p.0.iter().max().unwrap_or(&0);
            let white = 255 - k as u32;
            let ink = |c: u8| ((white - c as u32) * 255).checked_div(white).unwrap_or(0) as u8;
            [ink(p[0]), ink(p[1]), ink(p[2]), k]
        })
        .collect();
    tiff::encoder::TiffEncoder::new(&mut out)
        .expect("tiff")
        .write_image::<tiff::encoder::colortype::CMYK8>(rgb.width(), rgb.height(), &cmyk)
        .expect("cmyk tiff");
    out.into_inner()
}

/// A lossless WebP whose EXIF chunk starts with JPEG's `Exif\0\0` header and says the camera was
/// held upside down; the pixels are stored upside down to match.
fn upside_down_webp(rgb: &image::RgbImage) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(&exif_block(3, "2009:05:01 10:20:30", None));
    webp_with_exif(&image::imageops::rotate180(rgb), exif)
}

/// A lossless WebP carrying `exif` in its EXIF chunk.
fn webp_with_exif(rgb: &image::RgbImage, exif: Vec<u8>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = image_webp::WebPEncoder::new(&mut out);
    encoder.set_exif_metadata(exif);
    encoder
        .encode(
            rgb.as_raw(),
            rgb.width(),
            rgb.height(),
            image_webp::ColorType::Rgb8,
        )
        .expect("webp");
    out
}

#[test]
fn webp_exif_is_read_with_and_without_the_jpeg_header() {
    let rgb = image::RgbImage::from_pixel(30, 20, image::Rgb([90, 120, 60]));
    let tiff = exif_block(6, "2009:05:01 10:20:30", None);
    let mut prefixed = b"Exif\0\0".to_vec();
    prefixed.extend_from_slice(&tiff);
    for exif in [tiff, prefixed] {
        let meta =
            lifelapse::album::metadata::read(&webp_with_exif(&rgb, exif), chrono::Utc::now());
        assert_eq!(meta.orientation, 6);
        assert_eq!(
            meta.capture_date.map(|d| d.to_string()).as_deref(),
            Some("2009-05-01 10:20:30")
        );
    }
}

#[test]
fn scans_and_old_formats_are_read_and_their_faces_found() {
    use image::{DynamicImage as D, ImageFormat as F};
    let dir = tmp();
    let files = [
        face_as(
            dir.path(),
            "faces/barack_obama/01.jpg",
            "scan8.tif",
            |rgb| encoded(D::ImageRgb8(rgb.clone()), F::Tiff),
        ),
        face_as(
            dir.path(),
            "faces/barack_obama/02.jpg",
            "scan16.tiff",
            |rgb| {
                encoded(
                    D::ImageRgb16(D::ImageRgb8(rgb.clone()).into_rgb16()),
                    F::Tiff,
                )
            },
        ),
        face_as(
            dir.path(),
            "faces/barack_obama/03.jpg",
            "grey16.tif",
            |rgb| {
                encoded(
                    D::ImageLuma16(D::ImageRgb8(rgb.clone()).into_luma16()),
                    F::Tiff,
                )
            },
        ),
        face_as(
            dir.path(),
            "faces/barack_obama/04.jpg",
            "print.tif",
            cmyk_tiff,
        ),
        face_as(
            dir.path(),
            "faces/mark_zuckerberg/01.jpg",
            "old.bmp",
            |rgb| encoded(D::ImageRgb8(rgb.clone()), F::Bmp),
        ),
        face_as(
            dir.path(),
            "faces/mark_zuckerberg/02.jpg",
            "moving.gif",
            |rgb| {
                encoded(
                    D::ImageRgba8(D::ImageRgb8(rgb.clone()).into_rgba8()),
                    F::Gif,
                )
            },
        ),
        face_as(
            dir.path(),
            "faces/mark_zuckerberg/05.jpg",
            "phone.webp",
            upside_down_webp,
        ),
    ];
    let result = run_within(
        lifelapse(dir.path())
            .args(["analyze", "--json"])
            .args(&files),
        Duration::from_secs(300),
    );
    assert!(result.status.success(), "{}", stderr(&result));
    let report = json(&result);
    assert_eq!(
        report["errors"].as_array().map(Vec::len),
        Some(0),
        "{report}"
    );
    let photos = report["photos"].as_array().expect("photos");
    let faces = report["faces"].as_array().expect("faces");
    for (file, format) in [
        ("scan8.tif", "tiff"),
        ("scan16.tiff", "tiff"),
        ("grey16.tif", "tiff"),
        ("print.tif", "tiff"),
        ("old.bmp", "bmp"),
        ("moving.gif", "gif"),
        ("phone.webp", "webp"),
    ] {
        let p = photos
            .iter()
            .find(|p| p["photo"].as_str().is_some_and(|n| n.ends_with(file)))
            .unwrap_or_else(|| panic!("{file} not taken in: {report}"));
        assert_eq!(p["format"], format, "{file}");
        let face = faces
            .iter()
            .find(|f| f["photo"].as_str().is_some_and(|n| n.ends_with(file)))
            .unwrap_or_else(|| panic!("no face in {file}: {report}"));
        // An upside-down face would be found weakly if at all; upright it scores like the rest.
        assert!(
            face["score"].as_f64().is_some_and(|s| s > 0.8),
            "{file}: {face}"
        );
    }
    let webp = photos
        .iter()
        .find(|p| {
            p["photo"]
                .as_str()
                .is_some_and(|n| n.ends_with("phone.webp"))
        })
        .expect("webp");
    assert!(
        webp["capture_date"]
            .as_str()
            .is_some_and(|d| d.starts_with("2009-05-01")),
        "{webp}"
    );
}

/// What intake made of one file of the corpus.
#[derive(Debug)]
enum Outcome {
    Photo,
    Rejected(&'static str),
    Panicked,
}

/// Damaged and disguised copies of the shipped sample photos: each sample in seven formats
/// (JPEG, PNG, WebP, TIFF 8- and 16-bit, CMYK TIFF, BMP, GIF), each cut at many offsets, with
/// bytes flipped, with size fields that lie, and under a wrong extension.
fn hostile_corpus(dir: &Path) -> Vec<PathBuf> {
    use image::{DynamicImage as D, ImageFormat as F};
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut bases: Vec<(String, Vec<u8>)> = Vec::new();
    for name in [
        "biden_1_senate_portrait.jpg",
        "other_eileen_collins_nasa.jpg",
    ] {
        let rgb = image::open(samples.join(name))
            .expect("sample")
            .thumbnail(192, 192)
            .into_rgb8();
        let stem = name.split('_').take(2).collect::<Vec<_>>().join("_");
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
            .encode_image(&rgb)
            .expect("jpeg");
        bases.push((format!("{stem}.jpg"), jpeg));
        bases.push((
            format!("{stem}.png"),
            encoded(D::ImageRgb8(rgb.clone()), F::Png),
        ));
        bases.push((
            format!("{stem}.webp"),
            encoded(D::ImageRgb8(rgb.clone()), F::WebP),
        ));
        bases.push((
            format!("{stem}.tif"),
            encoded(D::ImageRgb8(rgb.clone()), F::Tiff),
        ));
        bases.push((
            format!("{stem}16.tif"),
            encoded(
                D::ImageRgb16(D::ImageRgb8(rgb.clone()).into_rgb16()),
                F::Tiff,
            ),
        ));
        bases.push((format!("{stem}_cmyk.tif"), cmyk_tiff(&rgb)));
        bases.push((
            format!("{stem}.bmp"),
            encoded(D::ImageRgb8(rgb.clone()), F::Bmp),
        ));
        bases.push((
            format!("{stem}.gif"),
            encoded(
                D::ImageRgba8(D::ImageRgb8(rgb.clone()).into_rgba8()),
                F::Gif,
            ),
        ));
    }
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("probe_one_byte.jpg".into(), vec![0xFF]),
        ("probe_soi_only.jpg".into(), vec![0xFF, 0xD8, 0xFF]),
        (
            "probe_png_signature.png".into(),
            b"\x89PNG\r\n\x1a\n".to_vec(),
        ),
        ("probe_text.tif".into(), b"II*\0 this is text".to_vec()),
        (
            "probe_bm_text.bmp".into(),
            b"BM are initials, not a bitmap".to_vec(),
        ),
    ];
    // A small deterministic generator, so a failure names the same file every run.
    let mut seed = 0x2545_f491_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for (name, bytes) in &bases {
        let (stem, ext) = name.rsplit_once('.').expect("extension");
        let n = bytes.len();
        files.push((name.clone(), bytes.clone()));
        for k in [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 97, 99] {
            files.push((
                format!("{stem}_cut{k}.{ext}"),
                bytes[..n * k / 100].to_vec(),
            ));
        }
        files.push((format!("{stem}_cut_last.{ext}"), bytes[..n - 1].to_vec()));
        for i in 0..18 {
            // Half the flips hit the headers, where sizes and offsets live.
            let at = if i % 2 == 0 { next(n.min(96)) } else { next(n) };
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << (i % 8);
            files.push((format!("{stem}_flip{i}_at{at}.{ext}"), flipped));
        }
        for at in [4, 6, 8, 12, 16, 18, 20, 22] {
            let mut lying = bytes.clone();
            lying[at..at + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF, 0x7F]);
            files.push((format!("{stem}_size_lie_at{at}.{ext}"), lying));
        }
        let wrong = if ext == "jpg" { "png" } else { "jpg" };
        files.push((format!("{stem}_really_{ext}.{wrong}"), bytes.clone()));
    }
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write corpus file");
            path
        })
        .collect()
}

/// Peak resident memory of this process in MB (Linux `VmHWM`).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[test]
fn every_damaged_file_gets_a_result_or_a_named_reason() {
    let dir = tmp();
    let files = hostile_corpus(dir.path());
    let options = IntakeOptions::from_config(&lifelapse::config::Config::default().album);
    let mut outcomes = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    for file in &files {
        let start = Instant::now();
        let taken = std::panic::catch_unwind(|| {
            album::intake(std::slice::from_ref(file), &options, &|| {})
        });
        let elapsed = start.elapsed();
        if elapsed > slowest.0 {
            slowest = (elapsed, file.display().to_string());
        }
        let outcome = match taken {
            Err(_) => Outcome::Panicked,
            Ok(album) => {
                assert_eq!(
                    album.photos.len() + album.rejected.len() + album.duplicates.len(),
                    1,
                    "{}",
                    file.display()
                );
                match (album.photos.first(), album.rejected.first()) {
                    (Some(photo), _) => {
                        assert!(photo.image.width() > 0 && photo.image.height() > 0);
                        Outcome::Photo
                    }
                    (None, Some(r)) => {
                        assert!(!r.error.to_string().is_empty());
                        Outcome::Rejected(r.error.message_key())
                    }
                    (None, None) => panic!("{} vanished", file.display()),
                }
            }
        };
        outcomes.push((file, outcome));
    }
    let panicked: Vec<_> = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Panicked))
        .map(|(f, _)| f.display().to_string())
        .collect();
    assert!(panicked.is_empty(), "intake panicked on {panicked:?}");
    let mut counts = std::collections::BTreeMap::new();
    for (_, o) in &outcomes {
        let key = match o {
            Outcome::Photo => "taken in",
            Outcome::Rejected(key) => key,
            Outcome::Panicked => "panicked",
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    let peak = peak_rss_mb().unwrap_or(0.0);
    eprintln!(
        "hostile corpus: {} files; outcomes {counts:?}; slowest {:.3} s ({}); peak RSS {peak:.0} MB",
        files.len(),
        slowest.0.as_secs_f64(),
        slowest.1
    );
    // Intact originals and wrong extensions are read; the damage shows up in the named reasons.
    assert!(
        counts.get("taken in").is_some_and(|&n| n >= 32),
        "{counts:?}"
    );
    assert!(counts.contains_key("photo-truncated"), "{counts:?}");
    // Generous bounds: a hang or a runaway allocation, not a speed target.
    assert!(slowest.0 < Duration::from_secs(20), "{slowest:?}");
    assert!(peak < 2048.0, "peak RSS {peak:.0} MB");
}

#[test]
fn a_pipe_given_as_a_checkpoint_is_refused_without_blocking() {
    let dir = tmp();
    let fifo = dir.path().join("weights.pt");
    mkfifo(&fifo);
    let result = run_within(
        lifelapse(dir.path()).arg("import-weights").arg(&fifo),
        Duration::from_secs(60),
    );
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("a named pipe, not a regular file"),
        "{}",
        stderr(&result)
    );
}

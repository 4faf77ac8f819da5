//! `lifelapse bench`: fixed workloads timed on this machine, printed as a table or JSON.

#[cfg(feature = "bench-fakes")]
pub mod chat;
#[cfg(feature = "bench-fakes")]
pub mod cluster;
#[cfg(feature = "bench-fakes")]
pub mod crawl;
pub mod stylegan;
pub mod stylegan3;

use crate::album::{self, IntakeOptions};
use crate::config::{Background, Config, RendererKind};
use crate::face::FaceAnalyzer;
use crate::nets::filtered_lrelu_kernel::FilterCores;
use crate::render::{self, Output, RenderError, RenderRequest, RenderSettings};
use crate::select::{AgeFacts, AnalyzedAlbum, DecideOptions};
use crate::video::{self, gif::GifOptions, palette::Dither};
use image::RgbImage;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("benchmark input: {0}")]
    Input(String),
    #[error("the benchmark's networks, files or services could not be set up")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Video(#[from] video::VideoError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

impl BenchError {
    /// For `map_err`: a set-up step failed with `error`, kept as the cause.
    pub fn setup(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Setup(Box::new(error))
    }
}

#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub machine: String,
    pub threads: usize,
    pub intake: Option<IntakeBench>,
    pub faces: Option<FaceBench>,
    pub render: Vec<RenderBench>,
    pub album_200: Option<AlbumMemoryBench>,
    pub gif: Vec<GifBench>,
    pub stylegan: Option<stylegan::StyleganBench>,
    pub stylegan3: Option<stylegan3::Stylegan3Bench>,
    #[cfg(feature = "bench-fakes")]
    pub crawl: Option<crawl::CrawlBench>,
    #[cfg(feature = "bench-fakes")]
    pub chat: Option<chat::ChatBench>,
    #[cfg(feature = "bench-fakes")]
    pub cluster: Option<cluster::ClusterBench>,
}

impl std::fmt::Display for BenchReport {
    /// The report as lines for a person.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            out,
            "machine: {} ({} worker threads)",
            self.machine, self.threads
        )?;
        if let Some(i) = &self.intake {
            writeln!(
                out,
                "intake: 12 MP JPEG in {:.0} ms (median of {})",
                i.photo_12mp_ms, i.runs
            )?;
        }
        if let Some(f) = &self.faces {
            writeln!(out,
                "faces: detect {:.0} ms, landmarks {:.0} ms, describe {:.0} ms (all faces: {:.0} ms), align to 1024² {:.0} ms per photo ({} photos)",
                f.detect_ms, f.landmarks_ms, f.describe_ms, f.analyze_ms, f.align_1024_ms, f.photos
            )?;
        }
        for r in &self.render {
            writeln!(
                out,
                "render: {:<6} background {:<5} {} frames {}² in {:.2} s",
                r.renderer, r.background, r.frames, r.size, r.seconds
            )?;
        }
        if let Some(a) = &self.album_200 {
            writeln!(
                out,
                "album: {} photos of {} MP in {:.1} s, peak memory {:.0} MB -> {:.0} MB",
                a.photos, a.megapixels_each, a.seconds, a.peak_rss_before_mb, a.peak_rss_after_mb
            )?;
        }
        for g in &self.gif {
            writeln!(
                out,
                "gif: {:<40} {} frames {}²  {:>6.2} s  {:>7} KB  PSNR {:.2} dB, worst frame {:.2} dB, flicker {:.3}",
                g.encoder,
                g.frames,
                g.size,
                g.seconds,
                g.bytes / 1000,
                g.fidelity.psnr_db,
                g.fidelity.worst_psnr_db,
                g.fidelity.flicker
            )?;
        }
        #[cfg(feature = "bench-fakes")]
        if let Some(c) = &self.chat {
            writeln!(out,
                "chat: {}-photo album to review {} ms (networks loading) / {} ms (warm); {} chats rendering {} px at once: {} ms, {:.1} renders/min ({} render worker)",
                c.album_photos, c.review_cold_ms, c.review_warm_ms, c.chats, c.render_size, c.renders_wall_ms, c.renders_per_minute, c.render_workers
            )?;
            if let Some(g) = &c.stylegan {
                writeln!(out,
                    "chat, stylegan renderer: {} ms, {:.1} renders/min; checkpoint loaded {} time(s), {} frames in {} batches",
                    g.renders_wall_ms, g.renders_per_minute, g.model_loads, g.frames_generated, g.batches
                )?;
            }
        }
        #[cfg(feature = "bench-fakes")]
        if let Some(c) = &self.cluster {
            for r in &c.rounds {
                writeln!(out,
                    "cluster: {} chats rendering {} px at once with {} worker(s): {} ms, {:.1} renders/min",
                    c.chats, c.render_size, r.workers, r.renders_wall_ms, r.renders_per_minute
                )?;
            }
            writeln!(out,
                "cluster: the queue adds {:.0} ms per render ({:.0} ms on the worker; mean of {} one after another)",
                c.queue_overhead_ms, c.render_ms_on_worker, c.overhead_renders
            )?;
        }
        #[cfg(feature = "bench-fakes")]
        if let Some(c) = &self.crawl {
            writeln!(out,
                "crawl: {} candidates, {} photos kept, {} ms latency per answer: {} ms wall for {} ms of downloads ({:.1}× overlap; {} at once, {} per host)",
                c.candidates, c.photos, c.latency_ms, c.wall_ms, c.download_ms_sum, c.overlap, c.concurrency, c.per_host
            )?;
        }
        if let Some(s) = &self.stylegan {
            for g in &s.generator {
                writeln!(out,
                    "stylegan: generator {} batch {} {}{} {}: {:.1} frames/s ({:.2} ms/frame) on {}",
                    g.config,
                    g.batch,
                    g.precision,
                    if g.channels_last { " NHWC" } else { "" },
                    match g.fuse_up_max_channels {
                        i64::MAX => "composed up-sampling".to_string(),
                        0 => "separate blur".to_string(),
                        n => format!("composed up-sampling up to {n} channels"),
                    },
                    g.frames_per_s,
                    g.ms_per_frame,
                    s.device
                )?;
            }
            for e in &s.encoder {
                writeln!(
                    out,
                    "stylegan: encoder {} batch {} {}: {:.1} encodes/s on {}",
                    e.config, e.batch, e.precision, e.encodes_per_s, s.device
                )?;
            }
            if let Some(c) = &s.fp16_vs_fp32 {
                writeln!(out,
                    "stylegan: fp16 vs fp32 on {}: max |diff| {:.3e}, mean {:.3e}, image absmax {:.3}",
                    c.config, c.diff.max_abs_diff, c.diff.mean_abs_diff, c.diff.absmax
                )?;
            }
        }
        if let Some(sg3) = &self.stylegan3 {
            let route = |fused: bool, radial: Option<FilterCores>| match (fused, radial) {
                (false, _) => "",
                (true, Some(FilterCores::TensorCores)) => {
                    ", fused kernel, radial layers on tensor cores"
                }
                (true, _) => ", fused kernel",
            };
            for g in &sg3.generator {
                writeln!(
                    out,
                    "stylegan3: generator {} {}² batch {} {}{}: {:.2} frames/s ({:.1} ms/frame) on {}",
                    g.config,
                    g.size,
                    g.batch,
                    g.precision,
                    route(g.fused_kernels, g.filter_cores),
                    g.frames_per_s,
                    g.ms_per_frame,
                    sg3.device
                )?;
            }
            for c in &sg3.fused_vs_operators {
                writeln!(
                    out,
                    "stylegan3: fused kernel vs operators, {} {}: max |diff| {:.3e}, mean {:.3e}, image absmax {:.3}",
                    c.config, c.precision, c.diff.max_abs_diff, c.diff.mean_abs_diff, c.diff.absmax
                )?;
            }
            for p in &sg3.profile {
                writeln!(
                    out,
                    "stylegan3: {} batch {} {}{}: {} {:.1} ms/frame ({:.0} %)",
                    p.config,
                    p.batch,
                    p.precision,
                    route(p.fused_kernels, p.filter_cores),
                    p.step,
                    p.ms_per_frame,
                    p.share * 100.0
                )?;
            }
            for l in &sg3.layer_filters {
                writeln!(
                    out,
                    "stylegan3: {} batch {} {}{}: filters of {} (up {}, {}, {}² × {}) {:.2} ms/frame, {:.4} ns per output",
                    l.config,
                    l.batch,
                    l.precision,
                    route(l.fused_kernels, l.filter_cores),
                    l.layer,
                    l.up,
                    if l.radial { "radial" } else { "separable" },
                    l.out_size,
                    l.channels,
                    l.ms_per_frame,
                    l.ns_per_output
                )?;
            }
            for r in &sg3.restyle {
                writeln!(
                    out,
                    "stylegan3: ReStyle {} ({} rounds) batch {} {}: {:.2} encodes/s on {}",
                    r.config, r.rounds, r.batch, r.precision, r.encodes_per_s, sg3.device
                )?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
pub struct IntakeBench {
    /// Decode + orientation + hash + working copy of one 12 MP JPEG, median over runs.
    pub photo_12mp_ms: f64,
    pub runs: usize,
    pub jpeg_bytes: usize,
}

#[derive(Debug, Serialize)]
pub struct GifBench {
    pub encoder: String,
    pub frames: usize,
    pub size: u32,
    /// Median wall time over runs.
    pub seconds: f64,
    pub bytes: u64,
    /// The decoded video against the source frames.
    #[serde(flatten)]
    pub fidelity: video::Fidelity,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<T>(
    runs: usize,
    mut f: impl FnMut() -> Result<T, BenchError>,
) -> Result<(Duration, T), BenchError> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        last = Some(f()?);
        times.push(start.elapsed());
    }
    let last = last.ok_or_else(|| BenchError::Input("no runs".into()))?;
    Ok((median(times), last))
}

/// The demo album's photos, taken in with default settings.
fn sample_album(samples: &Path) -> Result<album::Album, BenchError> {
    let (files, _) = album::expand_paths(&[samples.to_path_buf()]);
    let album = album::intake(
        &files,
        &IntakeOptions::from_config(&Config::default().album),
        &|| {},
    );
    if album.photos.len() < 2 {
        return Err(BenchError::Input(format!(
            "{} holds fewer than two usable photos",
            samples.display()
        )));
    }
    Ok(album)
}

pub fn intake(samples: &Path, runs: usize) -> Result<IntakeBench, BenchError> {
    let album = sample_album(samples)?;
    let tiles: Vec<RgbImage> = album.photos.iter().map(|p| p.image.clone()).collect();
    let jpeg = phone_jpeg(&tiles, 7)?;
    let sources = vec![("bench-12mp.jpg".to_string(), jpeg.clone())];
    let options = IntakeOptions::from_config(&Config::default().album);
    let (t, _) = time(runs, || {
        let a = album::intake(&sources, &options, &|| {});
        match a.photos.len() {
            1 => Ok(()),
            _ => Err(BenchError::Input(format!(
                "12 MP photo not taken in: {:?}",
                a.rejected
            ))),
        }
    })?;
    Ok(IntakeBench {
        photo_12mp_ms: t.as_secs_f64() * 1e3,
        runs,
        jpeg_bytes: jpeg.len(),
    })
}

/// A 4000×3000 JPEG (the size phones send): a 2×2 mosaic of the sample photos picked by the
/// digits of `seed`, so every seed gives a different picture, with sensor-like noise so that it
/// is as hard to decode as a real photo.
fn phone_jpeg(tiles: &[RgbImage], seed: u32) -> Result<Vec<u8>, BenchError> {
    let n = tiles.len().max(1) as u32;
    let mut big = RgbImage::new(4000, 3000);
    for q in 0..4u32 {
        let pick = (seed / n.pow(q)) % n;
        let tile = image::imageops::resize(
            &tiles[pick as usize],
            2000,
            1500,
            image::imageops::FilterType::Triangle,
        );
        image::imageops::replace(
            &mut big,
            &tile,
            (q % 2) as i64 * 2000,
            (q / 2) as i64 * 1500,
        );
    }
    for (i, v) in big.iter_mut().enumerate() {
        // A cheap integer hash as sensor noise: ±8 levels, different for every pixel and seed.
        let h = (i as u32 ^ seed.wrapping_mul(0x9E37_79B9))
            .wrapping_mul(0x85EB_CA6B)
            .rotate_left(13)
            .wrapping_mul(0xC2B2_AE35);
        *v = (*v as i32 + (h >> 28) as i32 - 8).clamp(0, 255) as u8;
    }
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode_image(&big)
        .map_err(BenchError::setup)?;
    Ok(jpeg)
}

#[derive(Debug, Serialize)]
pub struct FaceBench {
    /// Per photo of the demo album (working copies, long side 1024), median over runs:
    /// detection on a 608² grid, landmarks of the first face, alignment of it to 1024².
    pub detect_ms: f64,
    pub landmarks_ms: f64,
    pub align_1024_ms: f64,
    /// Identity descriptor, age and sharpness of every face (chips and both networks).
    pub describe_ms: f64,
    /// The whole `FaceAnalyzer::analyze` (everything above but the 1024² alignment).
    pub analyze_ms: f64,
    pub photos: usize,
}

/// Times each stage of face analysis over the demo album.
pub fn faces(samples: &Path, runs: usize) -> Result<FaceBench, BenchError> {
    use crate::face::{align, detect, landmarks, DetectOptions};
    let album = sample_album(samples)?;
    let (_vs_d, detector) =
        crate::nets::face_detector::load(tch::Device::Cpu).map_err(BenchError::setup)?;
    let (_vs_l, marker) =
        crate::nets::landmarks68::load(tch::Device::Cpu).map_err(BenchError::setup)?;
    let n = album.photos.len() as f64;
    let per_photo = |t: Duration| t.as_secs_f64() * 1e3 / n;
    let (t_detect, boxes) = time(runs, || {
        Ok(album
            .photos
            .iter()
            .map(|p| detect::detect(&detector, &p.image, DetectOptions::default()))
            .collect::<Vec<_>>())
    })?;
    let (t_marks, marks) = time(runs, || {
        Ok(album
            .photos
            .iter()
            .zip(&boxes)
            .map(|(p, b)| landmarks::locate(&marker, &p.image, &b[..b.len().min(1)]))
            .collect::<Vec<_>>())
    })?;
    let (t_align, _) = time(runs, || {
        Ok(album
            .photos
            .iter()
            .zip(&marks)
            .filter_map(|(p, m)| {
                m.first()
                    .map(|m| align::align(&p.image, align::ffhq_quad(m), 1024))
            })
            .count())
    })?;
    let analyzer = FaceAnalyzer::load(tch::Device::Cpu).map_err(BenchError::setup)?;
    let (t_analyze, _) = time(runs, || {
        Ok(album
            .photos
            .iter()
            .map(|p| analyzer.analyze(&p.image).len())
            .sum::<usize>())
    })?;
    let t_detect_and_marks = t_detect + t_marks;
    Ok(FaceBench {
        detect_ms: per_photo(t_detect),
        landmarks_ms: per_photo(t_marks),
        align_1024_ms: per_photo(t_align),
        describe_ms: per_photo(t_analyze.saturating_sub(t_detect_and_marks)),
        analyze_ms: per_photo(t_analyze),
        photos: album.photos.len(),
    })
}

/// Peak resident memory of this process so far, in MB (Linux).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Debug, Serialize)]
pub struct AlbumMemoryBench {
    pub photos: usize,
    pub megapixels_each: f64,
    pub seconds: f64,
    /// Peak resident memory before and after taking in the album.
    pub peak_rss_before_mb: f64,
    pub peak_rss_after_mb: f64,
}

/// Takes in an album of `count` distinct 12 MP photos from disk and reports time and peak memory.
pub fn album_memory(samples: &Path, count: usize) -> Result<AlbumMemoryBench, BenchError> {
    use rayon::prelude::*;
    let album = sample_album(samples)?;
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let tiles: Vec<RgbImage> = album.photos.iter().map(|p| p.image.clone()).collect();
    drop(album);
    let paths: Vec<std::path::PathBuf> = (0..count)
        .into_par_iter()
        .map(|i| {
            let path = dir.path().join(format!("{i:04}.jpg"));
            std::fs::write(&path, phone_jpeg(&tiles, i as u32)?).map_err(BenchError::setup)?;
            Ok(path)
        })
        .collect::<Result<_, BenchError>>()?;
    let before = peak_rss_mb().unwrap_or(0.0);
    let start = Instant::now();
    // The mosaics share quadrants, which near-duplicate grouping would (rightly) catch at the
    // default threshold; only identical fingerprints are grouped here, so all 200 are decoded.
    let mut options = IntakeOptions::from_config(&Config::default().album);
    options.near_duplicate_bits = 0;
    let taken = album::intake(&paths, &options, &|| {});
    let seconds = start.elapsed().as_secs_f64();
    if taken.photos.len() != count {
        return Err(BenchError::Input(format!(
            "{} of {count} photos taken in",
            taken.photos.len()
        )));
    }
    Ok(AlbumMemoryBench {
        photos: count,
        megapixels_each: 12.0,
        seconds,
        peak_rss_before_mb: before,
        peak_rss_after_mb: peak_rss_mb().unwrap_or(0.0),
    })
}

/// The demo album with its faces found and judged as the CLI does by default.
fn demo_album(samples: &Path) -> Result<AnalyzedAlbum, BenchError> {
    let album = sample_album(samples)?;
    let analyzer = FaceAnalyzer::load(tch::Device::Cpu).map_err(BenchError::setup)?;
    let faces = analyzer.analyze_album(&album, &|| {});
    let options = DecideOptions::from_config(&Config::default());
    Ok(AnalyzedAlbum::judge(
        album,
        faces,
        options,
        AgeFacts::default(),
    ))
}

/// Renders about `frames` frames (no held frames, even spacing) of the album at `size`² with
/// `renderer` into memory, through the one render path.
fn demo_frames(
    album: &AnalyzedAlbum,
    size: u32,
    frames: usize,
    renderer: RendererKind,
    background: Background,
) -> Result<render::Frames, BenchError> {
    let gaps = album.selected().keyframe_count().saturating_sub(1).max(1);
    let between = (frames.saturating_sub(1).div_ceil(gaps)).saturating_sub(1) as u32;
    let mut config = Config::default();
    let r = &mut config.render;
    (r.size, r.renderer, r.frames_between) = (size, renderer, between);
    r.background = background;
    (r.spacing, r.hold_frames, r.ease) = (crate::config::SpacingKind::Fixed, 0, false);
    let settings = RenderSettings::from_config(&config)?;
    let request = RenderRequest {
        album: album.selected(),
        settings: &settings,
        output: Output::Memory,
    };
    let engines = crate::inference::Resident::new(Default::default());
    let rendered = render::run(&request, &engines, &|_, _| {}, &Default::default())?;
    Ok(rendered.frames.unwrap_or_default())
}

#[derive(Debug, Serialize)]
pub struct RenderBench {
    pub renderer: RendererKind,
    pub background: Background,
    pub frames: usize,
    pub size: u32,
    /// Median wall time to render every frame (in parallel, as the encoders do).
    pub seconds: f64,
}

/// Renders 100 frames of the demo album with each renderer, from the analysed album to the
/// frames in memory (keyframe alignment and person segmentation included): each with the
/// default background, and the morph with every background.
pub fn render(
    samples: &Path,
    size: u32,
    frames: usize,
    runs: usize,
) -> Result<Vec<RenderBench>, BenchError> {
    let album = demo_album(samples)?;
    let mut out = Vec::new();
    let default = Config::default().render.background;
    let mut cases = vec![(RendererKind::Pixel, default)];
    cases.extend(Background::ALL.map(|b| (RendererKind::Morph, b)));
    for (kind, background) in cases {
        let (t, made) = time(runs, || demo_frames(&album, size, frames, kind, background))?;
        out.push(RenderBench {
            renderer: kind,
            background,
            frames: made.frames.len(),
            size,
            seconds: t.as_secs_f64(),
        });
    }
    Ok(out)
}

/// The frame rate of the encoded benchmark videos.
const BENCH_FPS: f32 = 20.0;

/// 100 frames of the demo album at `size`², rendered once, then encoded by each encoder:
/// lifelapse's GIF with each dither, and on the same frames the peers that are installed:
/// ffmpeg's two-pass GIF with ordered dither, gifski (`--fast`), and lifelapse's MP4.
pub fn gif(
    samples: &Path,
    size: u32,
    frames: usize,
    runs: usize,
) -> Result<Vec<GifBench>, BenchError> {
    let album = demo_album(samples)?;
    let mut source =
        demo_frames(&album, size, frames, RendererKind::Pixel, Background::Keep)?.frames;
    source.truncate(frames);
    while let Some(last) = source.last().filter(|_| source.len() < frames).cloned() {
        source.push(last);
    }

    let mut results = Vec::new();
    for dither in [Dither::Ordered, Dither::FloydSteinberg, Dither::None] {
        let options = GifOptions {
            dither,
            ..GifOptions::default()
        };
        let (t, bytes) = time(runs, || {
            let mut out = Vec::new();
            video::gif::encode(&source, BENCH_FPS, &options, &mut out, &|_| {})?;
            Ok(out)
        })?;
        results.push(GifBench {
            encoder: format!("lifelapse ({dither:?})"),
            frames,
            size,
            seconds: t.as_secs_f64(),
            bytes: bytes.len() as u64,
            fidelity: gif_fidelity(&bytes, &source)?,
        });
    }
    if let Some(r) = ffmpeg_gif(&source, size, runs)? {
        results.push(r);
    }
    if let Some(r) = gifski_gif(&source, size, runs)? {
        results.push(r);
    }
    if video::mp4::available() {
        results.push(mp4(&source, size, runs)?);
    }
    Ok(results)
}

/// Whether `program` runs (a peer encoder the comparison uses when it is installed).
fn installed(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// ffmpeg's two-pass palettegen/paletteuse with ordered (Bayer) dither on the same raw frames,
/// when ffmpeg is installed.
fn ffmpeg_gif(frames: &[RgbImage], size: u32, runs: usize) -> Result<Option<GifBench>, BenchError> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if Command::new("ffmpeg").arg("-version").output().is_err() {
        return Ok(None);
    }
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let out = dir.path().join("ffmpeg.gif");
    let (t, _) = time(runs, || {
        let mut child = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-f", "rawvideo"])
            .args(["-pix_fmt", "rgb24", "-s"])
            .arg(format!("{size}x{size}"))
            .arg("-r")
            .arg(BENCH_FPS.to_string())
            .args(["-i", "-", "-filter_complex"])
            .arg("[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse=dither=bayer")
            .arg(&out)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(BenchError::setup)?;
        if let Some(mut stdin) = child.stdin.take() {
            for f in frames {
                stdin.write_all(f.as_raw()).map_err(BenchError::setup)?;
            }
        }
        succeeded("ffmpeg", child.wait().map_err(BenchError::setup)?)
    })?;
    peer_row(
        "ffmpeg palettegen/paletteuse (bayer)",
        &out,
        frames,
        size,
        t,
    )
    .map(Some)
}

/// A peer's exit status as a result.
fn succeeded(program: &str, status: std::process::ExitStatus) -> Result<(), BenchError> {
    if status.success() {
        Ok(())
    } else {
        Err(BenchError::Input(format!("{program} failed: {status}")))
    }
}

/// A peer encoder's row: the GIF it wrote in `time`, compared with the source frames.
fn peer_row(
    encoder: &str,
    file: &Path,
    frames: &[RgbImage],
    size: u32,
    time: Duration,
) -> Result<GifBench, BenchError> {
    let bytes = std::fs::read(file).map_err(BenchError::setup)?;
    Ok(GifBench {
        encoder: encoder.into(),
        frames: frames.len(),
        size,
        seconds: time.as_secs_f64(),
        bytes: bytes.len() as u64,
        fidelity: gif_fidelity(&bytes, frames)?,
    })
}

/// gifski's `--fast` mode on the same frames (as PNG files, written before the timing), when
/// a `gifski` program is on the PATH. It is only run for comparison; lifelapse does not use it.
fn gifski_gif(frames: &[RgbImage], size: u32, runs: usize) -> Result<Option<GifBench>, BenchError> {
    if !installed("gifski") {
        return Ok(None);
    }
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let mut pngs = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let path = dir.path().join(format!("{i:05}.png"));
        frame.save(&path).map_err(BenchError::setup)?;
        pngs.push(path);
    }
    let out = dir.path().join("gifski.gif");
    let (t, _) = time(runs, || {
        let status = std::process::Command::new("gifski")
            .args(["--fast", "--quiet", "--fps"])
            .arg(BENCH_FPS.to_string())
            .arg("-o")
            .arg(&out)
            .args(&pngs)
            .status()
            .map_err(BenchError::setup)?;
        succeeded("gifski", status)
    })?;
    peer_row("gifski --fast", &out, frames, size, t).map(Some)
}

/// lifelapse's MP4 writer (ffmpeg, libx264, CRF 20) on the same frames, compared through
/// ffmpeg's own decode of the file.
fn mp4(frames: &[RgbImage], size: u32, runs: usize) -> Result<GifBench, BenchError> {
    let dir = tempfile::tempdir().map_err(BenchError::setup)?;
    let out = dir.path().join("lapse.mp4");
    let owned: Vec<RgbImage> = frames.to_vec();
    let options = video::mp4::Mp4Options {
        fps: BENCH_FPS,
        ..Default::default()
    };
    let (t, bytes) = time(runs, || {
        Ok(video::mp4::write_file(&out, &owned, &options, &|_| {})?)
    })?;
    let decoded = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .map_err(BenchError::setup)?;
    let per = (size * size * 3) as usize;
    let decoded: Vec<RgbImage> = decoded
        .stdout
        .chunks_exact(per)
        .filter_map(|chunk| RgbImage::from_raw(size, size, chunk.to_vec()))
        .collect();
    if decoded.len() != frames.len() {
        return Err(BenchError::Input(format!(
            "MP4 holds {} frames, expected {}",
            decoded.len(),
            frames.len()
        )));
    }
    Ok(GifBench {
        encoder: "lifelapse MP4 (ffmpeg libx264, CRF 20)".into(),
        frames: decoded.len(),
        size,
        seconds: t.as_secs_f64(),
        bytes,
        fidelity: video::fidelity(&decoded, frames),
    })
}

/// Decodes a GIF as a viewer plays it and compares it with its source frames.
pub fn gif_fidelity(gif_bytes: &[u8], source: &[RgbImage]) -> Result<video::Fidelity, BenchError> {
    let decoded = video::gif::decode(std::io::Cursor::new(gif_bytes), source.len() + 1)?;
    if decoded.len() != source.len() {
        return Err(BenchError::Input(format!(
            "GIF shows {} frames, expected {}",
            decoded.len(),
            source.len()
        )));
    }
    Ok(video::fidelity(&decoded, source))
}

/// One of the benchmarks `run` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    Intake,
    Faces,
    Render,
    Album,
    Gif,
    /// StyleGAN2 and StyleGAN3.
    Stylegan,
    /// StyleGAN3 and ReStyle only (with StyleGAN2 beside them as the peer).
    Stylegan3,
    Crawl,
    Chat,
    /// Front-end and workers on a local NATS server (only when named; needs `nats-server`).
    Cluster,
}

/// Everything (or only one workload), with the machine it ran on.
pub fn run(
    samples: &Path,
    only: Option<Workload>,
    runs: usize,
    device: tch::Device,
    checkpoint: Option<&Path>,
) -> Result<BenchReport, BenchError> {
    let machine = format!(
        "{} cores, {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        crate::nets::device::describe(tch::Device::Cpu)
    );
    let intake = match only {
        None | Some(Workload::Intake) => Some(intake(samples, runs)?),
        _ => None,
    };
    let faces = match only {
        None | Some(Workload::Faces) => Some(faces(samples, runs)?),
        _ => None,
    };
    let render = match only {
        None | Some(Workload::Render) => render(samples, 512, 100, runs)?,
        _ => Vec::new(),
    };
    let album_200 = match only {
        None | Some(Workload::Album) => Some(album_memory(samples, 200)?),
        _ => None,
    };
    let gif = match only {
        None | Some(Workload::Gif) => gif(samples, 512, 100, runs)?,
        _ => Vec::new(),
    };
    let stylegan = match only {
        None | Some(Workload::Stylegan) => Some(stylegan::run(device, 1.5)?),
        _ => None,
    };
    let stylegan3 = match only {
        None | Some(Workload::Stylegan | Workload::Stylegan3) => Some(stylegan3::run(device, 1.5)?),
        _ => None,
    };
    #[cfg(feature = "bench-fakes")]
    let crawl = match only {
        None | Some(Workload::Crawl) => {
            Some(crawl::run(samples, std::time::Duration::from_millis(100))?)
        }
        _ => None,
    };
    #[cfg(feature = "bench-fakes")]
    let chat = match only {
        None | Some(Workload::Chat) => Some(chat::run(samples, device, checkpoint)?),
        _ => None,
    };
    #[cfg(feature = "bench-fakes")]
    let cluster = match only {
        Some(Workload::Cluster) => Some(cluster::run(samples, device)?),
        _ => None,
    };
    #[cfg(not(feature = "bench-fakes"))]
    if let Some(Workload::Chat | Workload::Crawl | Workload::Cluster) = only {
        let _ = checkpoint;
        return Err(BenchError::Input(
            "the chat, crawl and cluster benchmarks run against the test fakes: build with \
             `--features bench-fakes`"
                .into(),
        ));
    }
    Ok(BenchReport {
        #[cfg(feature = "bench-fakes")]
        chat,
        #[cfg(feature = "bench-fakes")]
        cluster,
        machine,
        threads: rayon::current_num_threads(),
        intake,
        faces,
        render,
        album_200,
        gif,
        stylegan,
        stylegan3,
        #[cfg(feature = "bench-fakes")]
        crawl,
    })
}

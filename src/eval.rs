//! `lifelapse eval`: scores a finished video, or renders one album with several renderers and
//! scores each, with the metrics of [`crate::lapse::metrics`], and draws their curves.

use crate::face::{Descriptor, FaceAnalyzer};
use crate::lapse::metrics::{self, FrameScores, Summary};
use crate::leaves::font::{draw_text, text_width};
use crate::video::VideoError;
use image::{Rgb, RgbImage};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Most frames read from a video.
pub const MAX_VIDEO_FRAMES: usize = 3000;

#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub renderers: BTreeMap<String, Summary>,
    /// Per-frame curves, by the same names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub per_frame: BTreeMap<String, FrameScores>,
}

/// One video's frames with the real photos it was made from and, per frame, the two photos
/// it lies between (indices into `refs`).
pub struct VideoToScore {
    pub name: String,
    pub frames: Vec<RgbImage>,
    pub refs: Vec<RgbImage>,
    pub pairs: Vec<(usize, usize)>,
}

/// The reference faces of one video and, per frame, which two of them it lies between.
pub struct References<'a> {
    pub images: Vec<&'a RgbImage>,
    /// Per frame: indices into `images`.
    pub pairs: Vec<(usize, usize)>,
}

/// The descriptor of the face in an aligned frame, if any.
fn descriptor(analyzer: &FaceAnalyzer, image: &RgbImage) -> Option<Descriptor> {
    analyzer.analyze_aligned(image).and_then(|f| f.descriptor)
}

/// Scores every frame against its two references.
pub fn score(
    frames: &[RgbImage],
    refs: &References,
    analyzer: &FaceAnalyzer,
    progress: &dyn Fn(),
) -> FrameScores {
    let ref_descriptors: Vec<Option<Descriptor>> = refs
        .images
        .iter()
        .map(|img| descriptor(analyzer, img))
        .collect();
    let Some(first) = frames.first() else {
        return FrameScores::new(Vec::new(), &[], Vec::new());
    };
    let regions = metrics::RegionMap::ffhq(first.width(), first.height());
    let ref_edges: Vec<metrics::RegionEdges> =
        refs.images.par_iter().map(|i| regions.edges(i)).collect();
    let ghosting: Vec<metrics::RegionGhosting> = frames
        .par_iter()
        .zip(&refs.pairs)
        .map(|(f, &(a, b))| {
            metrics::region_ghosting(&regions.edges(f), &ref_edges[a], &ref_edges[b])
        })
        .collect();
    let mut identity = Vec::with_capacity(frames.len());
    for (frame, &(a, b)) in frames.iter().zip(&refs.pairs) {
        let found = descriptor(analyzer, frame);
        let references: Vec<&Descriptor> = [a, b]
            .iter()
            .filter_map(|&i| ref_descriptors[i].as_ref())
            .collect();
        identity.push(found.and_then(|d| metrics::identity(&d, &references)));
        progress();
    }
    let change: Vec<f64> = (0..frames.len())
        .map(|i| match i {
            0 => 0.0,
            _ => metrics::frame_change(&frames[i - 1], &frames[i]),
        })
        .collect();
    FrameScores::new(identity, &ghosting, change)
}

impl std::fmt::Display for EvalReport {
    /// The report as a table for a person.
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            out,
            "{:<12} {:>7} {:>7} | {:>6} {:>6} | {:>6} {:>6} {:>7} {:>6} | {:>6} {:>6} {:>6}",
            "renderer",
            "id mean",
            "id min",
            "ghost",
            "g max",
            "face",
            "hair",
            "clothes",
            "backgr",
            "smooth",
            "spikes",
            "frames"
        )?;
        for (name, s) in &self.renderers {
            writeln!(
                out,
                "{:<12} {:>7.3} {:>7.3} | {:>6.1} {:>6.1} | {:>6.1} {:>6.1} {:>7.1} {:>6.1} | {:>6.2} {:>6} {:>6}",
                name,
                s.identity_mean,
                s.identity_min,
                s.ghosting_full_mean,
                s.ghosting_full_max,
                s.ghosting_mean,
                s.ghosting_hair_mean,
                s.ghosting_clothes_mean,
                s.ghosting_background_mean,
                s.smoothness,
                s.spikes,
                s.frames
            )?;
        }
        Ok(())
    }
}

/// For frames of a finished video: the two references whose edges each frame matches best.
pub fn nearest_pairs(frames: &[RgbImage], refs: &[&RgbImage]) -> Vec<(usize, usize)> {
    let Some(first) = frames.first() else {
        return Vec::new();
    };
    // One region map for every frame and reference (they share the video's size).
    let regions = metrics::RegionMap::ffhq(first.width(), first.height());
    let ref_edges: Vec<Vec<f32>> = refs.par_iter().map(|i| regions.face_edges(i)).collect();
    frames
        .par_iter()
        .map(|f| {
            let e = regions.face_edges(f);
            let mut order: Vec<(f64, usize)> = ref_edges
                .iter()
                .enumerate()
                .map(|(i, r)| (metrics::correlation(&e, r), i))
                .collect();
            order.sort_by(|x, y| y.0.total_cmp(&x.0));
            let first = order.first().map_or(0, |o| o.1);
            let second = order.get(1).map_or(first, |o| o.1);
            (first.min(second), first.max(second))
        })
        .collect()
}

/// Reads every frame of a GIF or MP4 (MP4 through ffmpeg).
pub fn read_video(path: &Path) -> Result<Vec<RgbImage>, VideoError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let frames = match ext.as_deref() {
        Some("gif") => read_gif(path)?,
        Some("mp4") | Some("mov") | Some("webm") => read_with_ffmpeg(path)?,
        _ => return Err(VideoError::NotAVideo(path.display().to_string())),
    };
    if frames.is_empty() {
        return Err(VideoError::NoFrames);
    }
    Ok(frames)
}

fn read_gif(path: &Path) -> Result<Vec<RgbImage>, VideoError> {
    let file = std::fs::File::open(path).map_err(|source| VideoError::Open {
        path: path.display().to_string(),
        source,
    })?;
    crate::video::gif::decode(std::io::BufReader::new(file), MAX_VIDEO_FRAMES)
}

fn read_with_ffmpeg(path: &Path) -> Result<Vec<RgbImage>, VideoError> {
    use std::process::Command;
    let missing =
        |_| VideoError::EncoderMissing("reading MP4 needs ffmpeg and ffprobe on the PATH");
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height", "-of", "csv=p=0:s=x"])
        .arg(path)
        .output()
        .map_err(missing)?;
    let dims = String::from_utf8_lossy(&probe.stdout);
    let (w, h) = dims
        .trim()
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .ok_or_else(|| VideoError::Read {
            path: path.display().to_string(),
            message: "no video stream".into(),
        })?;
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", &MAX_VIDEO_FRAMES.to_string()])
        .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .map_err(missing)?;
    if !out.status.success() {
        return Err(VideoError::Read {
            path: path.display().to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let per = (w * h * 3) as usize;
    Ok(out
        .stdout
        .chunks_exact(per)
        .filter_map(|c| RgbImage::from_raw(w, h, c.to_vec()))
        .collect())
}

const PLOT_W: u32 = 960;
const PANEL_H: u32 = 180;
const MARGIN: u32 = 48;

/// The curves of one video, one panel per measure (identity; ghosting over the whole frame and
/// the face; ghosting per outer region; frame change with spikes in red), each curve labelled
/// in its colour. Drawn here because a plotting crate would bring font rendering for a few
/// labels.
pub fn plot(title: &str, scores: &FrameScores) -> RgbImage {
    struct Panel<'a> {
        label: &'static str,
        curves: Vec<(&'static str, &'a [f64], Rgb<u8>)>,
        top: f64,
        spikes: bool,
    }
    let ids: Vec<f64> = scores.identity.iter().map(|i| i.unwrap_or(0.0)).collect();
    let top_of = |curves: &[&[f64]], floor: f64| {
        curves
            .iter()
            .flat_map(|c| c.iter().copied())
            .fold(floor, f64::max)
    };
    let ghost_top = top_of(
        &[
            &scores.ghosting,
            &scores.ghosting_full,
            &scores.ghosting_hair,
            &scores.ghosting_clothes,
            &scores.ghosting_background,
        ],
        10.0,
    );
    let panels = [
        Panel {
            label: "identity (0-1)",
            curves: vec![("", &ids, Rgb([30, 90, 200]))],
            top: 1.0,
            spikes: false,
        },
        Panel {
            label: "ghosting (%)",
            curves: vec![
                ("whole frame", &scores.ghosting_full, Rgb([120, 40, 160])),
                ("face", &scores.ghosting, Rgb([200, 110, 20])),
            ],
            top: ghost_top,
            spikes: false,
        },
        Panel {
            label: "ghosting by region (%)",
            curves: vec![
                ("hair", &scores.ghosting_hair, Rgb([150, 90, 40])),
                ("clothes", &scores.ghosting_clothes, Rgb([30, 140, 160])),
                (
                    "background",
                    &scores.ghosting_background,
                    Rgb([120, 120, 120]),
                ),
            ],
            top: ghost_top,
            spikes: false,
        },
        Panel {
            label: "change (levels)",
            curves: vec![("", &scores.change, Rgb([40, 150, 60]))],
            top: top_of(&[&scores.change], 5.0),
            spikes: true,
        },
    ];
    let height = MARGIN + panels.len() as u32 * (PANEL_H + MARGIN);
    let mut img = RgbImage::from_pixel(PLOT_W, height, Rgb([255, 255, 255]));
    let dark = Rgb([40, 40, 40]);
    draw_text(&mut img, title, MARGIN, 14, 2, dark);
    let n = scores.ghosting.len();
    for (p, panel) in panels.iter().enumerate() {
        let y0 = MARGIN + p as u32 * (PANEL_H + MARGIN) + MARGIN / 2;
        let x0 = MARGIN;
        let w = PLOT_W - 2 * MARGIN;
        draw_text(&mut img, panel.label, x0, y0 - 18, 2, dark);
        let mut legend_x = x0 + text_width(panel.label, 2) + 24;
        for (name, _, colour) in &panel.curves {
            if !name.is_empty() {
                draw_text(&mut img, name, legend_x, y0 - 18, 2, *colour);
                legend_x += text_width(name, 2) + 16;
            }
        }
        let top = panel.top;
        let top_label = format!("{:.0}", top);
        draw_text(
            &mut img,
            &top_label,
            x0.saturating_sub(text_width(&top_label, 1) + 4),
            y0,
            1,
            dark,
        );
        // Axes.
        for x in x0..x0 + w {
            img.put_pixel(x, y0 + PANEL_H, dark);
        }
        for y in y0..=y0 + PANEL_H {
            img.put_pixel(x0, y, dark);
        }
        let to_xy = |i: usize, v: f64| {
            let x = x0 + ((i as f64 / (n.max(2) - 1) as f64) * (w - 1) as f64) as u32;
            let y = y0 + PANEL_H - ((v / top).clamp(0.0, 1.0) * PANEL_H as f64) as u32;
            (x, y)
        };
        if panel.spikes {
            for (i, &s) in scores.spike.iter().enumerate() {
                if s {
                    let (x, _) = to_xy(i, 0.0);
                    for y in y0..y0 + PANEL_H {
                        img.put_pixel(x, y, Rgb([230, 60, 60]));
                    }
                }
            }
        }
        for (_, values, colour) in &panel.curves {
            for i in 1..values.len() {
                let (xa, ya) = to_xy(i - 1, values[i - 1]);
                let (xb, yb) = to_xy(i, values[i]);
                let steps = (xb.abs_diff(xa)).max(yb.abs_diff(ya)).max(1);
                for s in 0..=steps {
                    let t = s as f64 / steps as f64;
                    let x = (xa as f64 + t * (xb as f64 - xa as f64)).round() as u32;
                    let y = (ya as f64 + t * (yb as f64 - ya as f64)).round() as u32;
                    for dy in 0..2 {
                        if y + dy < img.height() && x < img.width() {
                            img.put_pixel(x, y + dy, *colour);
                        }
                    }
                }
            }
        }
    }
    img
}

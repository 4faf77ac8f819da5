//! Animated GIF: one palette for the whole video, frames mapped onto it in parallel batches.
//! A pixel is written again only when what the viewer sees there has drifted from the source by
//! more than a small tolerance; everything else is transparent, so the previous frame shows
//! through. Each frame is cropped to the pixels it changes, a frame that changes nothing
//! lengthens the one before, and frames are LZW-compressed in parallel and written in order.

use super::palette::{Dither, Palette};
use super::{FrameSource, VideoError, VideoStats};
use image::RgbImage;
use rayon::prelude::*;
use std::io::Write;
use std::path::Path;

/// How a GIF is made (its frame rate is the video's, given beside these).
#[derive(Debug, Clone, Copy)]
pub struct GifOptions {
    /// Palette size, 2–256.
    pub colors: u32,
    pub dither: Dither,
    /// 0 loops forever.
    pub loop_count: u16,
}

impl Default for GifOptions {
    fn default() -> Self {
        Self {
            colors: 256,
            dither: Dither::Ordered,
            loop_count: 0,
        }
    }
}

/// How far, in levels of each channel (weighted root mean square), what the viewer sees may
/// drift from the source before the pixel is written again. The slow changes of a time-lapse
/// are then written every few frames rather than every frame, which keeps the file small and
/// still areas from shimmering. Chosen by measurement (docs/performance.md): at 5.5 the files
/// are smaller than gifski's at a higher overall PSNR, the worst frame stays above ffmpeg's and
/// the flicker below it.
const HOLD_TOLERANCE: f32 = 5.5;

/// Frame delay in the GIF's 1/100 s units at `fps`. Browsers slow delays under 2 to 10, so 2 is
/// the floor.
pub fn delay_centis(fps: f32) -> u16 {
    (100.0 / fps.max(0.01)).round().clamp(2.0, 65535.0) as u16
}

/// Frames per parallel batch: enough to keep every core busy, few enough to bound memory.
fn batch_len() -> usize {
    rayon::current_num_threads().max(1) * 4
}

/// Encodes every frame of `source` as an animated GIF into `out`. `progress` gets the number of
/// frames finished so far. Returns the number of frames shown (frames that change nothing are
/// stored as a longer delay of the one before, so the file may hold fewer).
pub fn encode<W: Write>(
    source: &dyn FrameSource,
    fps: f32,
    options: &GifOptions,
    out: W,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<usize, VideoError> {
    check_size(source)?;
    // One palette entry is kept free to mark pixels that keep what the viewer already sees.
    let palette = learn_palette(source, options.colors.clamp(2, 256) - 1)?;
    encode_with(source, &palette, fps, options, out, progress)
}

/// Refuses an empty source and sizes a GIF cannot hold.
fn check_size(source: &dyn FrameSource) -> Result<(u32, u32), VideoError> {
    if source.is_empty() {
        return Err(VideoError::NoFrames);
    }
    let (w, h) = source.size();
    if w > u16::MAX as u32 || h > u16::MAX as u32 || w == 0 || h == 0 {
        return Err(VideoError::TooLarge(w, h));
    }
    Ok((w, h))
}

/// [`encode`] with a palette already learned (of at most 255 colours).
fn encode_with<W: Write>(
    source: &dyn FrameSource,
    palette: &Palette,
    fps: f32,
    options: &GifOptions,
    out: W,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<usize, VideoError> {
    let (w, h) = check_size(source)?;
    let n = source.len();
    let transparent = palette.len() as u8;
    let mut global = palette.rgb_bytes();
    global.extend_from_slice(&[0, 0, 0]);
    let enc_err = VideoError::GifEncode;
    let mut encoder = gif::Encoder::new(out, w as u16, h as u16, &global).map_err(enc_err)?;
    let repeat = match options.loop_count {
        0 => gif::Repeat::Infinite,
        n => gif::Repeat::Finite(n),
    };
    encoder.set_repeat(repeat).map_err(enc_err)?;
    let delay = delay_centis(fps);

    let mut screen: Option<Screen> = None;
    // The last frame made, held back until it is known whether the next frames lengthen it.
    let mut pending: Option<gif::Frame<'static>> = None;
    let mut done = 0;
    for start in (0..n).step_by(batch_len()) {
        let end = (start + batch_len()).min(n);
        let mapped: Vec<(RgbImage, Vec<u8>)> = (start..end)
            .into_par_iter()
            .map(|i| {
                let image = source.frame(i)?;
                if image.dimensions() != (w, h) {
                    return Err(VideoError::FrameSize {
                        index: i,
                        got: image.dimensions(),
                        expected: (w, h),
                    });
                }
                let indices = palette.map(&image, options.dither);
                Ok((image, indices))
            })
            .collect::<Result<_, _>>()?;
        let mut rest = mapped.as_slice();
        let mut changes = Vec::with_capacity(mapped.len());
        let screen = screen.get_or_insert_with(|| {
            let (first, others) = mapped.split_first().expect("a batch holds a frame");
            rest = others;
            changes.push(Change::whole(&first.1, w, h));
            Screen {
                width: w as usize,
                shown: first.1.clone(),
            }
        });
        changes.extend(screen.advance(rest, palette, transparent));

        let mut frames: Vec<gif::Frame<'static>> = Vec::with_capacity(changes.len());
        for change in changes {
            let Some(rect) = change.rect else {
                if let Some(last) = frames.last_mut().or(pending.as_mut()) {
                    last.delay = last.delay.saturating_add(delay);
                }
                continue;
            };
            let first = pending.is_none() && frames.is_empty();
            frames.push(gif::Frame {
                left: rect.left as u16,
                top: rect.top as u16,
                width: rect.width() as u16,
                height: rect.height() as u16,
                delay,
                dispose: gif::DisposalMethod::Keep,
                buffer: rect.crop(&change.buffer, w as usize).into(),
                transparent: (!first).then_some(transparent),
                ..gif::Frame::default()
            });
        }
        frames.par_iter_mut().for_each(|f| f.make_lzw_pre_encoded());
        for frame in frames {
            if let Some(ready) = pending.replace(frame) {
                encoder
                    .write_lzw_pre_encoded_frame(&ready)
                    .map_err(enc_err)?;
            }
        }
        done = end;
        progress(done);
    }
    if let Some(last) = pending {
        encoder
            .write_lzw_pre_encoded_frame(&last)
            .map_err(enc_err)?;
    }
    encoder.into_inner().map_err(enc_err)?;
    Ok(done)
}

/// What the viewer sees after the frames written so far: a palette index per pixel.
struct Screen {
    width: usize,
    shown: Vec<u8>,
}

/// One frame as written: an index or `transparent` per pixel of the whole picture, and the
/// rectangle holding every pixel it changes (none when it changes nothing).
struct Change {
    buffer: Vec<u8>,
    rect: Option<Rect>,
}

impl Change {
    fn whole(indices: &[u8], w: u32, h: u32) -> Self {
        Self {
            buffer: indices.to_vec(),
            rect: Some(Rect {
                left: 0,
                top: 0,
                right: w as usize - 1,
                bottom: h as usize - 1,
            }),
        }
    }
}

/// Pixels `left..=right` × `top..=bottom`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rect {
    left: usize,
    top: usize,
    right: usize,
    bottom: usize,
}

impl Rect {
    fn union(a: Option<Self>, b: Option<Self>) -> Option<Self> {
        match (a, b) {
            (Some(a), Some(b)) => Some(Self {
                left: a.left.min(b.left),
                top: a.top.min(b.top),
                right: a.right.max(b.right),
                bottom: a.bottom.max(b.bottom),
            }),
            (a, b) => a.or(b),
        }
    }

    fn width(&self) -> usize {
        self.right - self.left + 1
    }

    fn height(&self) -> usize {
        self.bottom - self.top + 1
    }

    /// The rectangle's pixels out of a whole picture `width` pixels wide.
    fn crop(&self, picture: &[u8], width: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.width() * self.height());
        for y in self.top..=self.bottom {
            out.extend_from_slice(&picture[y * width + self.left..=y * width + self.right]);
        }
        out
    }
}

impl Screen {
    /// Writes `frames` (each a source picture and its palette indices) onto the screen in
    /// order and returns what each changes. Pixels are independent, so bands of rows are
    /// worked on in parallel, each through every frame of the batch.
    fn advance(
        &mut self,
        frames: &[(RgbImage, Vec<u8>)],
        palette: &Palette,
        transparent: u8,
    ) -> Vec<Change> {
        let w = self.width;
        let rows = self.shown.len() / w;
        let band_rows = rows
            .div_ceil(rayon::current_num_threads().max(1) * 4)
            .max(1);
        let bands: Vec<Vec<(Vec<u8>, Option<Rect>)>> = self
            .shown
            .par_chunks_mut(band_rows * w)
            .enumerate()
            .map(|(band, shown)| {
                let offset = band * band_rows * w;
                frames
                    .iter()
                    .map(|(image, indices)| {
                        let source = &image.as_raw()[3 * offset..3 * (offset + shown.len())];
                        let wanted = &indices[offset..offset + shown.len()];
                        hold_or_write(shown, source, wanted, palette, transparent, w, offset / w)
                    })
                    .collect()
            })
            .collect();
        (0..frames.len())
            .map(|f| {
                let mut buffer = Vec::with_capacity(self.shown.len());
                let mut rect = None;
                for band in &bands {
                    buffer.extend_from_slice(&band[f].0);
                    rect = Rect::union(rect, band[f].1);
                }
                Change { buffer, rect }
            })
            .collect()
    }
}

/// One frame over a band of whole rows starting at row `top`. A pixel keeps what is shown when
/// that is its mapped index, is within [`HOLD_TOLERANCE`] of its source colour, or is no further
/// from it than the mapped index; otherwise it is written and `shown` updated. A kept pixel is
/// written as `transparent`, or as the index shown when the pixel to its left was written with
/// that same index: both look the same, and the repeat makes a longer run for LZW. For the same
/// reason a written pixel takes its left neighbour's index when that is within the tolerance.
/// Returns the band as written and the rectangle of the pixels it changes.
fn hold_or_write(
    shown: &mut [u8],
    source: &[u8],
    wanted: &[u8],
    palette: &Palette,
    transparent: u8,
    width: usize,
    top: usize,
) -> (Vec<u8>, Option<Rect>) {
    let mut out = vec![transparent; shown.len()];
    // Rows and columns of the written pixels, as (first, last).
    let (mut rows, mut columns) = ((usize::MAX, 0), (usize::MAX, 0));
    for (i, px) in source.chunks_exact(3).enumerate() {
        let x = i % width;
        let px = [px[0], px[1], px[2]];
        let (now, want) = (shown[i], wanted[i]);
        let left = (x > 0).then(|| out[i - 1]);
        let keep = want == now
            || palette.within(now, px, HOLD_TOLERANCE)
            || palette.distance(now, px) <= palette.distance(want, px);
        if keep {
            if left == Some(now) {
                out[i] = now;
            }
            continue;
        }
        let write = match left {
            Some(l) if l != transparent && palette.within(l, px, HOLD_TOLERANCE) => l,
            _ => want,
        };
        shown[i] = write;
        out[i] = write;
        let y = top + i / width;
        rows = (rows.0.min(y), y);
        columns = (columns.0.min(x), columns.1.max(x));
    }
    let rect = (rows.0 != usize::MAX).then_some(Rect {
        left: columns.0,
        top: rows.0,
        right: columns.1,
        bottom: rows.1,
    });
    (out, rect)
}

/// The palette is learned from up to 16 frames spread evenly over the video.
fn learn_palette(source: &dyn FrameSource, colors: u32) -> Result<Palette, VideoError> {
    const SAMPLE_FRAMES: usize = 16;
    let n = source.len();
    let picks: Vec<usize> = if n <= SAMPLE_FRAMES {
        (0..n).collect()
    } else {
        (0..SAMPLE_FRAMES)
            .map(|k| k * (n - 1) / (SAMPLE_FRAMES - 1))
            .collect()
    };
    let samples = picks
        .into_par_iter()
        .map(|i| source.frame(i))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&image::RgbImage> = samples.iter().collect();
    Ok(Palette::learn(&refs, colors))
}

/// Predicts the size of [`encode`]'s GIF of `source` from a short trial: runs of consecutive
/// frames from the middle of four equal stretches of the video are encoded with the video's
/// own palette, and the bytes of a first frame and of the frames late in a run are
/// extrapolated to the whole length. Costs 64 frames' rendering and about 90 frames' encoding,
/// whatever the video's length (within 2 % of the real size on the benchmark's frames,
/// docs/performance.md).
pub fn predict_size(
    source: &dyn FrameSource,
    fps: f32,
    options: &GifOptions,
) -> Result<u64, VideoError> {
    const RUNS: usize = 4;
    // Long enough for a pixel that drifts slowly to cross the tolerance within a run.
    const RUN_LEN: usize = 16;
    // A run's first frames are cheaper than the video's: its picture starts exact, while the
    // video's has drifted by up to the tolerance everywhere. They are left out of the average.
    const WARM_UP: usize = 6;
    let n = source.len();
    check_size(source)?;
    // The palette the whole video gets: one learned from the trial's few frames would fit them
    // better than the video's does, and predict too few bytes.
    let palette = learn_palette(source, options.colors.clamp(2, 256) - 1)?;
    let frames_at = |picks: std::ops::Range<usize>| -> Result<Vec<RgbImage>, VideoError> {
        picks.into_par_iter().map(|i| source.frame(i)).collect()
    };
    let encoded_len = |frames: &Vec<RgbImage>, len: usize| -> Result<u64, VideoError> {
        let mut counter = ByteCounter(0);
        let window = Window {
            source: frames,
            start: 0,
            len,
        };
        encode_with(&window, &palette, fps, options, &mut counter, &|_| {})?;
        Ok(counter.0)
    };
    if n <= RUNS * RUN_LEN {
        return encoded_len(&frames_at(0..n)?, n);
    }
    let (mut first, mut later) = (0, 0);
    for run in 0..RUNS {
        let start = ((2 * run + 1) * n / (2 * RUNS)).saturating_sub(RUN_LEN / 2);
        let frames = frames_at(start..start + RUN_LEN)?;
        first += encoded_len(&frames, 1)?;
        let warm = encoded_len(&frames, WARM_UP)?;
        later += encoded_len(&frames, RUN_LEN)?.saturating_sub(warm);
    }
    let per_later = later as f64 / (RUNS * (RUN_LEN - WARM_UP)) as f64;
    Ok(first / RUNS as u64 + (per_later * (n - 1) as f64).round() as u64)
}

/// Counts what is written and keeps nothing.
struct ByteCounter(u64);

impl Write for ByteCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `len` consecutive frames of a source from `start`.
struct Window<'a> {
    source: &'a dyn FrameSource,
    start: usize,
    len: usize,
}

impl FrameSource for Window<'_> {
    fn len(&self) -> usize {
        self.len
    }
    fn size(&self) -> (u32, u32) {
        self.source.size()
    }
    fn frame(&self, index: usize) -> Result<RgbImage, VideoError> {
        self.source.frame(self.start + index)
    }
}

/// Decodes a GIF as a viewer plays it: partial frames composed onto the picture, and a frame
/// shown k times as long as the shortest one counted k times, since still stretches are stored
/// as one longer frame. At most `max_frames` frames.
pub fn decode<R: std::io::BufRead + std::io::Seek>(
    reader: R,
    max_frames: usize,
) -> Result<Vec<RgbImage>, VideoError> {
    use image::AnimationDecoder;
    let decoder = image::codecs::gif::GifDecoder::new(reader).map_err(VideoError::Decode)?;
    let mut stored: Vec<(RgbImage, f64)> = Vec::new();
    for frame in decoder.into_frames().take(max_frames) {
        let frame = frame.map_err(VideoError::Decode)?;
        let (numer, denom) = frame.delay().numer_denom_ms();
        let ms = numer as f64 / denom.max(1) as f64;
        let rgb = image::DynamicImage::ImageRgba8(frame.into_buffer()).into_rgb8();
        stored.push((rgb, ms));
    }
    let unit = stored
        .iter()
        .map(|f| f.1)
        .filter(|&ms| ms > 0.0)
        .fold(f64::INFINITY, f64::min);
    let mut frames = Vec::new();
    for (image, ms) in stored {
        let times = if unit.is_finite() {
            (ms / unit).round().max(1.0) as usize
        } else {
            1
        };
        let times = times.min(max_frames - frames.len().min(max_frames));
        frames.extend(std::iter::repeat_n(image, times));
        if frames.len() >= max_frames {
            break;
        }
    }
    Ok(frames)
}

/// Encodes into `path` atomically (a temporary file renamed into place).
pub fn write_file(
    path: &Path,
    source: &dyn FrameSource,
    fps: f32,
    options: &GifOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<VideoStats, VideoError> {
    let mut frames = 0;
    let bytes = super::write_atomically(path, |out| {
        frames = encode(source, fps, options, out, progress)?;
        Ok(())
    })?;
    Ok(VideoStats { frames, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    fn frames(n: usize) -> Vec<RgbImage> {
        (0..n)
            .map(|i| {
                RgbImage::from_fn(40, 30, |x, y| {
                    image::Rgb([((x + i as u32) * 5) as u8, (y * 8) as u8, 90])
                })
            })
            .collect()
    }

    #[test]
    fn gif_decodes_to_the_frames_it_was_given() {
        let src = frames(11);
        let mut bytes = Vec::new();
        let n = encode(&src, 20.0, &GifOptions::default(), &mut bytes, &|_| {}).expect("encode");
        assert_eq!(n, 11);
        // Frames after the first only carry what changed: compose them as a viewer does.
        use image::AnimationDecoder;
        let decoded: Vec<image::Frame> =
            image::codecs::gif::GifDecoder::new(std::io::Cursor::new(&bytes))
                .expect("decoder")
                .into_frames()
                .collect_frames()
                .expect("frames");
        assert_eq!(decoded.len(), 11);
        for (frame, want) in decoded.into_iter().zip(&src) {
            assert_eq!(frame.delay().numer_denom_ms(), (50, 1));
            let got = image::DynamicImage::ImageRgba8(frame.into_buffer()).into_rgb8();
            let db = crate::video::psnr(want, &got);
            assert!(db > 30.0, "{db:.1} dB");
        }
    }

    /// A smooth picture for frame `t` of a cross-fade between two different scenes.
    fn fade(w: u32, h: u32, t: f32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            let (fx, fy) = (x as f32 / w as f32, y as f32 / h as f32);
            let a = [
                200.0 * fx + 30.0,
                120.0 + 80.0 * (6.0 * fy).sin(),
                60.0 + 100.0 * fx * fy,
            ];
            let b = [
                90.0 + 60.0 * (9.0 * fx).cos(),
                220.0 * fy + 20.0,
                200.0 - 150.0 * fx,
            ];
            image::Rgb([0, 1, 2].map(|c| ((1.0 - t) * a[c] + t * b[c]).round() as u8))
        })
    }

    fn encoded(src: &Vec<RgbImage>, fps: f32) -> Vec<u8> {
        let mut bytes = Vec::new();
        encode(src, fps, &GifOptions::default(), &mut bytes, &|_| {}).expect("encode");
        bytes
    }

    /// A stored frame: left, top, width, height, delay in 1/100 s.
    type Stored = (u16, u16, u16, u16, u16);

    fn stored(bytes: &[u8]) -> Vec<Stored> {
        stored_with_pixels(bytes).into_iter().map(|f| f.0).collect()
    }

    /// The stored frames and how many pixels each writes (is not transparent).
    fn stored_with_pixels(bytes: &[u8]) -> Vec<(Stored, usize)> {
        let mut decoder = gif::DecodeOptions::new()
            .read_info(std::io::Cursor::new(bytes))
            .expect("gif");
        let mut out = Vec::new();
        while let Some(f) = decoder.read_next_frame().expect("frame") {
            let written = f
                .buffer
                .iter()
                .filter(|&&i| Some(i) != f.transparent)
                .count();
            out.push(((f.left, f.top, f.width, f.height, f.delay), written));
        }
        out
    }

    #[test]
    fn a_still_stretch_is_one_frame_shown_for_its_whole_time() {
        let still = fade(48, 32, 0.3);
        let src: Vec<RgbImage> = (0..10)
            .map(|i| {
                if i < 7 {
                    still.clone()
                } else {
                    fade(48, 32, 0.1 * i as f32)
                }
            })
            .collect();
        let bytes = encoded(&src, 20.0);
        let frames = stored(&bytes);
        assert_eq!(frames[0].4, 7 * 5, "{frames:?}");
        assert_eq!(frames.iter().map(|f| f.4 as u32).sum::<u32>(), 10 * 5);
        // A viewer sees all ten.
        let shown = decode(std::io::Cursor::new(&bytes), 100).expect("decode");
        assert_eq!(shown.len(), 10);
        assert!(crate::video::fidelity(&shown, &src).worst_psnr_db > 30.0);
    }

    #[test]
    fn a_frame_is_cropped_to_what_it_changes() {
        let first = fade(64, 48, 0.0);
        let mut second = first.clone();
        for y in 20..28 {
            for x in 10..14 {
                second.put_pixel(x, y, image::Rgb([255, 0, 255]));
            }
        }
        let frames = stored(&encoded(&vec![first, second], 10.0));
        assert_eq!(frames[0].0..=frames[0].3, 0..=48);
        assert_eq!(frames[1], (10, 20, 4, 8, 10));
    }

    #[test]
    fn slow_changes_are_written_every_few_frames_and_never_drift_far() {
        // 50 frames, each a fiftieth of the way from one scene to the other.
        let src: Vec<RgbImage> = (0..50).map(|i| fade(96, 64, i as f32 / 49.0)).collect();
        let bytes = encoded(&src, 20.0);
        let shown = decode(std::io::Cursor::new(&bytes), 100).expect("decode");
        let held = crate::video::fidelity(&shown, &src);
        // Against every frame mapped afresh onto the same palette.
        let palette = learn_palette(&src, 255).expect("palette");
        let fresh: Vec<RgbImage> = src
            .iter()
            .map(|f| {
                let indices = palette.map(f, Dither::Ordered);
                let rgb = indices.iter().flat_map(|&i| palette.color(i)).collect();
                RgbImage::from_raw(96, 64, rgb).expect("size")
            })
            .collect();
        let fresh = crate::video::fidelity(&fresh, &src);
        assert!(
            held.worst_psnr_db > fresh.worst_psnr_db - 0.5,
            "{held:?} vs {fresh:?}"
        );
        assert!(held.flicker < fresh.flicker, "{held:?} vs {fresh:?}");
        // Pixels are written every few frames, not every frame.
        let written: usize = stored_with_pixels(&bytes)[1..].iter().map(|f| f.1).sum();
        let pixels = 49 * 96 * 64;
        assert!(written < pixels / 2, "{written} of {pixels} pixels written");
    }

    #[test]
    fn the_predicted_size_is_close_to_the_real_one() {
        // Holds at both ends and two fades, as a time-lapse has.
        let mut src: Vec<RgbImage> = Vec::new();
        src.extend((0..8).map(|_| fade(160, 160, 0.0)));
        src.extend((0..40).map(|i| fade(160, 160, i as f32 / 39.0)));
        src.extend((0..40).map(|i| fade(160, 160, 1.0 - i as f32 / 79.0)));
        src.extend((0..8).map(|_| fade(160, 160, 0.5)));
        let real = encoded(&src, 12.0).len() as f64;
        let predicted = predict_size(&src, 12.0, &GifOptions::default()).expect("trial") as f64;
        assert!(
            (predicted / real - 1.0).abs() < 0.25,
            "predicted {predicted}, real {real}"
        );
    }

    #[test]
    fn failed_encode_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out.gif");
        let empty: Vec<RgbImage> = Vec::new();
        let err = write_file(&path, &empty, 12.0, &GifOptions::default(), &|_| {});
        assert!(matches!(err, Err(VideoError::NoFrames)));
        assert_eq!(std::fs::read_dir(dir.path()).expect("dir").count(), 0);
    }
}

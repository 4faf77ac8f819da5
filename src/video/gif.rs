//! Animated GIF: one palette for the whole video, frames mapped and LZW-compressed in parallel
//! batches, written in order.

use super::palette::{Dither, Palette};
use super::{FrameSource, VideoError, VideoStats};
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
/// frames finished so far.
pub fn encode<W: Write>(
    source: &dyn FrameSource,
    fps: f32,
    options: &GifOptions,
    out: W,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<usize, VideoError> {
    let n = source.len();
    if n == 0 {
        return Err(VideoError::NoFrames);
    }
    let (w, h) = source.size();
    if w > u16::MAX as u32 || h > u16::MAX as u32 || w == 0 || h == 0 {
        return Err(VideoError::TooLarge(w, h));
    }
    // One palette entry is kept free to mark pixels unchanged since the previous frame.
    let palette = learn_palette(source, options.colors.clamp(2, 256) - 1)?;
    let transparent = palette.len() as u8;
    let mut global = palette.rgb_bytes();
    global.extend_from_slice(&[0, 0, 0]);
    let enc_err = |e: gif::EncodingError| VideoError::Encode(e.to_string());
    let mut encoder = gif::Encoder::new(out, w as u16, h as u16, &global).map_err(enc_err)?;
    let repeat = match options.loop_count {
        0 => gif::Repeat::Infinite,
        n => gif::Repeat::Finite(n),
    };
    encoder.set_repeat(repeat).map_err(enc_err)?;
    let delay = delay_centis(fps);

    let mut done = 0;
    let mut previous: Option<Vec<u8>> = None;
    for start in (0..n).step_by(batch_len()) {
        let end = (start + batch_len()).min(n);
        let indexed: Vec<Vec<u8>> = (start..end)
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
                Ok(palette.map(&image, options.dither))
            })
            .collect::<Result<_, _>>()?;
        let frames: Vec<gif::Frame<'static>> = (0..indexed.len())
            .into_par_iter()
            .map(|k| {
                let before = if k == 0 {
                    previous.as_deref()
                } else {
                    Some(indexed[k - 1].as_slice())
                };
                let mut frame = gif::Frame {
                    width: w as u16,
                    height: h as u16,
                    delay,
                    dispose: gif::DisposalMethod::Keep,
                    buffer: unchanged_as_transparent(&indexed[k], before, transparent).into(),
                    transparent: before.map(|_| transparent),
                    ..gif::Frame::default()
                };
                frame.make_lzw_pre_encoded();
                frame
            })
            .collect();
        for frame in &frames {
            encoder
                .write_lzw_pre_encoded_frame(frame)
                .map_err(enc_err)?;
        }
        previous = indexed.into_iter().last();
        done = end;
        progress(done);
    }
    encoder
        .into_inner()
        .map_err(|e| VideoError::Encode(e.to_string()))?;
    Ok(done)
}

/// Pixels whose index did not change since the previous frame become `transparent`: the
/// previous frame shows through (disposal "keep"), and the long runs compress far better.
fn unchanged_as_transparent(indices: &[u8], previous: Option<&[u8]>, transparent: u8) -> Vec<u8> {
    match previous {
        None => indices.to_vec(),
        Some(prev) => indices
            .iter()
            .zip(prev)
            .map(|(&now, &before)| if now == before { transparent } else { now })
            .collect(),
    }
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

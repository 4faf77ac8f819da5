//! What the frames show behind the person. Two photos seldom share a background, and a
//! cross-fade of two scenes shows both at once however well the face is warped; so the person
//! (found by the person segmenter, hair and clothes included) is laid over one steady backdrop:
//! the photos' own backgrounds blurred, or one plain colour for the whole video. `keep` leaves
//! the photos' backgrounds as they are.

use super::Keyframe;
use crate::config::Background;
use crate::leaves::mask::PersonMask;
use image::RgbImage;

/// The backdrop of one time-lapse, prepared once from its keyframes.
#[derive(Debug, Clone)]
pub enum Backdrop {
    /// Each keyframe's background with the person removed and blurred away, cross-faded: only
    /// soft colour changes, no second set of edges. 8 bits per channel, like the keyframes.
    Blurred(Vec<RgbImage>),
    /// One colour for every frame: the keyframes' mean background colour, muted and darkened
    /// so the face stands out.
    Plain([f32; 3]),
}

/// A backdrop's blur radius as a share of the frame side: wide enough that no edge of the
/// scene survives.
const BLUR_SHARE: f32 = 1.0 / 20.0;

impl Backdrop {
    /// The backdrop `kind` asks for; `None` for `keep`, or when a keyframe has no person mask.
    pub fn new(kind: Background, keyframes: &[Keyframe]) -> Option<Self> {
        let masks: Option<Vec<&PersonMask>> = keyframes.iter().map(|k| k.person.as_ref()).collect();
        let masks = masks?;
        match kind {
            Background::Keep => None,
            Background::Blur => Some(Self::Blurred(
                keyframes
                    .iter()
                    .zip(&masks)
                    .map(|(k, m)| blurred_background(&k.image, m))
                    .collect(),
            )),
            Background::Plain => {
                let (mut sum, mut weight) = ([0f64; 3], 0f64);
                for (k, m) in keyframes.iter().zip(&masks) {
                    for (p, v) in k.image.pixels().zip(m.probabilities()) {
                        let w = (1.0 - v as f64).max(0.0);
                        for (total, &channel) in sum.iter_mut().zip(&p.0) {
                            *total += w * channel as f64;
                        }
                        weight += w;
                    }
                }
                let mean = sum.map(|s| if weight > 0.0 { s / weight } else { 96.0 });
                let grey = (mean[0] + mean[1] + mean[2]) / 3.0;
                Some(Self::Plain(
                    mean.map(|c| ((0.4 * c + 0.6 * grey) * 0.6) as f32),
                ))
            }
        }
    }

    /// The backdrop at pixel `index` (row by row) of a frame `s` of the way (its texture share)
    /// from keyframe `from` to `to`.
    pub fn at(&self, from: usize, to: usize, s: f32, index: usize) -> [f32; 3] {
        match self {
            Self::Plain(colour) => *colour,
            Self::Blurred(backgrounds) => {
                let get = |k: usize| {
                    backgrounds
                        .get(k)
                        .and_then(|b| b.as_raw().get(3 * index..3 * index + 3))
                        .map_or([0.0; 3], |p| [p[0], p[1], p[2]].map(f32::from))
                };
                let (a, b) = (get(from), get(to));
                [0, 1, 2].map(|c| a[c] * (1.0 - s) + b[c] * s)
            }
        }
    }
}

/// The colour of one frame pixel from the two keyframes' colours `ca` and `cb` there (already
/// moved to the frame's geometry), showing the person with probabilities `ma` and `mb`, with
/// `b`'s share `s`, over the backdrop colour `bg`. Each photo's person is laid on in
/// proportion to its share and its presence, so where only one photo shows the person (a
/// different hairline, a collar) that photo's person fades against the backdrop instead of
/// mixing with the other photo's background.
pub fn over_backdrop(
    ca: [f32; 3],
    ma: f32,
    cb: [f32; 3],
    mb: f32,
    s: f32,
    bg: [f32; 3],
) -> [u8; 3] {
    let (wa, wb) = ((1.0 - s) * ma, s * mb);
    let rest = (1.0 - wa - wb).max(0.0);
    [0, 1, 2].map(|c| {
        (wa * ca[c] + wb * cb[c] + rest * bg[c])
            .round()
            .clamp(0.0, 255.0) as u8
    })
}

/// `image` over the backdrop, keeping the person (`mask`) where it is: a frame without
/// geometry of its own (a generated one) given the treatment the other renderers give theirs.
pub fn composite(
    image: &RgbImage,
    mask: impl Fn(usize) -> f32,
    backdrop_at: impl Fn(usize) -> [f32; 3],
) -> RgbImage {
    let mut out = image.clone();
    for (i, p) in out.pixels_mut().enumerate() {
        let m = mask(i).clamp(0.0, 1.0);
        let bg = backdrop_at(i);
        p.0 = [0, 1, 2].map(|c| {
            (m * p.0[c] as f32 + (1.0 - m) * bg[c])
                .round()
                .clamp(0.0, 255.0) as u8
        });
    }
    out
}

/// `image`'s background with the person taken out and the hole filled from around it, then
/// blurred: a normalised convolution (the background's colours and its weight 1 − mask are
/// blurred alike and divided), three box blurs standing in for a Gaussian. Where the person
/// covers a whole neighbourhood, the image's mean background colour fills in. The blur runs at
/// a quarter of the side: nothing finer than the blur survives it, so nothing is lost.
fn blurred_background(image: &RgbImage, mask: &PersonMask) -> RgbImage {
    const STEP: usize = 4;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (sw, sh) = (w.div_ceil(STEP).max(1), h.div_ceil(STEP).max(1));
    let radius = ((sw.max(sh) as f32 * BLUR_SHARE) as usize).max(1);
    // Colour × weight and weight, averaged over STEP×STEP cells.
    let mut planes: Vec<Vec<f32>> = vec![vec![0.0; sw * sh]; 4];
    for (i, p) in image.pixels().enumerate() {
        let cell = (i / w / STEP) * sw + (i % w) / STEP;
        let weight = (1.0 - mask.value(i)).clamp(0.0, 1.0);
        for (plane, &channel) in planes.iter_mut().zip(&p.0) {
            plane[cell] += weight * channel as f32;
        }
        planes[3][cell] += weight;
    }
    let totals: Vec<f32> = planes.iter().map(|p| p.iter().sum()).collect();
    let mean = [0, 1, 2].map(|c| {
        if totals[3] > 0.0 {
            totals[c] / totals[3]
        } else {
            96.0
        }
    });
    for plane in planes.iter_mut() {
        for _ in 0..3 {
            box_blur(plane, sw, sh, radius);
        }
    }
    // A little of the mean colour keeps the division defined where no background is near.
    let prior = 1e-3 * (STEP * STEP) as f32;
    let small: Vec<[f32; 3]> = (0..sw * sh)
        .map(|i| {
            let weight = planes[3][i] + prior;
            [0, 1, 2].map(|c| (planes[c][i] + prior * mean[c]) / weight)
        })
        .collect();
    // Back to full size, bilinearly between cell centres.
    let at = |x: isize, y: isize| {
        small[y.clamp(0, sh as isize - 1) as usize * sw + x.clamp(0, sw as isize - 1) as usize]
    };
    let mut out = RgbImage::new(image.width(), image.height());
    let mut pixels = out.pixels_mut();
    for y in 0..h {
        let fy = (y as f32 + 0.5) / STEP as f32 - 0.5;
        let (y0, ty) = (fy.floor() as isize, fy - fy.floor());
        for x in 0..w {
            let fx = (x as f32 + 0.5) / STEP as f32 - 0.5;
            let (x0, tx) = (fx.floor() as isize, fx - fx.floor());
            let (p00, p10, p01, p11) = (
                at(x0, y0),
                at(x0 + 1, y0),
                at(x0, y0 + 1),
                at(x0 + 1, y0 + 1),
            );
            if let Some(p) = pixels.next() {
                p.0 = [0, 1, 2].map(|c| {
                    let top = p00[c] * (1.0 - tx) + p10[c] * tx;
                    let bottom = p01[c] * (1.0 - tx) + p11[c] * tx;
                    (top * (1.0 - ty) + bottom * ty).round().clamp(0.0, 255.0) as u8
                });
            }
        }
    }
    out
}

/// In-place box blur of a `w`×`h` plane with running sums (rows, then columns); edges repeat
/// the border value.
fn box_blur(plane: &mut [f32], w: usize, h: usize, radius: usize) {
    let mut line = Vec::new();
    let mut pass =
        |plane: &mut [f32], len: usize, count: usize, at: &dyn Fn(usize, usize) -> usize| {
            let r = radius.min(len.saturating_sub(1)) as isize;
            let scale = 1.0 / (2 * r + 1) as f32;
            for j in 0..count {
                line.clear();
                line.extend((0..len).map(|i| plane[at(j, i)]));
                let get = |i: isize| line[i.clamp(0, len as isize - 1) as usize];
                let mut sum: f32 = (-r..=r).map(get).sum();
                for i in 0..len {
                    plane[at(j, i)] = sum * scale;
                    sum += get(i as isize + r + 1) - get(i as isize - r);
                }
            }
        };
    pass(plane, w, h, &|row, i| row * w + i);
    pass(plane, h, w, &|col, i| i * w + col);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyframe(image: RgbImage, person: PersonMask) -> Keyframe {
        Keyframe {
            source: "k".into(),
            image,
            capture_date: None,
            age_years: None,
            landmarks: None,
            person: Some(person),
        }
    }

    /// A 40×40 photo: a person (value 200) in the middle square, a striped background.
    fn photo(stripe: u32) -> Keyframe {
        let image = RgbImage::from_fn(40, 40, |x, y| {
            if (10..30).contains(&x) && (10..30).contains(&y) {
                image::Rgb([200, 200, 200])
            } else if (x / stripe).is_multiple_of(2) {
                image::Rgb([0, 0, 0])
            } else {
                image::Rgb([100, 100, 100])
            }
        });
        let values = (0..40 * 40).map(|i| {
            let (x, y) = (i % 40, i / 40);
            if (10..30).contains(&x) && (10..30).contains(&y) {
                1.0
            } else {
                0.0
            }
        });
        keyframe(image, PersonMask::from_probabilities(40, 40, values))
    }

    #[test]
    fn keep_needs_no_backdrop_and_a_missing_mask_gives_none() {
        assert!(Backdrop::new(Background::Keep, &[photo(2)]).is_none());
        let mut bare = photo(2);
        bare.person = None;
        assert!(Backdrop::new(Background::Blur, &[photo(2), bare]).is_none());
    }

    #[test]
    fn the_blurred_background_has_no_stripes_and_no_person_in_it() {
        let Some(Backdrop::Blurred(bgs)) = Backdrop::new(Background::Blur, &[photo(2)]) else {
            panic!("blurred backdrop");
        };
        let bg = &bgs[0];
        // Stripes 2 px wide average to the mean grey (50), inside the person's square too.
        for (x, y) in [(5, 5), (20, 20), (34, 34), (34, 5)] {
            let v = bg.get_pixel(x, y)[0];
            assert!(v.abs_diff(50) < 6, "({x}, {y}): {v}");
        }
    }

    #[test]
    fn the_plain_backdrop_is_one_muted_colour_from_the_backgrounds() {
        let Some(Backdrop::Plain(colour)) = Backdrop::new(Background::Plain, &[photo(2), photo(3)])
        else {
            panic!("plain backdrop");
        };
        // The backgrounds average ~50 grey; muted and darkened to 0.6 of it.
        assert!((colour[0] - 30.0).abs() < 3.0, "{colour:?}");
    }

    #[test]
    fn a_person_in_only_one_photo_fades_against_the_backdrop() {
        let bg = [10.0; 3];
        // Only a shows the person here: half-way, half its colour over the backdrop, nothing of b.
        assert_eq!(
            over_backdrop([200.0; 3], 1.0, [90.0; 3], 0.0, 0.5, bg),
            [105; 3]
        );
        // Both show it: the usual mix.
        assert_eq!(
            over_backdrop([200.0; 3], 1.0, [100.0; 3], 1.0, 0.5, bg),
            [150; 3]
        );
        // Neither: the backdrop.
        assert_eq!(
            over_backdrop([200.0; 3], 0.0, [100.0; 3], 0.0, 0.3, bg),
            [10; 3]
        );
    }
}

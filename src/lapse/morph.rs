//! Landmark morphing: both photos are warped to the shape interpolated between them
//! (piecewise-affine over a Delaunay triangulation of the 68 landmarks, the person's outline
//! and border points), then blended, with their colours moved towards each other so exposure
//! does not flicker. Unlike a cross-fade, eyes, nose and mouth stay where one face has them, so
//! no ghost shows through; where the photos have person masks, the outline of hair, head and
//! shoulders moves from one photo's to the other's too, and the person is laid over the
//! backdrop.

use super::{backdrop, Backdrop, FrameSpec, Keyframe, LapseError, Renderer};
use crate::leaves::mask::PersonMask;
use image::RgbImage;

pub struct MorphRenderer;

/// Per-channel mean and standard deviation of a keyframe's central region (the face).
fn colour_stats(img: &RgbImage) -> [(f32, f32); 3] {
    let (w, h) = img.dimensions();
    let (x0, x1, y0, y1) = (w / 4, w * 3 / 4, h / 4, h * 3 / 4);
    let mut sum = [0f64; 3];
    let mut sq = [0f64; 3];
    let mut n = 0f64;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y).0;
            for c in 0..3 {
                sum[c] += p[c] as f64;
                sq[c] += (p[c] as f64).powi(2);
            }
            n += 1.0;
        }
    }
    let n = n.max(1.0);
    [0, 1, 2].map(|c| {
        let mean = sum[c] / n;
        (
            (mean) as f32,
            ((sq[c] / n - mean * mean).max(1.0).sqrt()) as f32,
        )
    })
}

/// The landmarks plus points around the border, so the background is warped too.
fn control_points(landmarks: &[[f32; 2]], w: f32, h: f32) -> Vec<[f32; 2]> {
    let mut pts = landmarks.to_vec();
    for k in 0..8 {
        let t = k as f32 / 8.0;
        pts.extend_from_slice(&[
            [t * (w - 1.0), 0.0],
            [w - 1.0, t * (h - 1.0)],
            [(1.0 - t) * (w - 1.0), h - 1.0],
            [0.0, (1.0 - t) * (h - 1.0)],
        ]);
    }
    pts
}

/// Directions in which the person's outline is looked for, evenly around the face.
const OUTLINE_RAYS: usize = 32;

/// Where the person ends along rays from the face's centre, one per direction: the first
/// pixel past the landmarks where the mask falls below one half (hair top, ears, neck and the
/// line of the shoulders); `None` where the ray reaches the frame's edge first (the body
/// running out of the frame), so only outline points both photos have are matched.
fn outline(mask: &PersonMask, landmarks: &[[f32; 2]]) -> Vec<Option<[f32; 2]>> {
    let n = landmarks.len().max(1) as f32;
    let centre = landmarks
        .iter()
        .fold([0.0f32; 2], |c, p| [c[0] + p[0] / n, c[1] + p[1] / n]);
    let (w, h) = (mask.width as f32, mask.height as f32);
    let margin = 2.0;
    (0..OUTLINE_RAYS)
        .map(|k| {
            let angle = std::f32::consts::TAU * k as f32 / OUTLINE_RAYS as f32;
            let d = [angle.cos(), angle.sin()];
            // Start just outside the face's landmarks in this direction.
            let start = landmarks
                .iter()
                .map(|p| (p[0] - centre[0]) * d[0] + (p[1] - centre[1]) * d[1])
                .fold(0.0f32, f32::max)
                + margin;
            let mut r = start;
            loop {
                let p = [centre[0] + r * d[0], centre[1] + r * d[1]];
                if p[0] < margin
                    || p[1] < margin
                    || p[0] > w - 1.0 - margin
                    || p[1] > h - 1.0 - margin
                {
                    return None;
                }
                if mask.sample(p[0], p[1]) < 0.5 {
                    return Some(p);
                }
                r += 1.0;
            }
        })
        .collect()
}

/// The affine map taking triangle `from` onto triangle `to`, as [a, b, c, d, e, f]:
/// x' = a x + b y + c, y' = d x + e y + f. `None` for a degenerate triangle.
fn affine(from: [[f32; 2]; 3], to: [[f32; 2]; 3]) -> Option<[f32; 6]> {
    let [p0, p1, p2] = from;
    let det = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (p1[1] - p0[1]);
    if det.abs() < 1e-6 {
        return None;
    }
    let solve = |v0: f32, v1: f32, v2: f32| {
        let a = ((v1 - v0) * (p2[1] - p0[1]) - (v2 - v0) * (p1[1] - p0[1])) / det;
        let b = ((v2 - v0) * (p1[0] - p0[0]) - (v1 - v0) * (p2[0] - p0[0])) / det;
        (a, b, v0 - a * p0[0] - b * p0[1])
    };
    let (a, b, c) = solve(to[0][0], to[1][0], to[2][0]);
    let (d, e, f) = solve(to[0][1], to[1][1], to[2][1]);
    Some([a, b, c, d, e, f])
}

fn sample(img: &RgbImage, x: f32, y: f32) -> [f32; 3] {
    crate::leaves::resize::bilinear(img, x as f64, y as f64).map(|v| v as f32)
}

impl Renderer for MorphRenderer {
    fn name(&self) -> &'static str {
        "morph"
    }

    fn frame(&self, keyframes: &[Keyframe], spec: FrameSpec) -> Result<RgbImage, LapseError> {
        self.frame_blended(keyframes, spec, spec.from, 0.0, None)
    }

    /// The real photo's share moves the texture (and colour) mix towards it while the geometry
    /// stays at `alpha`, so the photo is blended in warped to the frame's face shape.
    fn frame_blended(
        &self,
        keyframes: &[Keyframe],
        spec: FrameSpec,
        nearest: usize,
        weight: f32,
        backdrop: Option<&Backdrop>,
    ) -> Result<RgbImage, LapseError> {
        let (a, b) = super::keyframe_pair(keyframes, spec)?;
        if spec.from == spec.to {
            // A held photo: nothing to warp.
            return super::pixel::PixelRenderer
                .frame_blended(keyframes, spec, nearest, weight, backdrop);
        }
        let texture = super::texture_share(spec, nearest, weight);
        // With the backgrounds kept, a quicker texture mix swaps whole scenes faster, which
        // shows as jumps: only the person over a steady backdrop gets it.
        let texture = match backdrop {
            Some(_) => sharpen(texture),
            None => texture,
        };
        let layers = backdrop.map(|backdrop| Layers {
            backdrop,
            from: spec.from,
            to: spec.to,
        });
        morph(a, b, spec.alpha, texture, layers)
    }
}

/// The texture mix quickened around half-way (a 30 % step towards smoothstep: 1.15× as steep
/// there), while the geometry moves evenly: the frames that show much of both photos'
/// texture (the ghosts the warp cannot align: teeth, wrinkles, collars) are fewer, and the
/// change stays gradual (stronger settings added smoothness spikes on the test albums).
const SHARPEN: f32 = 0.3;

fn sharpen(s: f32) -> f32 {
    let s = s.clamp(0.0, 1.0);
    let smooth = s * s * (3.0 - 2.0 * s);
    s + SHARPEN * (smooth - s)
}

/// The backdrop a frame's person is laid over, and which keyframes the frame lies between.
#[derive(Clone, Copy)]
struct Layers<'a> {
    backdrop: &'a Backdrop,
    from: usize,
    to: usize,
}

impl Layers<'_> {
    /// Frame pixel `index` from both photos' colours and person probabilities there, over the
    /// backdrop (see [`backdrop::over_backdrop`]).
    fn over(&self, ca: [f32; 3], ma: f32, cb: [f32; 3], mb: f32, s: f32, index: usize) -> [u8; 3] {
        let bg = self.backdrop.at(self.from, self.to, s, index);
        backdrop::over_backdrop(ca, ma, cb, mb, s, bg)
    }
}

/// Both photos' colours mixed with `b`'s share `s`, as the photos' backgrounds are kept.
fn mix(ca: [f32; 3], cb: [f32; 3], s: f32) -> [u8; 3] {
    [0, 1, 2].map(|c| (ca[c] * (1.0 - s) + cb[c] * s).round().clamp(0.0, 255.0) as u8)
}

/// `a` and `b` warped to the geometry `t` of the way from `a`'s landmarks to `b`'s, their colour
/// statistics matched to those `s` of the way, and mixed with `b`'s share `s`; with `layers`
/// (and both photos' person masks), each photo's person over the backdrop instead.
fn morph(
    a: &Keyframe,
    b: &Keyframe,
    t: f32,
    s: f32,
    layers: Option<Layers>,
) -> Result<RgbImage, LapseError> {
    let masks = match (&a.person, &b.person) {
        (Some(ma), Some(mb)) => layers.map(|l| (l, ma, mb)),
        _ => None,
    };
    if masks.is_none() {
        if t <= 0.0 && s <= 0.0 {
            return Ok(a.image.clone());
        }
        if t >= 1.0 && s >= 1.0 {
            return Ok(b.image.clone());
        }
    }
    let (Some(la), Some(lb)) = (&a.landmarks, &b.landmarks) else {
        return Err(LapseError::NoLandmarks(if a.landmarks.is_none() {
            a.source.clone()
        } else {
            b.source.clone()
        }));
    };
    let (w, h) = a.image.dimensions();
    let mut pa = control_points(la, w as f32, h as f32);
    let mut pb = control_points(lb, w as f32, h as f32);
    if let (Some(ma), Some(mb)) = (&a.person, &b.person) {
        let pairs = outline(ma, la).into_iter().zip(outline(mb, lb));
        for (qa, qb) in pairs {
            if let (Some(qa), Some(qb)) = (qa, qb) {
                pa.push(qa);
                pb.push(qb);
            }
        }
    }
    let p: Vec<[f32; 2]> = pa
        .iter()
        .zip(&pb)
        .map(|(x, y)| [x[0] * (1.0 - t) + y[0] * t, x[1] * (1.0 - t) + y[1] * t])
        .collect();
    let points: Vec<delaunator::Point> = p
        .iter()
        .map(|q| delaunator::Point {
            x: q[0] as f64,
            y: q[1] as f64,
        })
        .collect();
    let triangulation = delaunator::triangulate(&points);

    // Colours of both faces move to the statistics interpolated between them.
    let (sa, sb) = (colour_stats(&a.image), colour_stats(&b.image));
    let target: [(f32, f32); 3] = [0, 1, 2].map(|c| {
        (
            sa[c].0 * (1.0 - s) + sb[c].0 * s,
            sa[c].1 * (1.0 - s) + sb[c].1 * s,
        )
    });
    // x ↦ x·scale + offset per channel takes a face's statistics to the target's.
    let gains = |s: [(f32, f32); 3]| {
        [0, 1, 2].map(|c| {
            (
                target[c].1 / s[c].1,
                target[c].0 - s[c].0 * target[c].1 / s[c].1,
            )
        })
    };
    let (gain_a, gain_b) = (gains(sa), gains(sb));

    let mut out = RgbImage::new(w, h);
    let mut filled = vec![false; (w * h) as usize];
    for tri in triangulation.triangles.chunks_exact(3) {
        let idx = [tri[0], tri[1], tri[2]];
        let dst = idx.map(|i| p[i]);
        let (Some(to_a), Some(to_b)) = (
            affine(dst, idx.map(|i| pa[i])),
            affine(dst, idx.map(|i| pb[i])),
        ) else {
            continue;
        };
        // The triangle's bounding box along axis `k`, clipped to the frame.
        let span = |k: usize, limit: u32| {
            let lo = dst
                .iter()
                .map(|q| q[k])
                .fold(f32::MAX, f32::min)
                .floor()
                .max(0.0) as u32;
            let hi =
                (dst.iter().map(|q| q[k]).fold(f32::MIN, f32::max).ceil() as u32).min(limit - 1);
            (lo, hi)
        };
        let ((min_x, max_x), (min_y, max_y)) = (span(0, w), span(1, h));
        let edge = |p0: [f32; 2], p1: [f32; 2], x: f32, y: f32| {
            (p1[0] - p0[0]) * (y - p0[1]) - (p1[1] - p0[1]) * (x - p0[0])
        };
        let area = edge(dst[0], dst[1], dst[2][0], dst[2][1]);
        for y in min_y..=max_y {
            for x in min_x..=max_x {
                let (fx, fy) = (x as f32, y as f32);
                let (e0, e1, e2) = (
                    edge(dst[1], dst[2], fx, fy),
                    edge(dst[2], dst[0], fx, fy),
                    edge(dst[0], dst[1], fx, fy),
                );
                // Inside (either winding), with a hair of tolerance so shared edges leave no holes.
                let inside = if area > 0.0 {
                    e0 >= -1e-3 && e1 >= -1e-3 && e2 >= -1e-3
                } else {
                    e0 <= 1e-3 && e1 <= 1e-3 && e2 <= 1e-3
                };
                let k = (y * w + x) as usize;
                if !inside || filled[k] {
                    continue;
                }
                filled[k] = true;
                // Where this pixel comes from in each photo.
                let (ax, ay) = (
                    to_a[0] * fx + to_a[1] * fy + to_a[2],
                    to_a[3] * fx + to_a[4] * fy + to_a[5],
                );
                let (bx, by) = (
                    to_b[0] * fx + to_b[1] * fy + to_b[2],
                    to_b[3] * fx + to_b[4] * fy + to_b[5],
                );
                let (ca, cb) = (sample(&a.image, ax, ay), sample(&b.image, bx, by));
                let va = [0, 1, 2].map(|c| ca[c] * gain_a[c].0 + gain_a[c].1);
                let vb = [0, 1, 2].map(|c| cb[c] * gain_b[c].0 + gain_b[c].1);
                let px = match masks {
                    Some((layers, ma, mb)) => {
                        layers.over(va, ma.sample(ax, ay), vb, mb.sample(bx, by), s, k)
                    }
                    None => mix(va, vb, s),
                };
                out.put_pixel(x, y, image::Rgb(px));
            }
        }
    }
    // Pixels no triangle reached (outside the hull by rounding) take the cross-fade.
    for (k, done) in filled.iter().enumerate() {
        if !done {
            let (x, y) = (k as u32 % w, k as u32 / w);
            let (pa, pb) = (a.image.get_pixel(x, y).0, b.image.get_pixel(x, y).0);
            let (ca, cb) = (pa.map(f32::from), pb.map(f32::from));
            let px = match masks {
                Some((layers, ma, mb)) => layers.over(ca, ma.value(k), cb, mb.value(k), s, k),
                None => mix(ca, cb, s),
            };
            out.put_pixel(x, y, image::Rgb(px));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affine_maps_corners_exactly() {
        let from = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]];
        let to = [[5.0, 5.0], [25.0, 5.0], [5.0, 15.0]];
        let m = affine(from, to).expect("affine");
        for (f, t) in from.iter().zip(&to) {
            let x = m[0] * f[0] + m[1] * f[1] + m[2];
            let y = m[3] * f[0] + m[4] * f[1] + m[5];
            assert!((x - t[0]).abs() < 1e-4 && (y - t[1]).abs() < 1e-4);
        }
        assert!(affine(from, [[0.0, 0.0]; 3]).is_some());
        assert!(affine([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], to).is_none());
    }

    fn keyframe(shift: f32, colour: u8) -> Keyframe {
        // A bright square "feature" at the landmarks' centre, on a flat background.
        let lm: Vec<[f32; 2]> = (0..68)
            .map(|i| {
                [
                    20.0 + shift + (i % 8) as f32 * 3.0,
                    20.0 + (i / 8) as f32 * 3.0,
                ]
            })
            .collect();
        let img = RgbImage::from_fn(64, 64, |x, y| {
            let inside =
                (x as f32) >= 20.0 + shift && (x as f32) < 41.0 + shift && (20..45).contains(&y);
            if inside {
                image::Rgb([colour, colour, colour])
            } else {
                image::Rgb([40, 40, 40])
            }
        });
        Keyframe {
            source: format!("k{shift}"),
            image: img,
            capture_date: None,
            age_years: None,
            landmarks: Some(lm),
            person: None,
        }
    }

    #[test]
    fn half_way_the_feature_sits_half_way_instead_of_twice() {
        let keys = [keyframe(0.0, 250), keyframe(16.0, 250)];
        let mid = MorphRenderer
            .frame(
                &keys,
                FrameSpec {
                    from: 0,
                    to: 1,
                    alpha: 0.5,
                },
            )
            .expect("frame");
        // The feature moved 8 px: its middle column is bright, and the places where either end
        // had it alone are not left half-bright (a cross-fade's ghost).
        assert!(mid.get_pixel(38, 30)[0] > 200, "moved feature present");
        let ghost_a = mid.get_pixel(21, 30)[0];
        assert!(
            ghost_a < 100,
            "no ghost where the first face had it: {ghost_a}"
        );
        let ends = [
            MorphRenderer
                .frame(
                    &keys,
                    FrameSpec {
                        from: 0,
                        to: 1,
                        alpha: 0.0,
                    },
                )
                .expect("a"),
            MorphRenderer
                .frame(
                    &keys,
                    FrameSpec {
                        from: 0,
                        to: 1,
                        alpha: 1.0,
                    },
                )
                .expect("b"),
        ];
        assert_eq!(ends[0], keys[0].image);
        assert_eq!(ends[1], keys[1].image);
    }

    /// A 64×64 photo of a "person": a bright disk of `radius` around (32, 32), its 68
    /// landmarks packed in the middle, on a background of vertical stripes of `stripe` px.
    fn disk(radius: f32, stripe: u32) -> Keyframe {
        let lm: Vec<[f32; 2]> = (0..68)
            .map(|i| [26.0 + (i % 8) as f32 * 1.6, 25.0 + (i / 8) as f32 * 1.6])
            .collect();
        let inside = |x: u32, y: u32| {
            let (dx, dy) = (x as f32 - 32.0, y as f32 - 32.0);
            (dx * dx + dy * dy).sqrt() <= radius
        };
        let image = RgbImage::from_fn(64, 64, |x, y| {
            if inside(x, y) {
                image::Rgb([250, 250, 250])
            } else if (x / stripe).is_multiple_of(2) {
                image::Rgb([0, 0, 90])
            } else {
                image::Rgb([90, 0, 0])
            }
        });
        let values = (0..64 * 64).map(|i| if inside(i % 64, i / 64) { 1.0 } else { 0.0 });
        Keyframe {
            source: format!("disk{radius}"),
            image,
            capture_date: None,
            age_years: None,
            landmarks: Some(lm),
            person: Some(PersonMask::from_probabilities(64, 64, values)),
        }
    }

    #[test]
    fn the_outline_moves_and_the_backgrounds_give_way_to_the_backdrop() {
        let keys = [disk(10.0, 3), disk(18.0, 5)];
        let backdrop = Backdrop::new(crate::config::Background::Plain, &keys).expect("backdrop");
        let Backdrop::Plain(colour) = backdrop else {
            panic!("plain")
        };
        let spec = FrameSpec {
            from: 0,
            to: 1,
            alpha: 0.5,
        };
        let mid = MorphRenderer
            .frame_blended(&keys, spec, 0, 0.0, Some(&backdrop))
            .expect("frame");
        // Half-way the outline sits near radius 14: 12 px out is the person at full strength
        // (a cross-fade would show the first disk's background there at half).
        for (x, y) in [(44, 32), (20, 32), (32, 44), (32, 20)] {
            let v = mid.get_pixel(x, y)[0];
            assert!(v > 200, "({x}, {y}) is inside the moved outline: {v}");
        }
        // Well outside both disks: the backdrop alone, neither photo's stripes.
        for (x, y) in [(2, 2), (60, 5), (5, 60), (61, 61)] {
            let p = mid.get_pixel(x, y).0;
            for c in 0..3 {
                assert!(
                    (p[c] as f32 - colour[c]).abs() <= 1.0,
                    "({x}, {y}): {p:?} vs {colour:?}"
                );
            }
        }
        // Without masks the same renderer cross-fades the backgrounds.
        let bare: Vec<Keyframe> = keys
            .iter()
            .cloned()
            .map(|k| Keyframe { person: None, ..k })
            .collect();
        let crossfaded = MorphRenderer.frame(&bare, spec).expect("frame");
        assert_ne!(crossfaded.get_pixel(2, 2).0, mid.get_pixel(2, 2).0);
    }

    #[test]
    fn the_outline_is_found_along_rays_and_missing_where_the_body_leaves_the_frame() {
        let k = disk(12.0, 3);
        let found = outline(
            k.person.as_ref().expect("mask"),
            k.landmarks.as_ref().expect("lm"),
        );
        assert_eq!(found.len(), OUTLINE_RAYS);
        let centre = [31.6, 31.4];
        for p in found.iter().flatten() {
            let r = ((p[0] - centre[0]).powi(2) + (p[1] - centre[1]).powi(2)).sqrt();
            assert!((r - 12.5).abs() < 1.6, "outline point {p:?} at radius {r}");
        }
        assert_eq!(found.iter().flatten().count(), OUTLINE_RAYS);
        // A person reaching the bottom edge (a body) has no outline point straight down.
        let mut tall = disk(12.0, 3);
        let body = |i: u32| (32..64).contains(&(i / 64)) && (26..38).contains(&(i % 64));
        let with_body = tall.person.as_ref().map(|m| {
            let p: Vec<f32> = m.probabilities().collect();
            PersonMask::from_probabilities(
                64,
                64,
                (0..64 * 64).map(|i| if body(i) { 1.0 } else { p[i as usize] }),
            )
        });
        tall.person = with_body;
        let found = outline(
            tall.person.as_ref().expect("mask"),
            tall.landmarks.as_ref().expect("lm"),
        );
        assert!(
            found[OUTLINE_RAYS / 4].is_none(),
            "straight down: {:?}",
            found[OUTLINE_RAYS / 4]
        );
        assert!(found[3 * OUTLINE_RAYS / 4].is_some(), "straight up");
    }
}

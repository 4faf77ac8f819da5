//! Whose album is it? The target person is the element-wise median of the faces' identity
//! descriptors; faces far from it are flagged as suspected intruders, never dropped silently.

use super::landmarks::Landmarks;
use super::Quad;

pub type Descriptor = [f32; 128];

/// Euclidean distance; the descriptor network puts one person within ~0.6.
pub fn distance(a: &Descriptor, b: &Descriptor) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Element-wise median: robust to a minority of other people's descriptors.
pub fn median(descriptors: &[&Descriptor]) -> Descriptor {
    let mut out = [0.0f32; 128];
    let mut column = Vec::with_capacity(descriptors.len());
    for (k, slot) in out.iter_mut().enumerate() {
        column.clear();
        column.extend(descriptors.iter().map(|d| d[k]));
        column.sort_by(f32::total_cmp);
        let n = column.len();
        *slot = match n {
            0 => 0.0,
            _ if n % 2 == 1 => column[n / 2],
            _ => (column[n / 2 - 1] + column[n / 2]) / 2.0,
        };
    }
    out
}

/// The chip the descriptor network was trained on, made rotation-free: the landmarks' bounding
/// box measured along the eye line, padded by 20 % (as face-api crops it) and squared.
pub fn chip_quad(lm: &Landmarks) -> Quad {
    let centre = |r: std::ops::Range<usize>| {
        let n = r.len() as f64;
        let s = lm[r]
            .iter()
            .fold([0.0, 0.0], |a, p| [a[0] + p[0] as f64, a[1] + p[1] as f64]);
        [s[0] / n, s[1] / n]
    };
    let (l, r) = (centre(36..42), centre(42..48));
    let len = ((r[0] - l[0]).powi(2) + (r[1] - l[1]).powi(2))
        .sqrt()
        .max(1e-9);
    let dir = [(r[0] - l[0]) / len, (r[1] - l[1]) / len];
    let perp = [-dir[1], dir[0]];
    let (mut u0, mut u1, mut v0, mut v1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in lm {
        let (u, v) = (
            p[0] as f64 * dir[0] + p[1] as f64 * dir[1],
            p[0] as f64 * perp[0] + p[1] as f64 * perp[1],
        );
        (u0, u1, v0, v1) = (u0.min(u), u1.max(u), v0.min(v), v1.max(v));
    }
    let half = ((u1 - u0).max(v1 - v0) * 1.2) / 2.0;
    let (uc, vc) = ((u0 + u1) / 2.0, (v0 + v1) / 2.0);
    Quad {
        c: [dir[0] * uc + perp[0] * vc, dir[1] * uc + perp[1] * vc],
        x: [dir[0] * half, dir[1] * half],
        y: [perp[0] * half, perp[1] * half],
    }
}

#[derive(Debug, Clone, Copy)]
pub struct IdentityOptions {
    /// Distance to the target above which an adult's face is flagged.
    pub threshold: f32,
    /// Below this many photos with faces, nobody is flagged: a median of three is no majority.
    pub min_faces: usize,
    /// How far a child's face may sit beyond `threshold`.
    pub child: ChildAllowance,
}

/// A child's face is naturally far from a target that adult photos dominate: the descriptor
/// network was trained on adults, and a face changes most while growing up. A face estimated
/// younger than `under_age` may therefore be `per_year` further away for each year it is
/// younger than the album's typical (median) face, up to `most` (calibrated on testdata: see
/// docs/faces.md).
#[derive(Debug, Clone, Copy)]
pub struct ChildAllowance {
    pub under_age: f32,
    pub per_year: f32,
    pub most: f32,
}

impl ChildAllowance {
    /// How much further than the threshold a face of `age` may be in an album whose median
    /// face is `album_age` years old.
    pub fn for_age(&self, age: Option<f32>, album_age: Option<f32>) -> f32 {
        match (age, album_age) {
            (Some(age), Some(album_age)) if age < self.under_age && album_age > age => {
                (self.per_year * (album_age - age)).min(self.most)
            }
            _ => 0.0,
        }
    }
}

impl Default for IdentityOptions {
    fn default() -> Self {
        Self {
            threshold: 0.50,
            min_faces: 4,
            child: ChildAllowance {
                under_age: 20.0,
                per_year: 0.004,
                most: 0.10,
            },
        }
    }
}

/// What the judgement reads of one face: its descriptor and the age network's estimate.
#[derive(Debug, Clone, Copy)]
pub struct Described {
    pub descriptor: Descriptor,
    pub age: Option<f32>,
}

/// What became of one face.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The photo's face of the target person.
    Target { distance: f32 },
    /// The photo's best candidate, but further from the target than its `limit` (the
    /// threshold, plus a child's allowance): a suspected intruder.
    Flagged { distance: f32, limit: f32 },
    /// Another face in a photo whose target face is a different one.
    OtherPerson { distance: f32 },
    /// Too small to describe.
    NoDescriptor,
}

impl Verdict {
    pub fn distance(&self) -> Option<f32> {
        match *self {
            Verdict::Target { distance }
            | Verdict::Flagged { distance, .. }
            | Verdict::OtherPerson { distance } => Some(distance),
            Verdict::NoDescriptor => None,
        }
    }
}

/// The median of some ages (the upper middle one), if any: the album's typical age.
pub fn median_age(ages: impl Iterator<Item = f32>) -> Option<f32> {
    let mut ages: Vec<f32> = ages.collect();
    if ages.is_empty() {
        return None;
    }
    ages.sort_by(f32::total_cmp);
    Some(ages[ages.len() / 2])
}

/// Decides, for each photo's faces (`None` when too small to describe), which face is the
/// target person's and which are flagged. Returns one verdict per face, in the same shape.
pub fn judge(photos: &[Vec<Option<Described>>], options: IdentityOptions) -> Vec<Vec<Verdict>> {
    // Start from each photo's first (best-detected) described face, then twice: take the
    // median, and let every photo pick its face nearest to it.
    let mut chosen: Vec<Option<usize>> = photos
        .iter()
        .map(|faces| faces.iter().position(Option::is_some))
        .collect();
    let picked = |chosen: &[Option<usize>]| -> Vec<Described> {
        photos
            .iter()
            .zip(chosen)
            .filter_map(|(faces, c)| c.and_then(|i| faces[i]))
            .collect()
    };
    let mut target = [0.0f32; 128];
    for _ in 0..2 {
        let faces = picked(&chosen);
        target = median(&faces.iter().map(|f| &f.descriptor).collect::<Vec<_>>());
        chosen = photos
            .iter()
            .map(|faces| {
                faces
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| f.map(|f| (i, distance(&f.descriptor, &target))))
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
            })
            .collect();
    }
    let faces = picked(&chosen);
    let album_age = median_age(faces.iter().filter_map(|f| f.age));
    let may_flag = faces.len() >= options.min_faces;
    photos
        .iter()
        .zip(&chosen)
        .map(|(faces, &c)| {
            faces
                .iter()
                .enumerate()
                .map(|(i, f)| match f {
                    None => Verdict::NoDescriptor,
                    Some(f) => {
                        let distance = distance(&f.descriptor, &target);
                        let limit = options.threshold + options.child.for_age(f.age, album_age);
                        if c != Some(i) {
                            Verdict::OtherPerson { distance }
                        } else if may_flag && distance > limit {
                            Verdict::Flagged { distance, limit }
                        } else {
                            Verdict::Target { distance }
                        }
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(v: f32) -> Descriptor {
        let mut out = [0.0; 128];
        out[0] = v;
        out
    }

    /// A described face at `v` on the first axis, of an adult.
    fn f(v: f32) -> Option<Described> {
        aged(v, 35.0)
    }

    fn aged(v: f32, age: f32) -> Option<Described> {
        Some(Described {
            descriptor: d(v),
            age: Some(age),
        })
    }

    #[test]
    fn median_ignores_a_minority() {
        let (a, b, c) = (d(1.0), d(1.1), d(9.0));
        assert_eq!(median(&[&a, &b, &c])[0], 1.1);
    }

    #[test]
    fn stranger_is_flagged_and_group_photo_picks_the_target() {
        let photos = vec![
            vec![f(0.0)],
            vec![f(0.1)],
            vec![f(5.0), f(0.05)], // group: the stranger was detected first
            vec![f(-0.1)],
            vec![f(3.0)], // intruder
            vec![None],
        ];
        let v = judge(&photos, IdentityOptions::default());
        assert!(matches!(v[0][0], Verdict::Target { .. }));
        assert!(matches!(v[2][0], Verdict::OtherPerson { .. }));
        assert!(matches!(v[2][1], Verdict::Target { .. }));
        assert!(matches!(v[4][0], Verdict::Flagged { .. }));
        assert_eq!(v[5][0], Verdict::NoDescriptor);
    }

    #[test]
    fn nobody_is_flagged_in_a_tiny_album() {
        let photos = vec![vec![f(0.0)], vec![f(0.1)], vec![f(3.0)]];
        let v = judge(&photos, IdentityOptions::default());
        assert!(v
            .iter()
            .flatten()
            .all(|x| matches!(x, Verdict::Target { .. })));
    }

    #[test]
    fn a_child_may_be_further_from_an_adult_album_than_an_adult() {
        // Adults at 0.0–0.1; a 3-year-old and an adult stranger both 0.58 away.
        let photos = vec![
            vec![f(0.0)],
            vec![f(0.1)],
            vec![f(-0.1)],
            vec![f(0.05)],
            vec![aged(0.58, 3.0)],
            vec![aged(0.58, 33.0)],
        ];
        let v = judge(&photos, IdentityOptions::default());
        assert!(matches!(v[4][0], Verdict::Target { .. }), "{:?}", v[4][0]);
        assert!(matches!(v[5][0], Verdict::Flagged { limit, .. } if limit == 0.50));
        // The allowance has a ceiling: a child far beyond it is still flagged.
        let mut far = photos.clone();
        far[4] = vec![aged(0.7, 1.0)];
        let v = judge(&far, IdentityOptions::default());
        assert!(matches!(v[4][0], Verdict::Flagged { limit, .. } if (limit - 0.6).abs() < 1e-6));
    }
}

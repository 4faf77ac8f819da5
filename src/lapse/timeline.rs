//! The frame schedule: which keyframes each frame lies between, and how far.

/// One frame: `alpha` of the way from keyframe `from` to keyframe `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSpec {
    pub from: usize,
    pub to: usize,
    pub alpha: f32,
}

/// How many frames each gap between keyframes gets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Spacing {
    /// The same number of generated frames in every gap.
    Fixed { frames_between: u32 },
    /// Frames in proportion to the age gap (a ten-year gap lasts longer than a one-year one),
    /// within `min`–`max` per gap and `budget` generated frames in all; gaps whose ages are
    /// unknown get `fallback`.
    Age {
        frames_per_year: f32,
        min: u32,
        max: u32,
        budget: u32,
        fallback: u32,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    pub spacing: Spacing,
    /// Extra frames the first and the last keyframe stay on screen.
    pub hold_frames: u32,
    /// Slow in and out of each keyframe (smoothstep) instead of moving at constant speed.
    pub ease: bool,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub frames: Vec<FrameSpec>,
}

impl Timeline {
    /// The schedule for keyframes of the given ages (in order; `None` where unknown).
    pub fn new(ages: &[Option<f64>], options: TimelineOptions) -> Self {
        let mut frames = Vec::new();
        if ages.is_empty() {
            return Self { frames };
        }
        let last = ages.len() - 1;
        let still = |k| FrameSpec {
            from: k,
            to: k,
            alpha: 0.0,
        };
        frames.extend(std::iter::repeat_n(still(0), options.hold_frames as usize));
        for (k, between) in gap_frames(ages, options.spacing).into_iter().enumerate() {
            frames.push(still(k));
            let steps = between + 1;
            for j in 1..steps {
                let t = j as f32 / steps as f32;
                let alpha = if options.ease {
                    t * t * (3.0 - 2.0 * t)
                } else {
                    t
                };
                frames.push(FrameSpec {
                    from: k,
                    to: k + 1,
                    alpha,
                });
            }
        }
        frames.push(still(last));
        frames.extend(std::iter::repeat_n(
            still(last),
            options.hold_frames as usize,
        ));
        Self { frames }
    }
}

/// Generated frames for each gap.
pub fn gap_frames(ages: &[Option<f64>], spacing: Spacing) -> Vec<u32> {
    let gaps = ages.len().saturating_sub(1);
    match spacing {
        Spacing::Fixed { frames_between } => vec![frames_between; gaps],
        Spacing::Age {
            frames_per_year,
            min,
            max,
            budget,
            fallback,
        } => {
            let (min, max) = (min.min(max), max.max(min));
            let mut counts: Vec<u32> = ages
                .windows(2)
                .map(|w| match (w[0], w[1]) {
                    (Some(a), Some(b)) => ((b - a).abs() as f32 * frames_per_year)
                        .round()
                        .clamp(min as f32, max as f32)
                        as u32,
                    _ => fallback.clamp(min, max),
                })
                .collect();
            let total: u32 = counts.iter().sum();
            if total > budget && total > 0 {
                // Shrink every gap in proportion, never below the minimum.
                let scale = budget as f32 / total as f32;
                for c in &mut counts {
                    *c = ((*c as f32 * scale).floor() as u32).max(min);
                }
            }
            counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(n: u32) -> TimelineOptions {
        TimelineOptions {
            spacing: Spacing::Fixed { frames_between: n },
            hold_frames: 2,
            ease: false,
        }
    }

    #[test]
    fn schedule_visits_every_keyframe_in_order_with_even_steps() {
        let t = Timeline::new(&[None, None, None], fixed(3));
        assert_eq!(t.frames.len(), 2 + 4 + 4 + 1 + 2);
        let alphas: Vec<f32> = t.frames[2..7].iter().map(|f| f.alpha).collect();
        assert_eq!(alphas, vec![0.0, 0.25, 0.5, 0.75, 0.0]);
        assert_eq!((t.frames[7].from, t.frames[7].to), (1, 2));
        assert_eq!(t.frames.last().map(|f| f.from), Some(2));
    }

    #[test]
    fn longer_age_gaps_get_more_frames_within_bounds_and_budget() {
        let age = |budget| Spacing::Age {
            frames_per_year: 4.0,
            min: 3,
            max: 30,
            budget,
            fallback: 10,
        };
        let ages = [
            Some(1.0),
            Some(2.0),
            Some(12.0),
            Some(12.1),
            None,
            Some(40.0),
        ];
        assert_eq!(gap_frames(&ages, age(1000)), vec![4, 30, 3, 10, 10]);
        let squeezed = gap_frames(&ages, age(30));
        assert!(squeezed.iter().all(|&c| c >= 3));
        assert!(squeezed[1] > squeezed[0], "{squeezed:?}");
        assert!(squeezed.iter().sum::<u32>() <= 30 + 3 * 5);
    }

    #[test]
    fn easing_slows_near_keyframes() {
        let mut options = fixed(9);
        options.ease = true;
        let t = Timeline::new(&[None, None], options);
        let a: Vec<f32> = t
            .frames
            .iter()
            .filter(|f| f.to == 1)
            .map(|f| f.alpha)
            .collect();
        assert!(a[0] < 0.1 && (a[4] - 0.5).abs() < 1e-6 && a[1] - a[0] < a[5] - a[4]);
    }
}

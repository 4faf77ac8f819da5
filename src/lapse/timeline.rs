//! The frame schedule: which keyframes each frame lies between, and how far.

/// One frame: `alpha` of the way from keyframe `from` to keyframe `to`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSpec {
    pub from: usize,
    pub to: usize,
    pub alpha: f32,
}

#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    /// Generated frames between two consecutive keyframes.
    pub frames_between: u32,
    /// Extra frames the first and the last keyframe stay on screen.
    pub hold_frames: u32,
}

#[derive(Debug, Clone)]
pub struct Timeline {
    pub frames: Vec<FrameSpec>,
}

impl Timeline {
    /// `keyframes` keyframes, in order, with a fixed number of frames in each gap.
    pub fn new(keyframes: usize, options: TimelineOptions) -> Self {
        let mut frames = Vec::new();
        if keyframes == 0 {
            return Self { frames };
        }
        let last = keyframes - 1;
        let still = |k| FrameSpec {
            from: k,
            to: k,
            alpha: 0.0,
        };
        frames.extend(std::iter::repeat_n(still(0), options.hold_frames as usize));
        let steps = options.frames_between + 1;
        for k in 0..last {
            frames.push(still(k));
            for j in 1..steps {
                frames.push(FrameSpec {
                    from: k,
                    to: k + 1,
                    alpha: j as f32 / steps as f32,
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

    /// Frames in a timeline of `keyframes` keyframes, without building it.
    pub fn frame_count(keyframes: usize, options: TimelineOptions) -> usize {
        if keyframes == 0 {
            return 0;
        }
        (keyframes - 1) * (options.frames_between as usize + 1)
            + 1
            + 2 * options.hold_frames as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_visits_every_keyframe_in_order_with_even_steps() {
        let options = TimelineOptions {
            frames_between: 3,
            hold_frames: 2,
        };
        let t = Timeline::new(3, options);
        assert_eq!(t.frames.len(), Timeline::frame_count(3, options));
        assert_eq!(t.frames.len(), 2 + 4 + 4 + 1 + 2);
        let alphas: Vec<f32> = t.frames[2..7].iter().map(|f| f.alpha).collect();
        assert_eq!(alphas, vec![0.0, 0.25, 0.5, 0.75, 0.0]);
        assert_eq!((t.frames[7].from, t.frames[7].to), (1, 2));
        assert_eq!(t.frames.last().map(|f| f.from), Some(2));
    }
}

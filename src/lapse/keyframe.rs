//! Keyframes: one square image per photo, in time-lapse order.

use crate::album::CaptureDate;
use chrono::NaiveDate;
use image::RgbImage;

/// One photo's aligned face at the output size, with what is known of when it was taken.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub source: String,
    pub image: RgbImage,
    pub capture_date: Option<CaptureDate>,
    /// Age in years at capture, when the birth date and capture date are both known.
    pub age_years: Option<f64>,
    /// The face's 68 landmarks in this image's pixels, for renderers that warp.
    pub landmarks: Option<Vec<[f32; 2]>>,
    /// Where this image shows the person (hair and clothes included), for renderers that lay
    /// the person over a backdrop; `None` when the backgrounds are kept.
    pub person: Option<crate::leaves::mask::PersonMask>,
}

/// Age in years between a birth date and a capture date; `None` for a capture before birth.
pub fn age_at(born: NaiveDate, taken: NaiveDate) -> Option<f64> {
    let days = (taken - born).num_days();
    (days >= 0).then(|| days as f64 / 365.2425)
}

/// Time-lapse order: by capture date where known (undated photos keep their album order after
/// the dated ones), ties by source name, so the order never depends on timing.
pub fn timeline_order(
    a: (Option<CaptureDate>, &str),
    b: (Option<CaptureDate>, &str),
) -> std::cmp::Ordering {
    match (a.0, b.0) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.1.cmp(b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_whole_years_across_leap_days() {
        let born = NaiveDate::from_ymd_opt(1942, 11, 20).expect("date");
        let taken = NaiveDate::from_ymd_opt(2010, 5, 10).expect("date");
        let age = age_at(born, taken).expect("age");
        assert!((67.0..68.0).contains(&age), "{age}");
        assert!(age_at(taken, born).is_none());
    }
}

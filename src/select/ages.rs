//! What an album's own facts say about the age network: ages the user fixed and capture dates
//! correct the network's estimates for the photos nobody dated.
//!
//! The network's error grows with age (about 10 years past 60), and it is mostly a bias shared
//! by one person's photos (lighting, make-up, the person's looks). Where the album knows true
//! ages, the estimates are mapped onto them: a line through the known points when they span a
//! good part of a life, else a shift by their median difference, shrunk while it rests on few
//! photos (and none when they disagree on its direction). Without a birth date, dated photos still know how far apart they were taken, so the
//! birth date they imply (the median of capture date minus estimate) gives them ages as far
//! apart as their dates.

use chrono::NaiveDate;

/// What one used face contributes.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgeEvidence {
    /// The network's estimate in years.
    pub estimate: Option<f64>,
    /// The photo's capture date.
    pub taken: Option<NaiveDate>,
    /// The age the user set for the photo.
    pub fixed: Option<f64>,
}

/// A line from the network's estimates to the album's ages, and the birth date the dated
/// photos imply when none was given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AgeCalibration {
    /// Set only when no birth date was given.
    pub implied_born: Option<NaiveDate>,
    /// Whether `implied_born` rests on ages the user set (else on the network's estimates).
    pub born_from_user: bool,
    pub intercept: f64,
    pub slope: f64,
    /// How many known ages the line rests on (0: estimates are used as they are).
    pub support: usize,
}

impl Default for AgeCalibration {
    fn default() -> Self {
        Self {
            implied_born: None,
            born_from_user: false,
            intercept: 0.0,
            slope: 1.0,
            support: 0,
        }
    }
}

/// Known ages spanning at least this many years are fitted with a line; fewer, with a shift.
const SPAN_FOR_A_LINE: f64 = 15.0;
/// How far the line's slope may stray from 1 (a few points must not stretch a whole life).
const SLOPE_RANGE: (f64, f64) = (0.8, 1.25);
/// The largest correction of an estimate, in years.
const MOST: f64 = 15.0;

const DAYS_PER_YEAR: f64 = 365.2425;

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn years_before(date: NaiveDate, years: f64) -> Option<NaiveDate> {
    date.checked_sub_signed(chrono::Duration::days(
        (years * DAYS_PER_YEAR).round() as i64
    ))
}

fn years_between(born: NaiveDate, taken: NaiveDate) -> Option<f64> {
    let days = (taken - born).num_days();
    (days >= 0).then(|| days as f64 / DAYS_PER_YEAR)
}

impl AgeCalibration {
    /// Learns from the album's used faces; `born` is the birth date the user gave, if any.
    pub fn learn(faces: &[AgeEvidence], born: Option<NaiveDate>) -> Self {
        // A birth date: the user's, else the one the user's fixes of dated photos imply, else
        // the one the network's estimates of dated photos imply (two at least).
        let from_user: Vec<NaiveDate> = faces
            .iter()
            .filter_map(|f| years_before(f.taken?, f.fixed?))
            .collect();
        let from_estimates: Vec<NaiveDate> = faces
            .iter()
            .filter(|f| f.fixed.is_none())
            .filter_map(|f| years_before(f.taken?, f.estimate?))
            .collect();
        let median_date = |dates: &[NaiveDate]| -> Option<NaiveDate> {
            let first = *dates.first()?;
            let offsets = dates
                .iter()
                .map(|d| (*d - first).num_days() as f64)
                .collect();
            let days = median(offsets)?;
            first.checked_add_signed(chrono::Duration::days(days.round() as i64))
        };
        let (implied_born, born_from_user) = match born {
            Some(_) => (None, false),
            None if !from_user.is_empty() => (median_date(&from_user), true),
            None if from_estimates.len() >= 2 => (median_date(&from_estimates), false),
            None => (None, false),
        };
        // Known ages: the user's, and capture dates against a birth date the network did not
        // imply (that would only give its own estimates back).
        let trusted_born = born.or(implied_born.filter(|_| born_from_user));
        let known: Vec<(f64, f64)> = faces
            .iter()
            .filter_map(|f| {
                let estimate = f.estimate?;
                let age = f.fixed.or_else(|| years_between(trusted_born?, f.taken?))?;
                Some((estimate, age))
            })
            .collect();
        let mut calibration = Self {
            implied_born,
            born_from_user,
            support: known.len(),
            ..Self::default()
        };
        if known.is_empty() {
            return calibration;
        }
        let n = known.len() as f64;
        let span = known.iter().map(|k| k.1).fold(f64::MIN, f64::max)
            - known.iter().map(|k| k.1).fold(f64::MAX, f64::min);
        if known.len() >= 3 && span >= SPAN_FOR_A_LINE {
            let (mx, my) = (
                known.iter().map(|k| k.0).sum::<f64>() / n,
                known.iter().map(|k| k.1).sum::<f64>() / n,
            );
            let sxy: f64 = known.iter().map(|k| (k.0 - mx) * (k.1 - my)).sum();
            let sxx: f64 = known.iter().map(|k| (k.0 - mx).powi(2)).sum();
            let slope = if sxx > 0.0 { sxy / sxx } else { 1.0 };
            calibration.slope = slope.clamp(SLOPE_RANGE.0, SLOPE_RANGE.1);
            calibration.intercept = my - calibration.slope * mx;
        } else {
            // A shift, shrunk toward none while it rests on few photos; none when the known
            // ages disagree on its direction (no bias they share, only noise or a reordering).
            let differences: Vec<f64> = known.iter().map(|k| k.1 - k.0).collect();
            let agree =
                differences.iter().all(|d| *d >= 0.0) || differences.iter().all(|d| *d <= 0.0);
            let shift = median(differences).unwrap_or(0.0);
            if agree {
                calibration.intercept = shift * n / (n + 1.0);
            } else {
                calibration.support = 0;
            }
        }
        calibration
    }

    /// The album's age for a network estimate.
    pub fn correct(&self, estimate: f64) -> f64 {
        let corrected = self.intercept + self.slope * estimate;
        (estimate + (corrected - estimate).clamp(-MOST, MOST)).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn nothing_known_changes_nothing() {
        let faces = [AgeEvidence {
            estimate: Some(30.0),
            ..AgeEvidence::default()
        }];
        let c = AgeCalibration::learn(&faces, None);
        assert_eq!(c, AgeCalibration::default());
        assert_eq!(c.correct(42.0), 42.0);
    }

    #[test]
    fn ages_the_user_fixed_shift_the_estimates_of_the_others() {
        // The network reads this person 8 years too young.
        let fixed = |estimate: f64| AgeEvidence {
            estimate: Some(estimate),
            fixed: Some(estimate + 8.0),
            ..AgeEvidence::default()
        };
        let c = AgeCalibration::learn(&[fixed(40.0), fixed(45.0)], None);
        assert_eq!(c.support, 2);
        // Two photos: two thirds of the shift.
        assert!((c.correct(50.0) - (50.0 + 8.0 * 2.0 / 3.0)).abs() < 1e-9);
    }

    #[test]
    fn known_ages_that_disagree_correct_nothing() {
        let told = |estimate: f64, fixed: f64| AgeEvidence {
            estimate: Some(estimate),
            fixed: Some(fixed),
            ..AgeEvidence::default()
        };
        // One photo set older than it looks, one younger: a reordering, not a bias.
        let c = AgeCalibration::learn(&[told(46.0, 60.0), told(47.0, 10.0)], None);
        assert_eq!(c.support, 0);
        assert_eq!(c.correct(50.0), 50.0);
    }

    #[test]
    fn known_ages_across_a_life_give_a_line() {
        // The network's error grows with age: true = 1.2 × estimate − 2.
        let born = date(1950, 1, 1);
        let faces: Vec<AgeEvidence> = [10.0, 30.0, 50.0, 60.0]
            .iter()
            .map(|&truth: &f64| AgeEvidence {
                estimate: Some((truth + 2.0) / 1.2),
                taken: years_before(born, -truth),
                fixed: None,
            })
            .collect();
        let c = AgeCalibration::learn(&faces, Some(born));
        assert!((c.slope - 1.2).abs() < 0.01, "{c:?}");
        assert!((c.correct((70.0 + 2.0) / 1.2) - 70.0).abs() < 0.1, "{c:?}");
    }

    #[test]
    fn dated_photos_without_a_birth_date_imply_one() {
        // Taken 2000 and 2010, estimated 28 and 41: born about mid-1971 (the middle of
        // 1972.0 and 1969.0).
        let faces = [
            AgeEvidence {
                estimate: Some(28.0),
                taken: Some(date(2000, 1, 1)),
                fixed: None,
            },
            AgeEvidence {
                estimate: Some(41.0),
                taken: Some(date(2010, 1, 1)),
                fixed: None,
            },
        ];
        let c = AgeCalibration::learn(&faces, None);
        let born = c.implied_born.expect("born");
        assert_eq!(born.format("%Y").to_string(), "1970");
        assert!(!c.born_from_user);
        // Estimates alone are no knowledge: nothing to correct the undated with.
        assert_eq!(c.support, 0);

        // One age the user set on a dated photo fixes the birth date, and the other dated
        // photo's age follows from it (40, where the network says 38: both 2 years over).
        let mut told = faces;
        told[0].fixed = Some(30.0);
        told[1].estimate = Some(38.0);
        let c = AgeCalibration::learn(&told, None);
        assert!(c.born_from_user);
        assert_eq!(c.implied_born, years_before(date(2000, 1, 1), 30.0));
        assert_eq!(c.support, 2);
    }

    #[test]
    fn corrections_are_bounded() {
        let c = AgeCalibration {
            intercept: 40.0,
            ..AgeCalibration::default()
        };
        assert_eq!(c.correct(10.0), 25.0);
        let c = AgeCalibration {
            intercept: -40.0,
            ..AgeCalibration::default()
        };
        assert_eq!(c.correct(10.0), 0.0);
    }
}

//! EXIF facts a time-lapse needs: orientation and a plausible capture date.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike, Utc};
use serde::Serialize;

/// When a photo was taken, as the camera wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct CaptureDate {
    /// Local wall-clock time of the camera.
    pub local: NaiveDateTime,
    /// UTC offset when the camera recorded one (EXIF 2.31 OffsetTimeOriginal).
    pub offset_minutes: Option<i32>,
}

impl CaptureDate {
    pub fn date(&self) -> NaiveDate {
        self.local.date()
    }
}

impl std::fmt::Display for CaptureDate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self
            .offset_minutes
            .and_then(|m| FixedOffset::east_opt(m * 60))
        {
            Some(offset) => write!(f, "{}{}", self.local.format("%Y-%m-%d %H:%M:%S"), offset),
            None => write!(f, "{}", self.local.format("%Y-%m-%d %H:%M:%S")),
        }
    }
}

/// What EXIF said about a photo.
#[derive(Debug, Clone, Default)]
pub struct Metadata {
    /// EXIF orientation 1–8; 1 when absent.
    pub orientation: u8,
    pub capture_date: Option<CaptureDate>,
    /// Why a date that was present was not believed.
    pub date_rejected: Option<String>,
}

/// Reads EXIF from a JPEG, PNG, WebP, TIFF or HEIF container. Photos without EXIF are normal.
pub fn read(bytes: &[u8], now: DateTime<Utc>) -> Metadata {
    let Some(exif) = exif_of(bytes) else {
        return Metadata {
            orientation: 1,
            ..Default::default()
        };
    };
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0))
        .filter(|v| (1..=8).contains(v))
        .map_or(1, |v| v as u8);
    let ascii = |tag| {
        exif.get_field(tag, exif::In::PRIMARY)
            .and_then(|f| match &f.value {
                exif::Value::Ascii(parts) => parts
                    .first()
                    .map(|p| String::from_utf8_lossy(p).trim().to_string()),
                _ => None,
            })
    };
    let (raw, offset) = match ascii(exif::Tag::DateTimeOriginal) {
        Some(d) => (Some(d), ascii(exif::Tag::OffsetTimeOriginal)),
        None => (
            ascii(exif::Tag::DateTimeDigitized),
            ascii(exif::Tag::OffsetTimeDigitized),
        ),
    };
    let mut meta = Metadata {
        orientation,
        ..Default::default()
    };
    if let Some(raw) = raw {
        match parse_date(&raw, offset.as_deref()).and_then(|d| plausible(d, now)) {
            Ok(date) => meta.capture_date = Some(date),
            Err(reason) => meta.date_rejected = Some(reason),
        }
    }
    meta
}

fn exif_of(bytes: &[u8]) -> Option<exif::Exif> {
    let reader = exif::Reader::new();
    if image::guess_format(bytes).ok() == Some(image::ImageFormat::WebP) {
        // Many writers start a WebP's EXIF chunk with JPEG's `Exif\0\0` header, which the EXIF
        // reader's WebP support does not expect; the chunk is read here and the header dropped.
        let mut decoder =
            image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(bytes)).ok()?;
        let chunk = image::ImageDecoder::exif_metadata(&mut decoder).ok()??;
        let tiff = chunk.strip_prefix(b"Exif\0\0").unwrap_or(&chunk).to_vec();
        return reader.read_raw(tiff).ok();
    }
    reader
        .read_from_container(&mut std::io::Cursor::new(bytes))
        .ok()
}

/// Parses EXIF's `YYYY:MM:DD HH:MM:SS` and an optional `±HH:MM` offset.
pub fn parse_date(raw: &str, offset: Option<&str>) -> Result<CaptureDate, String> {
    let local = NaiveDateTime::parse_from_str(raw.trim_end_matches('\0'), "%Y:%m:%d %H:%M:%S")
        .map_err(|_| format!("capture date {raw:?} is not a date"))?;
    let offset_minutes = offset.and_then(parse_offset);
    Ok(CaptureDate {
        local,
        offset_minutes,
    })
}

fn parse_offset(raw: &str) -> Option<i32> {
    let raw = raw.trim();
    let (sign, rest) = match raw.as_bytes().first()? {
        b'+' => (1, &raw[1..]),
        b'-' => (-1, &raw[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let minutes = h.parse::<i32>().ok()? * 60 + m.parse::<i32>().ok()?;
    (minutes <= 14 * 60).then_some(sign * minutes)
}

/// Refuses dates no photo of a living person can have: before 1900, in the future, or a camera's
/// factory default (the clock was never set).
pub fn plausible(date: CaptureDate, now: DateTime<Utc>) -> Result<CaptureDate, String> {
    let local = date.local;
    if local.year() < 1900 {
        return Err(format!("capture date {date} is before 1900; ignored"));
    }
    // A day of slack: the camera's zone may be ahead of UTC.
    if local > now.naive_utc() + chrono::Duration::days(1) {
        return Err(format!("capture date {date} is in the future; ignored"));
    }
    let midnight_new_year =
        local.month() == 1 && local.day() == 1 && local.num_seconds_from_midnight() == 0;
    let factory_defaults = [(2002, 12, 8, 12), (2004, 1, 1, 12)];
    let is_factory = factory_defaults.iter().any(|&(y, m, d, h)| {
        (local.year(), local.month(), local.day(), local.hour()) == (y, m, d, h)
            && local.minute() == 0
            && local.second() == 0
    });
    if midnight_new_year || is_factory {
        return Err(format!(
            "capture date {date} looks like a camera's unset clock; ignored"
        ));
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn reads_date_with_offset() {
        let d = parse_date("2010:05:10 14:03:22", Some("+02:00")).expect("parse");
        assert_eq!(d.to_string(), "2010-05-10 14:03:22+02:00");
        assert!(plausible(d, now()).is_ok());
    }

    #[test]
    fn refuses_implausible_dates() {
        for raw in [
            "1899:12:31 10:00:00",
            "2027:01:05 10:00:00",
            "2000:01:01 00:00:00",
            "1970:01:01 00:00:00",
            "2002:12:08 12:00:00",
        ] {
            let d = parse_date(raw, None).expect("parse");
            assert!(plausible(d, now()).is_err(), "{raw} accepted");
        }
        assert!(parse_date("0000:00:00 00:00:00", None).is_err());
        assert!(parse_date("    :  :     :  :  ", None).is_err());
    }

    #[test]
    fn photo_without_exif_is_upright_and_undated() {
        let meta = read(b"not an image", now());
        assert_eq!(meta.orientation, 1);
        assert!(meta.capture_date.is_none() && meta.date_rejected.is_none());
    }
}

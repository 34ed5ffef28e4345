//! The kubelet's rotation stamp: Go layout `20060102-150405`, kubelet local time.

use std::fmt;

use kelp_model::Timestamp;

use crate::error::{K8sError, PathReason};

/// The `YYYYMMDD-HHMMSS` suffix of a rotated log file, validated. Ordering is
/// chronological, like the kubelet's lexicographic sort of the names.
///
/// It is the kubelet's **local** wall-clock time at one-second resolution: it names and
/// orders files; it is not a reliable instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RotationStamp {
    // Field order gives the chronological `Ord`.
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// Length of the stamp text.
pub const STAMP_LEN: usize = 15;

impl RotationStamp {
    /// A stamp from its fields, or `None` if one is out of range (year 0–9999, month
    /// 1–12, a day the month has, hour 0–23, minute and second 0–59).
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Option<Self> {
        let ok = year <= 9999
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month)
            && hour <= 23
            && minute <= 59
            && second <= 59;
        ok.then_some(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The stamp the kubelet would write at `t` in a time zone `utc_offset_secs` east of
    /// UTC (0 on a UTC node).
    pub fn from_timestamp(t: Timestamp, utc_offset_secs: i32) -> Self {
        let local = t
            .as_unix_nanos()
            .saturating_add(i64::from(utc_offset_secs).saturating_mul(1_000_000_000));
        // "YYYY-MM-DDTHH:MM:SSZ": every Timestamp has a four-digit year.
        let text = Timestamp::from_unix_nanos(local).to_rfc3339_secs();
        let b = text.as_bytes();
        let n = |at: usize, len: usize| {
            b.get(at..at + len).map_or(0, |d| {
                d.iter()
                    .fold(0u16, |v, c| v * 10 + u16::from(c.wrapping_sub(b'0')))
            })
        };
        // Formatted from a valid instant, so every field is in range.
        Self {
            year: n(0, 4),
            month: n(5, 2) as u8,
            day: n(8, 2) as u8,
            hour: n(11, 2) as u8,
            minute: n(14, 2) as u8,
            second: n(17, 2) as u8,
        }
    }

    /// Parses `YYYYMMDD-HHMMSS`.
    ///
    /// # Errors
    ///
    /// [`K8sError::PodLogPath`] with [`PathReason::InvalidStamp`] and the offset of the
    /// bad byte.
    pub fn parse(s: &str) -> Result<Self, K8sError> {
        Self::parse_at(s, 0)
    }

    /// [`Self::parse`], reporting offsets shifted by `at`.
    pub(crate) fn parse_at(s: &str, at: usize) -> Result<Self, K8sError> {
        let fail = |i: usize, rule| K8sError::PodLogPath {
            offset: at + i,
            reason: PathReason::InvalidStamp(rule),
        };
        let b = s.as_bytes();
        if b.len() != STAMP_LEN {
            return Err(fail(b.len().min(STAMP_LEN), "expected YYYYMMDD-HHMMSS"));
        }
        if b[8] != b'-' {
            return Err(fail(8, "expected '-' between date and time"));
        }
        let num = |from: usize, len: usize| -> Result<u16, K8sError> {
            let mut v = 0u16;
            for (i, &c) in b[from..from + len].iter().enumerate() {
                if !c.is_ascii_digit() {
                    return Err(fail(from + i, "expected a digit"));
                }
                v = v * 10 + u16::from(c - b'0');
            }
            Ok(v)
        };
        let (year, month, day) = (num(0, 4)?, num(4, 2)? as u8, num(6, 2)? as u8);
        let (hour, minute, second) = (num(9, 2)? as u8, num(11, 2)? as u8, num(13, 2)? as u8);
        if !(1..=12).contains(&month) {
            return Err(fail(4, "month out of range"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(fail(6, "day out of range"));
        }
        if hour > 23 {
            return Err(fail(9, "hour out of range"));
        }
        if minute > 59 {
            return Err(fail(11, "minute out of range"));
        }
        if second > 59 {
            return Err(fail(13, "second out of range"));
        }
        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// The year.
    pub fn year(&self) -> u16 {
        self.year
    }
    /// The month, 1–12.
    pub fn month(&self) -> u8 {
        self.month
    }
    /// The day of the month, from 1.
    pub fn day(&self) -> u8 {
        self.day
    }
    /// The hour, 0–23.
    pub fn hour(&self) -> u8 {
        self.hour
    }
    /// The minute, 0–59.
    pub fn minute(&self) -> u8 {
        self.minute
    }
    /// The second, 0–59.
    pub fn second(&self) -> u8 {
        self.second
    }
}

impl fmt::Display for RotationStamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

fn days_in_month(y: u16, m: u8) -> u8 {
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_display_and_order() {
        let s = RotationStamp::parse("20240601-121530").unwrap();
        assert_eq!((s.year(), s.month(), s.day()), (2024, 6, 1));
        assert_eq!((s.hour(), s.minute(), s.second()), (12, 15, 30));
        assert_eq!(s.to_string(), "20240601-121530");
        assert!(RotationStamp::parse("20240601-121040").unwrap() < s);
        assert!(RotationStamp::parse("20240229-000000").is_ok());
        assert_eq!(RotationStamp::new(2023, 2, 29, 0, 0, 0), None);
        assert_eq!(RotationStamp::new(2024, 6, 1, 12, 15, 30), Some(s));
    }

    #[test]
    fn bad_stamps_name_the_byte() {
        let table = [
            ("2024060-121530", 14),
            ("20240601-1215300", 15),
            ("20240601_121530", 8),
            ("2024x601-121530", 4),
            ("20241301-121530", 4),
            ("20230229-121530", 6),
            ("20240600-121530", 6),
            ("20240601-241530", 9),
            ("20240601-126030", 11),
            ("20240601-121560", 13),
        ];
        for (s, at) in table {
            assert_eq!(
                RotationStamp::parse(s).map_err(|e| e.offset()),
                Err(at),
                "{s}"
            );
        }
    }

    #[test]
    fn from_timestamp_uses_the_offset() {
        let t = Timestamp::from_unix_secs(1_717_244_130); // 2024-06-01T12:15:30Z
        assert_eq!(
            RotationStamp::from_timestamp(t, 0).to_string(),
            "20240601-121530"
        );
        assert_eq!(
            RotationStamp::from_timestamp(t, 8 * 3600).to_string(),
            "20240601-201530"
        );
        assert_eq!(
            RotationStamp::from_timestamp(t, -13 * 3600).to_string(),
            "20240531-231530"
        );
    }
}

//! Calendar dates for support windows: parsed from `YYYY-MM-DD`, made
//! from a system time, compared. No clock is read here; the caller says
//! what day it is.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// A day of the proleptic Gregorian calendar (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

impl Date {
    /// A date from a table known to be valid (the support calendar).
    pub(crate) const fn ymd(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    /// The date, when it exists (`2025-02-29` does not).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    /// Parses `YYYY-MM-DD`, exactly (four-digit year, two-digit month and
    /// day).
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        let digits = |r: std::ops::Range<usize>| {
            b[r.clone()]
                .iter()
                .all(u8::is_ascii_digit)
                .then(|| text[r].parse::<u32>().ok())
                .flatten()
        };
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = i32::try_from(digits(0..4)?).ok()?;
        let month = u8::try_from(digits(5..7)?).ok()?;
        let day = u8::try_from(digits(8..10)?).ok()?;
        Date::new(year, month, day)
    }

    /// The UTC day a system time falls on (times before 1970 give 1970-01-01).
    pub fn from_system_time(time: SystemTime) -> Date {
        let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Date::from_days(i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2))
    }

    /// Days since 1970-01-01.
    fn days(self) -> i64 {
        // Howard Hinnant's days_from_civil.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` after 1970-01-01.
    fn from_days(days: i64) -> Date {
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Date {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month,
            day,
        }
    }

    /// Days from `self` to `later` (negative when `later` is earlier).
    pub fn days_until(self, later: Date) -> i64 {
        later.days() - self.days()
    }
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_only_real_dates() {
        assert_eq!(Date::parse("2027-03-27"), Some(Date::ymd(2027, 3, 27)));
        assert_eq!(Date::parse("2028-02-29"), Some(Date::ymd(2028, 2, 29)));
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-00-10",
            "2027-1-01",
            "27-01-01",
            "2027/01/01",
            "2027-01-01T00:00",
            "+027-01-01",
            "",
            "2027-01-32",
        ] {
            assert_eq!(Date::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn system_times_and_day_counts_agree() {
        let day = |d: u64| Date::from_system_time(UNIX_EPOCH + Duration::from_secs(d * 86_400));
        assert_eq!(day(0), Date::ymd(1970, 1, 1));
        // 2026-12-04 is day 20_791.
        assert_eq!(day(20_791), Date::ymd(2026, 12, 4));
        assert_eq!(day(20_791).to_string(), "2026-12-04");
        assert_eq!(Date::ymd(2024, 2, 28).days_until(Date::ymd(2024, 3, 1)), 2);
        assert_eq!(Date::ymd(2025, 2, 28).days_until(Date::ymd(2025, 3, 1)), 1);
        assert_eq!(
            Date::ymd(2027, 3, 27).days_until(Date::ymd(2027, 3, 26)),
            -1
        );
        for d in [0, 59, 60, 365, 10_957, 20_791, 47_482] {
            assert_eq!(day(d).days(), d as i64);
        }
    }
}

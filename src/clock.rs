//! Calendar dates from Unix seconds, without a time-zone database: the civil date of a day
//! (H. Hinnant's algorithm), RFC 5322 dates for the `Received:` line, Japan time for pages.
//! A leaf: uses nothing of ours.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix seconds (0 if the clock is before 1970).
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// (year, month 1-12, day 1-31, seconds into the day) of `unix` shifted by `offset_secs`.
pub fn civil(unix: u64, offset_secs: u64) -> (i64, i64, i64, u64) {
    let t = unix.saturating_add(offset_secs);
    let (days, secs) = (t / 86_400, t % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, secs)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil`]'s date).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `unix` as an RFC 5322 date in Japan time: `Tue, 01 Dec 2026 18:45:00 +0900`.
pub fn rfc5322_jst(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let offset = 9 * 3600;
    let (year, month, day, secs) = civil(unix, offset);
    let weekday = DAYS[((unix + offset) / 86_400 % 7) as usize];
    format!(
        "{weekday}, {day:02} {} {year:04} {:02}:{:02}:{:02} +0900",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_jst(0), "Thu, 01 Jan 1970 09:00:00 +0900");
        // 2026-12-01 00:45:00 UTC.
        assert_eq!(rfc5322_jst(1_796_085_900), "Tue, 01 Dec 2026 09:45:00 +0900");
        assert_eq!(civil(951_782_400, 0), (2000, 2, 29, 0));
    }
}

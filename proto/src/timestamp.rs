//! UTC wall-clock timestamps with milliseconds (RFC 3339), formatted without
//! any crate. Shared by the subinit's and the launcher's log lines, so the
//! two interleave readably in LOG.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the epoch, shown as `2026-11-26T01:40:19.123Z`.
pub struct Timestamp(pub Duration);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        )
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.0.as_secs();
        let (year, month, day) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem / 60 % 60,
            rem % 60,
            self.0.subsec_millis()
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_utc_with_millis() {
        let t = Timestamp(Duration::from_millis(1_795_657_219_123));
        assert_eq!(t.to_string(), "2026-11-26T01:40:19.123Z");
        assert_eq!(
            Timestamp(Duration::ZERO).to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

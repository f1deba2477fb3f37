//! Logging through `log`/env_logger to stderr (LOG, in the monitor), level
//! from env OVERLAY_BOOT_LOG (error|warn|info|debug|trace, default info),
//! one line per event: `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL overlay-boot: text`,
//! the subinit's format, so the two interleave readably in LOG.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn init() {
    let mut b = env_logger::Builder::new();
    b.parse_filters("info");
    if let Ok(spec) = std::env::var("OVERLAY_BOOT_LOG") {
        b.parse_filters(&spec);
    }
    b.format(|buf, record| {
        writeln!(
            buf,
            "{} {:<5} overlay-boot: {}",
            timestamp(SystemTime::now()),
            record.level(),
            record.args()
        )
    });
    let _ = b.try_init();
}

/// UTC time with milliseconds, RFC 3339.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123Z");
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}

//! Logging through `log`/env_logger to stderr (LOG, in the monitor), level
//! from env OVERLAY_BOOT_LOG (error|warn|info|debug|trace, default info),
//! one line per event: `YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL overlay-boot: text`,
//! the subinit's format, so the two interleave readably in LOG.

use std::io::Write;

// One timestamp format for both binaries' log lines.
use proto::timestamp::Timestamp;

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
            Timestamp::now(),
            record.level(),
            record.args()
        )
    });
    let _ = b.try_init();
}

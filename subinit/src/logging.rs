//! Log lines on stderr: `2026-11-26T01:40:19.123Z INFO tag: text`. The tag is
//! `subinit` for PID 1's own lines and the service's name for the lines a
//! service prints. Writes that fail (closed or broken stderr) are dropped.

use std::io::Write;

use log::LevelFilter;

use proto::timestamp::Timestamp;

/// Target of PID 1's own log lines.
pub const SELF: &str = "subinit";

pub fn init() {
    let level = std::env::var("SUBINIT_LOG")
        .ok()
        .and_then(|v| v.trim().parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::Info);
    env_logger::Builder::new()
        .filter_level(level)
        .format(|buf, record| {
            writeln!(
                buf,
                "{} {} {}: {}",
                Timestamp::now(),
                record.level(),
                record.target(),
                record.args()
            )
        })
        .init();
}

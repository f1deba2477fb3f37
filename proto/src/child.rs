//! The report of PID 1's clone3 child to the monitor, over a close-on-exec
//! pipe: nothing when the exec succeeded (the pipe closes), else the step
//! that failed and its errno, `STEP\nERRNO\n`.

use crate::error::{number, DecodeError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildReport {
    /// The step that failed, a fixed word such as `pivot_root`.
    pub step: String,
    /// Its errno (raw, for `nix::errno::Errno::from_raw`).
    pub errno: i32,
}

impl ChildReport {
    /// The text the child writes; built from a `&'static str` step so the
    /// child needs nothing but this one allocation.
    pub fn encode(step: &str, errno: i32) -> String {
        format!("{step}\n{errno}\n")
    }

    /// Everything read up to EOF: `None` when the child wrote nothing (it
    /// exec'd), else the report.
    pub fn decode(text: &str) -> Result<Option<ChildReport>, DecodeError> {
        let mut lines = text.lines();
        let Some(step) = lines.next() else {
            return Ok(None);
        };
        if step.is_empty() {
            return Err(DecodeError::MissingField {
                line: text.to_owned(),
                field: "step",
            });
        }
        let errno = lines.next().ok_or_else(|| DecodeError::MissingField {
            line: text.to_owned(),
            field: "errno",
        })?;
        if let Some(extra) = lines.next() {
            return Err(DecodeError::UnknownLine(extra.to_owned()));
        }
        Ok(Some(ChildReport {
            step: step.to_owned(),
            errno: number("errno", errno)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(ChildReport::encode("pivot_root", 22), "pivot_root\n22\n");
        assert_eq!(
            ChildReport::decode(&ChildReport::encode("pivot_root", 22)),
            Ok(Some(ChildReport {
                step: "pivot_root".into(),
                errno: 22
            }))
        );
        assert_eq!(ChildReport::decode(""), Ok(None));
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            ChildReport::decode("pivot_root\n"),
            Err(DecodeError::MissingField { field: "errno", .. })
        ));
        assert!(matches!(
            ChildReport::decode("pivot_root\nEINVAL\n"),
            Err(DecodeError::BadField { .. })
        ));
        assert!(matches!(
            ChildReport::decode("\n22\n"),
            Err(DecodeError::MissingField { field: "step", .. })
        ));
        assert!(matches!(
            ChildReport::decode("a\n1\nb\n"),
            Err(DecodeError::UnknownLine(_))
        ));
    }
}

//! KEEP_CAPS: which of the capabilities dropped by default the subhost keeps.

use std::path::Path;

use super::error::{ConfigError, Fault};
use super::parse::Var;
use super::resolve::Resolver;
use crate::model::caps::{parse_keep, Caps};

impl Resolver<'_> {
    /// KEEP_CAPS, empty unless set; an unknown name is the line's fault.
    pub fn keep_caps(&self, base: &Path) -> Result<Caps, ConfigError> {
        let Some(value) = self.lookup(Var::KeepCaps, base)? else {
            return Ok(Caps::default());
        };
        self.check(Var::KeepCaps, &value, |text| {
            parse_keep(text).map_err(Fault::UnknownCap)
        })
    }
}

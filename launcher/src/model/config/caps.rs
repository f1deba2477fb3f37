//! KEEP_CAPS: which of the capabilities its SECURITY profile drops the
//! subhost keeps.

use std::path::Path;

use super::error::{ConfigError, Fault};
use super::parse::Var;
use super::resolve::Resolver;
use super::Security;
use crate::model::caps::{parse_keep, Caps};

impl Resolver<'_> {
    /// KEEP_CAPS, empty unless set; a name the profile does not let it
    /// keep is the line's fault.
    pub fn keep_caps(&self, base: &Path, security: Security) -> Result<Caps, ConfigError> {
        let Some(value) = self.lookup(Var::KeepCaps, base)? else {
            return Ok(Caps::default());
        };
        self.check(Var::KeepCaps, &value, |text| {
            parse_keep(text, security.keepable()).map_err(|cap| match security {
                Security::Admin => Fault::UnknownCap(cap),
                Security::Hardened => Fault::UnkeptCap(cap),
            })
        })
    }
}

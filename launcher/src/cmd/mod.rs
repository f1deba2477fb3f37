//! The commands, one file each (overlay-boot, --session, overlay-stop,
//! overlay-go, overlay-share, overlay-diskfile, --list/--status) and the
//! terminal relay they share. Nothing imports this layer but `main`.

pub mod boot;
pub mod diskfile;
pub mod go;
pub mod list;
pub mod liveness;
pub mod relay;
pub mod session;
pub mod share;
pub mod stop;

//! The sd_notify datagram protocol, for `--foreground` under a service
//! manager (systemd's `Type=notify`): one datagram of `KEY=VALUE` lines to
//! the AF_UNIX socket named by `NOTIFY_SOCKET` (a path, or `@name` for the
//! abstract namespace). Without a usable socket the launcher runs all the
//! same, after one warning.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// sun_path's size: a longer NOTIFY_SOCKET cannot be addressed.
const SUN_PATH_MAX: usize = 108;

/// Where notifications go; `None` inside when there is nowhere to send.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    warned: bool,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; the variable is removed so that nothing the
    /// launcher starts (hooks, ifup, the subhost) sees it.
    pub fn from_env() -> Notifier {
        let value = std::env::var_os("NOTIFY_SOCKET");
        std::env::remove_var("NOTIFY_SOCKET");
        let mut n = Notifier {
            target: None,
            warned: false,
        };
        match value.as_ref().map(|v| v.to_string_lossy().into_owned()) {
            None => n.warn("NOTIFY_SOCKET is not set"),
            Some(v) => match open(&v) {
                Ok(t) => n.target = Some(t),
                Err(why) => n.warn(&format!("NOTIFY_SOCKET={v}: {why}")),
            },
        }
        n
    }

    /// `READY=1` with the subhost's state and the launcher as main pid.
    pub fn ready(&mut self, status: &str) {
        let text = format!(
            "READY=1\nSTATUS={}\nMAINPID={}\n",
            status.replace('\n', " "),
            std::process::id()
        );
        self.send(&text);
    }

    /// `STOPPING=1` as the subhost begins to stop.
    pub fn stopping(&mut self, status: &str) {
        self.send(&format!(
            "STOPPING=1\nSTATUS={}\n",
            status.replace('\n', " ")
        ));
    }

    fn send(&mut self, text: &str) {
        let Some((sock, addr)) = &self.target else {
            return;
        };
        if let Err(e) = sock.send_to_addr(text.as_bytes(), addr) {
            let why = format!("sd_notify: {e}");
            self.warn(&why);
        }
    }

    /// One warning per run, whatever goes wrong.
    fn warn(&mut self, why: &str) {
        if !self.warned {
            log::warn!("{why}: no readiness notification to a service manager");
            self.warned = true;
        }
    }
}

/// The socket and the address of NOTIFY_SOCKET's value.
fn open(value: &str) -> Result<(UnixDatagram, SocketAddr), String> {
    if value.is_empty() || value.len() >= SUN_PATH_MAX {
        return Err(format!("length {} not in 1..{SUN_PATH_MAX}", value.len()));
    }
    let addr = match value.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None if value.starts_with('/') => SocketAddr::from_pathname(value),
        None => return Err("neither an absolute path nor @abstract".to_string()),
    }
    .map_err(|e| e.to_string())?;
    let sock = UnixDatagram::unbound().map_err(|e| e.to_string())?;
    Ok((sock, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_bad_values() {
        assert!(open("").is_err());
        assert!(open("relative/sock").is_err());
        assert!(open(&format!("/{}", "x".repeat(200))).is_err());
        assert!(open("@abstract").is_ok());
        assert!(open("/run/systemd/notify").is_ok());
    }
}

//! The caller's terminal: its modes and size as found before a session,
//! raw mode while a pty is relayed to it, and the saved modes back on
//! every way out (drop, and a panic through the panic hook).

use std::os::fd::AsFd;
use std::sync::Mutex;

use nix::pty::Winsize;
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};
use nix::unistd::isatty;

use crate::error::{Op, Result};
use crate::kernel::pty::{self, SlaveSetup};

/// The caller's modes while raw mode is on, for the panic hook.
static SAVED: Mutex<Option<libc::termios>> = Mutex::new(None);

/// The caller's standard input, as found before the session.
pub struct Caller {
    saved: Option<Termios>,
    winsize: Option<Winsize>,
}

impl Caller {
    /// Looks at stdin: a terminal (its modes and size are noted) or not.
    pub fn detect() -> Caller {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        if !isatty(fd).unwrap_or(false) {
            return Caller {
                saved: None,
                winsize: None,
            };
        }
        Caller {
            saved: tcgetattr(fd).ok(),
            winsize: pty::winsize(fd),
        }
    }

    /// The terminal's modes; None when stdin is no terminal.
    pub fn saved(&self) -> Option<&Termios> {
        self.saved.as_ref()
    }

    pub fn is_terminal(&self) -> bool {
        self.saved.is_some()
    }

    /// How the session's slave should start out.
    pub fn slave_setup(&self) -> SlaveSetup {
        SlaveSetup {
            termios: self.saved.clone(),
            winsize: self.winsize,
        }
    }
}

/// Raw mode on the caller's terminal; the saved modes come back on drop.
pub struct Raw {
    saved: Termios,
}

impl Raw {
    pub fn on(saved: &Termios) -> Result<Raw> {
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = Some(saved.clone().into());
        install_panic_hook();
        let raw = Raw {
            saved: saved.clone(),
        };
        raw.apply()?;
        Ok(raw)
    }

    /// Sets raw mode (again: a shell may have reset the modes meanwhile).
    pub fn apply(&self) -> Result<()> {
        let mut t = self.saved.clone();
        cfmakeraw(&mut t);
        tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &t).op("tcsetattr raw")
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
        *SAVED.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let next = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(Some(t)) = SAVED.lock().map(|g| *g) {
                let _ = tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &t.into());
            }
            next(info)
        }));
    });
}

//! overlay-boot: boot, stop and enter subhosts (see docs and the man pages).
//! One binary; argv[0] picks the tool: overlay-boot, overlay-stop,
//! overlay-go, overlay-share, overlay-diskfile.

mod cli;
mod cmd;
mod error;
mod kernel;
mod logging;
mod model;
mod subhost;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use cli::{Command, Tool};
use error::Error;

fn main() {
    // First of all: a ^C now waits for the boot's handlers (or, for the
    // tools that install none, for `release` below) instead of killing us
    // half-way; the window left is the exec itself.
    subhost::interrupt::hold();
    // Whatever the caller left open (fd 3 on a FIFO, a shell's fds) must not
    // be held by the monitor for the subhost's life (it forks, it does not
    // exec, so close-on-exec would not do), nor reach the hooks, ifup or
    // the subhost: every fd of ours is opened after this.
    if let Err(errno) = kernel::sys::close_range_from(3, 0) {
        let _ = writeln!(std::io::stderr(), "close_range: {}", errno.desc());
    }
    logging::init();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let tool = Tool::from_argv0(Path::new(&argv0));
    let rest: Vec<OsString> = args.collect();
    let result = cli::parse(tool, &rest)
        .map_err(Error::Usage)
        .inspect(|cmd| {
            // Only a boot catches the stop signals (`Interrupt::catch`
            // releases them then); the other tools keep their default.
            if !matches!(cmd, Command::Boot { .. } | Command::Session { .. }) {
                subhost::interrupt::release();
            }
        })
        .and_then(run);
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}: {e}", tool.name());
            e.exit_code()
        }
    };
    std::process::exit(code)
}

fn run(cmd: Command) -> error::Result<i32> {
    match cmd {
        Command::Boot { conf, foreground } => cmd::boot::boot(&conf, foreground),
        Command::Stop { conf } => cmd::stop::stop(&conf),
        Command::List => cmd::go::list(),
        Command::Session { conf, argv } => cmd::session::session(&conf, &argv),
        Command::Status { json, watch } => cmd::list::list(json, watch),
        Command::Go { name, argv } => cmd::go::go(&name, &argv),
        Command::Share {
            path,
            name,
            subpath,
        } => cmd::share::share(&path, &name, subpath.as_deref()),
        Command::Diskfile { mnt, image, part } => {
            cmd::diskfile::diskfile(&mnt, image.as_deref(), part)
        }
        Command::Help { tool } => {
            let _ = writeln!(std::io::stdout(), "{}", tool.usage());
            Ok(0)
        }
        Command::Version { tool } => {
            let _ = writeln!(
                std::io::stdout(),
                "{} {}",
                tool.name(),
                env!("CARGO_PKG_VERSION")
            );
            Ok(0)
        }
    }
}

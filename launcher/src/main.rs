//! overlay-boot: boot, stop and enter subhosts (see docs and the man pages).
//! One binary; argv[0] picks the tool: overlay-boot, overlay-stop,
//! overlay-go, overlay-share, overlay-diskfile.

mod attach;
mod boot;
mod cables;
mod cgroup;
mod cgroups;
mod cli;
mod config;
mod contain;
mod devfs;
mod diskfile;
mod diskmounts;
mod error;
mod go;
mod hierarchy;
mod hooks;
mod ifupdown;
mod inroot;
mod legacy;
mod limits;
mod list;
mod liveness;
mod logging;
mod logrotate;
mod loopdev;
mod monitor;
mod mountinfo;
mod netlink;
mod netns;
mod notify;
mod oom;
mod parttable;
mod pty;
mod relay;
mod report;
mod rootfs;
mod session;
mod setup;
mod share;
mod spawn;
mod state;
mod status;
mod stop;
mod subinit_path;
mod sys;
mod usage;
mod watchdog;

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use cli::{Command, Tool};
use error::Error;

fn main() {
    // Whatever the caller left open (fd 3 on a FIFO, a shell's fds) must not
    // be held by the monitor for the subhost's life (it forks, it does not
    // exec, so close-on-exec would not do), nor reach the hooks, ifup or
    // the subhost: every fd of ours is opened after this.
    if let Err(errno) = sys::close_range_from(3, 0) {
        let _ = writeln!(std::io::stderr(), "close_range: {}", errno.desc());
    }
    logging::init();
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let tool = Tool::from_argv0(Path::new(&argv0));
    let rest: Vec<OsString> = args.collect();
    let result = cli::parse(tool, &rest).map_err(Error::Usage).and_then(run);
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
        Command::Boot { conf, foreground } => boot::boot(&conf, foreground),
        Command::Stop { conf } => stop::stop(&conf),
        Command::List => go::list(),
        Command::Session { conf, argv } => session::session(&conf, &argv),
        Command::Status { json, watch } => list::list(json, watch),
        Command::Go { name, argv } => go::go(&name, &argv),
        Command::Share {
            path,
            name,
            subpath,
        } => share::share(&path, &name, subpath.as_deref()),
        Command::Diskfile { mnt, image, part } => diskfile::diskfile(&mnt, image.as_deref(), part),
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

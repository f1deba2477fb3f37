//! subinit: PID 1 of an overlay-boot subhost. Reaps every orphan, runs the
//! START entries (or the INIT script) and the services directory, reports
//! readiness to the launcher, and stops gracefully. See `man/subinit.8`.

mod core;
mod logging;
mod options;
mod runtime;

use std::fs::File;
use std::io::Read;
use std::os::fd::{FromRawFd, RawFd};

use std::time::Instant;

use logging::SELF;
use options::{Command, Options};

use crate::core::machine::{Config, Machine};
use crate::core::plan;
use crate::core::service::Service;
use crate::runtime::effects::{Effects, SessionSpawn};
use crate::runtime::event_loop::Runtime;
use crate::runtime::lsb;
use crate::runtime::services_dir;
use crate::runtime::signals;
use crate::runtime::status_pipe::StatusPipe;

/// Exit status when the subinit cannot set itself up.
const EXIT_SETUP: i32 = 1;
const EXIT_USAGE: i32 = 2;
/// `sh -c SCRIPT` passes the script as one argument, which the kernel caps.
const MAX_INIT_SCRIPT: u64 = 128 * 1024 - 1;

fn main() {
    // overlay-go's exec helper (runtime::exec_helper), not PID 1.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|a| a == "--exec") {
        std::process::exit(runtime::exec_helper::run(args.collect()));
    }
    std::process::exit(run());
}

fn run() -> i32 {
    // First thing: no signal may act on its own before the loop owns them.
    let sigfd = match signals::take_over() {
        Ok(fd) => fd,
        Err(err) => {
            eprintln!("subinit: cannot take over signals: {err}");
            return EXIT_SETUP;
        }
    };
    logging::init();
    // Executed from a memfd, the kernel names us "memfd:subinit"; ps,
    // top and pgrep inside the subhost should see "subinit".
    if let Err(err) = nix::sys::prctl::set_name(c"subinit") {
        log::debug!(target: SELF, "prctl(PR_SET_NAME): {err}");
    }
    let opts = match options::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            println!("{}", options::USAGE);
            return 0;
        }
        Ok(Command::Version) => {
            println!("subinit {}", env!("CARGO_PKG_VERSION"));
            return 0;
        }
        Err(err) => {
            eprintln!("subinit: {err}\n{}", options::USAGE);
            return EXIT_USAGE;
        }
    };
    mark_inherited_fds_cloexec();
    match setup(opts, sigfd) {
        Ok(mut runtime) => runtime.run(),
        Err(err) => {
            log::error!(target: SELF, "{err}");
            EXIT_SETUP
        }
    }
}

/// Why the subinit cannot set itself up (exit status 1).
#[derive(Debug)]
enum SetupError {
    /// Not PID 1, and prctl(PR_SET_CHILD_SUBREAPER) failed.
    Subreaper(nix::errno::Errno),
    /// Reading the INIT script from its fd failed.
    ReadInit { fd: RawFd, err: std::io::Error },
    /// The INIT script does not fit in one argument.
    InitTooLong,
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Subreaper(err) => {
                write!(f, "not PID 1 and cannot become a child subreaper: {err}")
            }
            SetupError::ReadInit { fd, err } => {
                write!(f, "reading the INIT script from fd {fd}: {err}")
            }
            SetupError::InitTooLong => {
                write!(f, "the INIT script is longer than {MAX_INIT_SCRIPT} bytes")
            }
        }
    }
}

fn setup(opts: Options, sigfd: nix::sys::signalfd::SignalFd) -> Result<Runtime, SetupError> {
    let is_pid1 = nix::unistd::getpid().as_raw() == 1;
    if is_pid1 {
        set_hostname(&opts.name);
    } else {
        // Orphans of our services must come to us, not to the host's init.
        nix::sys::prctl::set_child_subreaper(true).map_err(SetupError::Subreaper)?;
        log::info!(target: SELF, "not PID 1: running as a child subreaper");
    }
    let init_script = opts.init_fd.map(read_init_script).transpose()?;
    let ready_fd = opts.ready_fd.map(take_fd);
    let entries = match &opts.services {
        Some(dir) => services_dir::scan(dir),
        None => Vec::new(),
    };
    let service_command = services_dir::find_service_command();
    let steps = plan::plan(
        &opts.start,
        init_script,
        &entries,
        service_command.as_deref(),
        &lsb::provides_network,
    );
    if steps.is_empty() {
        log::info!(target: SELF, "no services: maintenance boot, idle until stopped");
    }
    let now = Instant::now();
    let services = Service::from_entries(&entries, now);
    let status = opts.status_fd.map(|fd| StatusPipe::new(take_fd(fd)));
    let session = opts.session.map(|s| SessionSpawn {
        tty: take_fd(s.fd),
        argv: s.argv,
        term: s.term,
    });
    let cfg = Config {
        script_timeout: opts.script_timeout,
        stop_timeout: opts.stop_timeout,
        // Once, for the life of PID 1.
        removed_caps: opts.removed_caps.map(|s| &*Box::leak(s)),
    };
    let machine = Machine::new(cfg, steps, services, session.is_some(), now);
    let effects = Effects::new(opts.name, is_pid1, ready_fd, session);
    Ok(Runtime::new(machine, effects, sigfd, status, is_pid1))
}

/// Takes ownership of an fd number handed over on the command line.
fn take_fd(fd: RawFd) -> File {
    // SAFETY: the launcher passed this fd to the subinit to own; it is taken
    // exactly once (options hold each number once) and used nowhere else.
    unsafe { File::from_raw_fd(fd) }
}

fn read_init_script(fd: RawFd) -> Result<String, SetupError> {
    let mut script = String::new();
    take_fd(fd)
        .take(MAX_INIT_SCRIPT + 1)
        .read_to_string(&mut script)
        .map_err(|err| SetupError::ReadInit { fd, err })?;
    if script.len() as u64 > MAX_INIT_SCRIPT {
        return Err(SetupError::InitTooLong);
    }
    Ok(script)
}

/// The subhost's own /etc/hostname if it names one, else the subhost's name.
fn set_hostname(name: &str) {
    let from_file = std::fs::read_to_string("/etc/hostname")
        .ok()
        .and_then(|text| text.lines().next().map(|l| l.trim().to_owned()))
        .filter(|h| !h.is_empty());
    let hostname = from_file.as_deref().unwrap_or(name);
    // Under SECURITY=hardened the launcher has set it (this process has
    // no CAP_SYS_ADMIN to).
    if nix::unistd::gethostname().is_ok_and(|h| h == hostname) {
        log::info!(target: SELF, "hostname {hostname}");
        return;
    }
    match nix::unistd::sethostname(hostname) {
        Ok(()) => log::info!(target: SELF, "hostname {hostname}"),
        Err(err) => log::warn!(target: SELF, "cannot set hostname {hostname}: {err}"),
    }
}

/// Fds inherited beyond 0–2 (the readiness and INIT fds, or anything a
/// careless parent left open) must not reach the services.
fn mark_inherited_fds_cloexec() {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets a flag on
    // open fds; nix has no wrapper for it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if rc != 0 {
        log::warn!(target: SELF, "close_range: {}", std::io::Error::last_os_error());
    }
}

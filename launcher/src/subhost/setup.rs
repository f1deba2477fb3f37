//! The boot, step by step (compat "The boot, step by step"), run by the
//! monitor. Reads top to bottom like the shell script it replaces.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::unistd::{pipe2, Pid};

use crate::error::{At, Op, Result};
use crate::kernel::inroot::Root;
use crate::kernel::seccomp::Filter;
use crate::kernel::{cgroups, devices, netns, userns};
use crate::model::config::{Config, Hook, Security};
use crate::subhost::attach::Attach;
use crate::subhost::interrupt::Interrupt;
use crate::subhost::teardown::Made;
use crate::subhost::{cables, devfs, hooks, idrange, owned, rclayer, rootfs, spawn};

/// The running PID 1.
pub struct Child {
    pub pid: Pid,
    pub pidfd: OwnedFd,
    pub ready: File,
    /// The read end of PID 1's stdout and stderr (`output::Output`).
    pub output: File,
}

/// Sets the subhost up and starts its PID 1. Leaves the calling process in
/// a private mount namespace; `made` records what exists on the host.
pub fn subhost(
    cfg: &Config,
    subinit: OwnedFd,
    log: &File,
    made: &mut Made,
    attach: &mut Attach,
    stop: &Interrupt,
) -> Result<Child> {
    let t0 = Steps(Instant::now());
    let (ns, userns) = network(cfg, log, made, stop, &t0)?;
    // A stop signal (overlay-stop) during the set-up aborts the boot.
    stop.check()?;
    private_mount_namespace()?;
    // The subhost's cgroup in every hierarchy, with the limits written;
    // cgroup2's fd for CLONE_INTO_CGROUP.
    let mut note = |dir: &std::path::Path, done| owned::record_cgroup(&cfg.name, dir, done);
    let cg = cgroups::create(&cfg.name, &cfg.limits, &mut made.cgroups, &mut note)?;
    if cfg.security == Security::Hardened {
        devices::restrict(&cgroups::layout()?, &cfg.name, cg.as_ref())?;
    }
    t0.step("cgroup");
    root(
        cfg,
        log,
        (&ns, userns.as_ref()),
        stop,
        &t0,
        attach.is_session(),
    )?;
    // The status pipe, and a session's pty from the devpts just mounted;
    // PRIVATE_USERS: opened as root inside, so the pty is root's there.
    match idrange::recorded(&cfg.name).filter(|_| userns.is_some()) {
        Some(map) => userns::as_range_root(map, || attach.prepare(&cfg.live))?,
        None => attach.prepare(&cfg.live)?,
    }
    let init = match &cfg.init {
        Hook::BuiltIn => None,
        Hook::Command(argv) => Some(hooks::init_script(argv, cfg, log, stop)?),
    };
    stop.check()?;
    let cgs = (cg.as_ref(), made.cgroups.v1.as_slice());
    let child = start_pid1(cfg, subinit, (&ns, userns.as_ref()), cgs, init, attach)?;
    t0.step("PID 1 exec'd");
    Ok(child)
}

/// Logs each step's time since the set-up began.
struct Steps(Instant);

impl Steps {
    fn step(&self, what: &str) {
        log::info!("{what} ({} µs)", self.0.elapsed().as_micros());
    }
}

/// The netns (`/run/netns/NAME`) and the cables into it; its fd, and with
/// PRIVATE_USERS the subhost's user namespace, which owns the netns (so
/// root inside administers it) and was made first.
fn network(
    cfg: &Config,
    log: &File,
    made: &mut Made,
    stop: &Interrupt,
    t0: &Steps,
) -> Result<(OwnedFd, Option<OwnedFd>)> {
    let (userns, own_net) = match idrange::recorded(&cfg.name) {
        Some(map) => {
            let (user, net) = userns::create_with_net(map)?;
            t0.step("user namespace");
            (Some(user), Some(net))
        }
        None => (None, None),
    };
    netns::create(&cfg.name, own_net.as_ref(), |id| {
        owned::record_netns(&cfg.name, id)
    })?;
    made.netns = true;
    let ns = netns::open_ns(&cfg.name)?;
    t0.step("netns");
    // Still in the host's mount namespace: whatever `ifup` starts (a DHCP
    // client) must not live in, and pin, the private one made next.
    cables::setup(cfg, &ns, log, &mut made.cables, stop)?;
    t0.step("cables");
    Ok((ns, userns))
}

/// Why: every mount from here on lives in this namespace (and PID 1's
/// copy of it) only; the host's mount table never sees them, and they
/// vanish with the last process.
fn private_mount_namespace() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWNS).op("unshare(CLONE_NEWNS)")?;
    let private = MsFlags::MS_REC | MsFlags::MS_PRIVATE;
    mount(None::<&str>, "/", None::<&str>, private, None::<&str>).at("make rprivate", "/")
}

/// PREMOUNT, the root filesystem (LIVE) with invoke-rc.d's policy for a
/// running subhost or a `session`, POSTMOUNT and the SHAREs.
fn root(
    cfg: &Config,
    log: &File,
    (ns, userns): (&OwnedFd, Option<&OwnedFd>),
    stop: &Interrupt,
    t0: &Steps,
    session: bool,
) -> Result<()> {
    match &cfg.premount {
        Hook::BuiltIn => hooks::builtin_premount(cfg)?,
        Hook::Command(argv) => hooks::run("PREMOUNT", argv, &[&cfg.upper], cfg, log, stop)?,
    }
    stop.check()?;
    // invoke-rc.d's policy, as a layer below LOWER (nothing in UPPER).
    let rc_layer = rclayer::prepare(cfg, session)?;
    rootfs::mount_root(cfg, rc_layer.as_ref(), userns)?;
    drop(rc_layer);
    t0.step("root");
    let live = Root::open(&cfg.live)?;
    // PRIVATE_USERS: what the monitor makes in LIVE is root's inside (host
    // uid 0 has no id through the idmapped UPPER), /dev and /run included.
    let ids = idrange::recorded(&cfg.name).filter(|_| userns.is_some());
    let as_root = |f: &dyn Fn() -> Result<()>| match ids {
        Some(map) => userns::as_range_root(map, f),
        None => f(),
    };
    match &cfg.postmount {
        Hook::BuiltIn => as_root(&|| devfs::postmount(cfg, &live, ns, ids))?,
        Hook::Command(argv) => {
            hooks::run("POSTMOUNT", argv, &[&cfg.live, &cfg.upper], cfg, log, stop)?
        }
    }
    as_root(&|| rootfs::bind_shares(cfg, &live, userns))?;
    drop(live);
    t0.step("postmount");
    Ok(())
}

/// Clones PID 1 into the subhost (into its cgroups: cgroup2's fd and the
/// v1 directories) and execs the subinit, with its ready pipe, its output
/// pipe, the INIT script and the attach fds.
fn start_pid1(
    cfg: &Config,
    subinit: OwnedFd,
    (ns, userns): (&OwnedFd, Option<&OwnedFd>),
    (cg, v1): (Option<&OwnedFd>, &[PathBuf]),
    init: Option<OwnedFd>,
    attach: &Attach,
) -> Result<Child> {
    let (ready_r, ready_w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
    let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).op("pipe")?;
    let mut keep = vec![ready_w.as_raw_fd()];
    keep.extend(init.as_ref().map(AsRawFd::as_raw_fd));
    keep.extend(attach.keep());
    let filter = seccomp_filter(cfg.security)?;
    let plan = spawn::Plan {
        live: &cfg.live,
        netns: ns,
        userns,
        cgroup: cg,
        subinit: &subinit,
        output: &out_w,
        argv: [
            subinit_argv(
                cfg,
                ready_w.as_raw_fd(),
                init.as_ref().map(AsRawFd::as_raw_fd),
            ),
            attach.argv(),
        ]
        .concat(),
        env: subinit_env(),
        drop_caps: cfg.security.dropped_keeping(cfg.keep_caps),
        hardened: (cfg.security == Security::Hardened).then_some(cfg.name.as_str()),
        keep,
        seccomp: filter.as_ref(),
    };
    // The hooks have run and PID 1 gets its netns as an fd: the netns
    // files of the other subhosts need not be copied into its namespace.
    netns::detach_dir();
    // Why: PID 1 is born in the v1 cgroups too (see cgroups::visit).
    let visit = cgroups::visit(&cgroups::layout()?, v1)?;
    let spawned = spawn::spawn(&plan);
    visit.leave()?;
    let (pid, pidfd) = spawned?;
    spawn::check_oom_score(pid);
    Ok(Child {
        pid,
        pidfd,
        ready: File::from(ready_r),
        output: File::from(out_r),
    })
}

/// SECURITY=hardened's seccomp filter, built before the clone (PID 1 only
/// installs it); the same for overlay-go's command.
pub fn seccomp_filter(security: Security) -> Result<Option<Filter>> {
    match security {
        Security::Hardened => Filter::hardened()
            .op("seccomp filter of SECURITY=hardened")
            .map(Some),
        Security::Admin => Ok(None),
    }
}

/// The subinit's command line (docs/subinit-contract.md).
pub fn subinit_argv(cfg: &Config, ready_fd: i32, init_fd: Option<i32>) -> Vec<CString> {
    let mut a: Vec<String> = vec!["subinit".into(), "--name".into(), cfg.name.clone()];
    match init_fd {
        Some(fd) => a.extend(["--init-fd".into(), fd.to_string()]),
        None => {
            for s in &cfg.start {
                a.extend(["--start".into(), s.clone()]);
            }
        }
    }
    let services = cfg
        .services
        .as_ref()
        .map_or("none".into(), |p| p.to_string_lossy().into_owned());
    a.extend(["--services".into(), services]);
    a.extend([
        "--stop-timeout".into(),
        cfg.stop_timeout.as_secs().to_string(),
    ]);
    a.extend(["--ready-fd".into(), ready_fd.to_string()]);
    if cfg.security == Security::Hardened {
        let removed = cfg.security.dropped_keeping(cfg.keep_caps).names();
        a.extend(["--removed-caps".into(), removed]);
    }
    a.into_iter().filter_map(|s| CString::new(s).ok()).collect()
}

/// The subinit's environment: only SUBINIT_LOG, when set.
fn subinit_env() -> Vec<CString> {
    std::env::var("SUBINIT_LOG")
        .ok()
        .and_then(|v| CString::new(format!("SUBINIT_LOG={v}")).ok())
        .into_iter()
        .collect()
}

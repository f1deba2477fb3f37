//! PREMOUNT, POSTMOUNT and INIT: the built-in PREMOUNT, and configured
//! commands (env CONFIG=conf path, run in BASE, output to LOG).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;
use nix::unistd::Whence;

use crate::error::{At, Error, Op, Result};
use crate::kernel::contain::{self, Waited};
use crate::kernel::inroot::Root;
use crate::model::config::{Cable, Config};
use crate::subhost::interrupt::Interrupt;

/// The built-in PREMOUNT: writes UPPER/etc/network/interfaces (lo, and
/// one manual `ethN` per veth cable) unless something of that name exists.
pub fn builtin_premount(cfg: &Config) -> Result<()> {
    let upper = Root::open(&cfg.upper)?;
    let rel = Path::new("etc/network/interfaces");
    let text = interfaces(&cfg.cables);
    // Whole or not at all: a full UPPER must not leave an empty file that
    // the next boot would keep.
    match upper.write_new_file(rel, Mode::from_bits_truncate(0o644), text.as_bytes()) {
        Ok(true) => log::info!("wrote {}", upper.show(rel).display()),
        Ok(false) => {}
        // A symlink in UPPER leads where no directory is (inside the
        // subhost): nothing sensible to write, and nothing to follow out.
        Err(Error::Sys {
            errno: Errno::ENOENT | Errno::ENOTDIR | Errno::ELOOP,
            ..
        }) => {
            log::warn!(
                "{}: no directory to write it in; left alone",
                upper.show(rel).display()
            );
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The text of a fresh /etc/network/interfaces.
pub fn interfaces(cables: &[Cable]) -> String {
    let mut text = String::from("auto lo\niface lo inet loopback\n");
    for cable in cables {
        if let Cable::Veth { index, .. } = cable {
            text.push_str(&format!(
                "\nauto eth{index}\niface eth{index} inet manual\n"
            ));
        }
    }
    text
}

/// Runs a configured PREMOUNT or POSTMOUNT command with `args`; its output
/// goes to LOG.
pub fn run(
    which: &'static str,
    argv: &[String],
    args: &[&Path],
    cfg: &Config,
    log: &File,
    stop: &Interrupt,
) -> Result<()> {
    let mut cmd = command(which, argv, cfg)?;
    let out = log.try_clone().at("dup", &cfg.log)?;
    let err = log.try_clone().at("dup", &cfg.log)?;
    cmd.args(args);
    run_to_end(which, argv, &mut cmd, (out, err), stop)
}

/// Spawns `cmd` (the hook `argv`) with its output on `out` and `err`, in a
/// process group of its own, and waits for it at most `contain::timeout()`
/// (a stop during the boot interrupts it). However it ends, its process
/// group is killed; it fails unless the command exited 0.
fn run_to_end(
    which: &'static str,
    argv: &[String],
    cmd: &mut std::process::Command,
    (out, err): (File, File),
    stop: &Interrupt,
) -> Result<()> {
    cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
    let mut child = contain::spawn(cmd).at("run", &argv[0])?;
    let limit = contain::timeout();
    let waited = contain::wait(&mut child, limit, None, stop.fd());
    contain::finish(&mut child, &waited);
    let command = argv.join(" ");
    match waited.at("wait", &argv[0])? {
        Waited::Exited(status) if status.success() => Ok(()),
        Waited::Exited(status) => Err(Error::Hook {
            which,
            command,
            status,
        }),
        Waited::Stopped => Err(Error::Stopped),
        Waited::TimedOut | Waited::LineTooLong => Err(Error::HookTimedOut {
            which,
            command,
            secs: limit.as_secs(),
        }),
    }
}

/// The longest init script INIT may print.
const INIT_MAX: i64 = 1 << 20;

/// Runs the configured INIT command and returns its output (the init
/// script, at most INIT_MAX bytes) in a memory file for the subinit's --init-fd.
pub fn init_script(argv: &[String], cfg: &Config, log: &File, stop: &Interrupt) -> Result<OwnedFd> {
    let mut cmd = command("INIT", argv, cfg)?;
    let err = log.try_clone().at("dup", &cfg.log)?;
    // The command writes straight into it. A memfd has no path on the host,
    // unlike a pipe the subinit would have to drain. Sized INIT_MAX and
    // sealed against growth: a longer output fails the write (and INIT),
    // never the host's memory. The shared offset is the length written.
    let flags = MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING;
    let fd = memfd_create("overlay-boot-init", flags).op("memfd_create")?;
    nix::unistd::ftruncate(&fd, INIT_MAX).op("ftruncate init script")?;
    let seal = FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_GROW);
    nix::fcntl::fcntl(&fd, seal).op("seal init script")?;
    let file = File::from(fd);
    let out = file.try_clone().at("dup", "memfd:overlay-boot-init")?;
    run_to_end("INIT", argv, &mut cmd, (out, err), stop)?;
    let len = nix::unistd::lseek(&file, 0, Whence::SeekCur).op("lseek init script")?;
    nix::unistd::ftruncate(&file, len).op("ftruncate init script")?;
    nix::unistd::lseek(&file, 0, Whence::SeekSet).op("lseek init script")?;
    Ok(OwnedFd::from(file))
}

/// The program and its arguments; an empty hook is its own error, not a
/// matter of trust.
fn split<'a>(which: &'static str, argv: &'a [String]) -> Result<(&'a String, &'a [String])> {
    argv.split_first().ok_or(Error::EmptyHook { which })
}

fn command(which: &'static str, argv: &[String], cfg: &Config) -> Result<Command> {
    let (prog, rest) = split(which, argv)?;
    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .env("CONFIG", &cfg.path)
        .current_dir(&cfg.base)
        .stdin(Stdio::null());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_hook_is_its_own_configuration_error() {
        let err = split("POSTMOUNT", &[]).expect_err("empty");
        assert!(
            matches!(err, Error::EmptyHook { which: "POSTMOUNT" }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "POSTMOUNT: the command names no program");
        assert_eq!(err.exit_code(), 2);
        let argv = vec!["/bin/true".to_string(), "-x".to_string()];
        let (prog, rest) = split("PREMOUNT", &argv).expect("split");
        assert_eq!((prog.as_str(), rest), ("/bin/true", &argv[1..]));
    }

    #[test]
    fn interfaces_lists_lo_and_veths_only() {
        let cables = vec![
            Cable::Veth {
                index: 0,
                bridge: None,
                mac: None,
            },
            Cable::Vlan {
                index: 0,
                tag: 5,
                bridge: None,
            },
            Cable::Veth {
                index: 1,
                bridge: Some("br0".into()),
                mac: None,
            },
        ];
        assert_eq!(
            interfaces(&cables),
            "auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet manual\n\
             \nauto eth1\niface eth1 inet manual\n"
        );
    }
}

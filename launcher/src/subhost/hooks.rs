//! PREMOUNT, POSTMOUNT and INIT: the built-in PREMOUNT, and configured
//! commands (env CONFIG=conf path, run in BASE, output to LOG).

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};

use nix::errno::Errno;
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::Mode;

use crate::error::{At, Error, Op, Result};
use crate::kernel::inroot::Root;
use crate::model::config::{Cable, Config};
use crate::subhost::interrupt::Interrupt;

/// The built-in PREMOUNT: writes UPPER/etc/network/interfaces (lo, and
/// one manual `ethN` per veth cable) unless something of that name exists.
pub fn builtin_premount(cfg: &Config) -> Result<()> {
    let upper = Root::open(&cfg.upper)?;
    let rel = Path::new("etc/network/interfaces");
    let fd = match upper.create_file(rel, Mode::from_bits_truncate(0o644)) {
        Ok(Some(fd)) => fd,
        Ok(None) => return Ok(()),
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
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    File::from(fd)
        .write_all(interfaces(&cfg.cables).as_bytes())
        .at("write", upper.show(rel))?;
    log::info!("wrote {}", upper.show(rel).display());
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

/// Spawns `cmd` (the hook `argv`) with its output on `out` and `err`, waits
/// for it (a stop during the boot interrupts it), and fails unless it
/// exited 0.
fn run_to_end(
    which: &'static str,
    argv: &[String],
    cmd: &mut std::process::Command,
    (out, err): (File, File),
    stop: &Interrupt,
) -> Result<()> {
    let mut child = cmd
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .at("run", &argv[0])?;
    let status = stop.wait_child(&mut child)?;
    if !status.success() {
        return Err(Error::Hook {
            which,
            command: argv.join(" "),
            status,
        });
    }
    Ok(())
}

/// Runs the configured INIT command and returns its output (the init
/// script) in a sealed-off memory file for the subinit's --init-fd.
pub fn init_script(argv: &[String], cfg: &Config, log: &File, stop: &Interrupt) -> Result<OwnedFd> {
    let mut cmd = command("INIT", argv, cfg)?;
    let err = log.try_clone().at("dup", &cfg.log)?;
    // The command writes straight into it. A memfd has no path on the host
    // and no size limit, unlike a pipe the subinit would have to drain.
    let fd = memfd_create("overlay-boot-init", MFdFlags::MFD_CLOEXEC).op("memfd_create")?;
    let file = File::from(fd);
    let out = file.try_clone().at("dup", "memfd:overlay-boot-init")?;
    run_to_end("INIT", argv, &mut cmd, (out, err), stop)?;
    nix::unistd::lseek(&file, 0, nix::unistd::Whence::SeekSet).op("lseek init script")?;
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

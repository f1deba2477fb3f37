//! The host's ifupdown, for the host end of a cable without a bridge: the
//! end is handed to `ifup NAMEn` when the host has ifupdown and its
//! interfaces(5) configuration (with the files it sources) names NAMEn;
//! else the caller just puts it up. Teardown runs `ifdown` on what `ifup`
//! brought up, so the next boot's `ifup` is not "already configured".
//!
//! ifup and ifdown are run as processes: they are the host's own
//! configuration tools. Their failure is logged, never fatal.

use std::collections::HashSet;
use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::model::ifupdown::{has_wildcard, run_parts_name, scan, wild_match, Include};
use crate::subhost::interrupt::Interrupt;

/// Where Debian's ifupdown lives (a link into /usr/sbin on merged-/usr).
pub const IFUP: &str = "/sbin/ifup";
pub const IFDOWN: &str = "/sbin/ifdown";
pub const INTERFACES: &str = "/etc/network/interfaces";

/// How deep `source` / `source-directory` are followed (ifupdown itself has
/// no limit; a loop must not hang the boot).
const MAX_DEPTH: usize = 8;

/// What the host's ifupdown knows: its ifup, and every word of its
/// configuration (interface names among them).
pub struct Ifupdown {
    ifup: Option<PathBuf>,
    words: HashSet<String>,
}

impl Ifupdown {
    /// Looks at the host: `ifup` must be an executable file; the
    /// configuration is read only then.
    pub fn probe(ifup: &Path, interfaces: &Path) -> Ifupdown {
        let ifup = is_executable(ifup).then(|| ifup.to_path_buf());
        let mut words = HashSet::new();
        if ifup.is_some() {
            read_config(interfaces, 0, &mut words);
        }
        Ifupdown { ifup, words }
    }

    /// The host's own ifupdown.
    pub fn host() -> Ifupdown {
        Ifupdown::probe(Path::new(IFUP), Path::new(INTERFACES))
    }

    /// Whether `ifup ifname` should configure this interface.
    pub fn configures(&self, ifname: &str) -> bool {
        self.ifup.is_some() && self.words.contains(ifname)
    }

    /// Runs `ifup ifname`, output to `log`; true when it succeeded.
    pub fn up(&self, ifname: &str, log: &File, stop: &Interrupt) -> bool {
        match &self.ifup {
            Some(ifup) => run(ifup, ifname, log, stop),
            None => false,
        }
    }
}

/// Runs `ifdown ifname` (teardown of what `ifup` brought up).
pub fn down(ifname: &str, log: &File) {
    let ifdown = Path::new(IFDOWN);
    if is_executable(ifdown) {
        run(ifdown, ifname, log, &Interrupt::none());
    }
}

/// Runs `prog ifname` with stdin from /dev/null and its output in `log`;
/// a failure is logged and reported as false. A stop signal to
/// the monitor (through `stop`) ends it (`Interrupt::wait_child`).
fn run(prog: &Path, ifname: &str, log: &File, stop: &Interrupt) -> bool {
    let mut cmd = Command::new(prog);
    cmd.arg(ifname).stdin(Stdio::null());
    if let (Ok(out), Ok(err)) = (log.try_clone(), log.try_clone()) {
        cmd.stdout(Stdio::from(out)).stderr(Stdio::from(err));
    }
    let status = match cmd.spawn() {
        Ok(mut child) => stop.wait_child(&mut child).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match status {
        Ok(status) if status.success() => {
            log::info!("{} {ifname}: done", prog.display());
            true
        }
        Ok(status) => {
            log::warn!("{} {ifname} failed: {status}", prog.display());
            false
        }
        Err(e) => {
            log::warn!("{} {ifname}: {e}", prog.display());
            false
        }
    }
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Adds the words of the configuration file `path` to `words`, following
/// its `source` and `source-directory` lines. An unreadable file adds
/// nothing (ifup would not know the interface either).
fn read_config(path: &Path, depth: usize, words: &mut HashSet<String>) {
    if depth > MAX_DEPTH {
        log::warn!("{}: sourced too deep; not read", path.display());
        return;
    }
    let Ok(text) = fs::read_to_string(path) else {
        return;
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    for include in scan(&text, words) {
        for file in files(&include, dir) {
            read_config(&file, depth + 1, words);
        }
    }
}

/// The files an include line names, sorted; a relative path is relative
/// to `dir`, the directory of the file holding the line (interfaces(5)).
fn files(include: &Include, dir: &Path) -> Vec<PathBuf> {
    let (base, pattern) = match include {
        Include::Directory(d) => (d.as_str(), None),
        Include::Source(p) if !has_wildcard(p) => return vec![dir.join(p)],
        Include::Source(p) => match p.rsplit_once('/') {
            Some(("", pat)) => ("/", Some(pat)),
            Some((d, pat)) if !has_wildcard(d) => (d, Some(pat)),
            Some(_) => {
                log::warn!("source {p}: wildcards in a directory are not followed");
                return Vec::new();
            }
            None => (".", Some(p.as_str())),
        },
    };
    let base = dir.join(base);
    let mut files: Vec<PathBuf> = fs::read_dir(&base)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| match pattern {
            Some(pat) => wild_match(pat, n),
            None => run_parts_name(n),
        })
        .map(|n| base.join(n))
        .collect();
    files.sort();
    files
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A scratch directory for one test, removed at the end.
    struct Tmp(PathBuf);

    impl Tmp {
        fn new(tag: &str) -> Tmp {
            let p = std::env::temp_dir().join(format!("ifupdown-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).expect("mkdir");
            Tmp(p)
        }

        fn write(&self, rel: &str, text: &str, mode: u32) -> PathBuf {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(&p, text).expect("write");
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
            p
        }
    }

    impl Drop for Tmp {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn sourced_files_are_read() {
        let t = Tmp::new("src");
        let ifup = t.write("ifup", "#!/bin/sh\n", 0o755);
        let main = t.write(
            "etc/interfaces",
            "auto lo\nsource interfaces.d/*\nsource-directory dir\nsource /nonexistent\n",
            0o644,
        );
        t.write("etc/interfaces.d/a", "iface mta0 inet manual\n", 0o644);
        t.write("etc/interfaces.d/.b", "iface hid0 inet manual\n", 0o644);
        t.write("etc/dir/c", "allow-hotplug web1\n", 0o644);
        t.write("etc/dir/d.cfg", "iface skip0 inet manual\n", 0o644);
        let i = Ifupdown::probe(&ifup, &main);
        assert!(i.configures("mta0"));
        assert!(i.configures("web1"));
        assert!(!i.configures("hid0"), "dot file sourced by *");
        assert!(!i.configures("skip0"), "source-directory took d.cfg");
        assert!(!i.configures("mta1"));
    }

    #[test]
    fn no_ifup_no_ifupdown() {
        let t = Tmp::new("none");
        let main = t.write("interfaces", "iface mta0 inet manual\n", 0o644);
        let not_exec = t.write("ifup", "#!/bin/sh\n", 0o644);
        assert!(!Ifupdown::probe(&t.0.join("absent"), &main).configures("mta0"));
        assert!(!Ifupdown::probe(&not_exec, &main).configures("mta0"));
    }

    #[test]
    fn a_source_loop_ends() {
        let t = Tmp::new("loop");
        let ifup = t.write("ifup", "#!/bin/sh\n", 0o755);
        let main = t.write(
            "interfaces",
            "source interfaces\niface mta0 inet manual\n",
            0o644,
        );
        assert!(Ifupdown::probe(&ifup, &main).configures("mta0"));
    }

    #[test]
    fn ifup_runs_with_the_name_and_its_failure_is_reported() {
        // Programs of the host, not scripts written here: a test thread
        // forking meanwhile would make a fresh script ETXTBSY for a moment.
        let t = Tmp::new("run");
        let main = t.write("interfaces", "iface mta0 inet manual\n", 0o644);
        let log_path = t.0.join("log");
        let log = File::create(&log_path).expect("log");
        assert!(Ifupdown::probe(Path::new("/bin/echo"), &main).up(
            "mta0",
            &log,
            &Interrupt::none()
        ));
        assert!(!Ifupdown::probe(Path::new("/bin/false"), &main).up(
            "mta0",
            &log,
            &Interrupt::none()
        ));
        let mut text = String::new();
        File::open(&log_path)
            .and_then(|mut f| f.read_to_string(&mut text))
            .expect("read log");
        assert_eq!(text, "mta0\n");
    }
}

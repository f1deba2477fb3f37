//! Package maintenance inside a subhost (issue 11, item 13): over a real
//! debootstrapped Debian 12 minbase root as LOWER, invoke-rc.d acts on the
//! subhost's START services in a running subhost, refuses to start the
//! others, and is blocked in a session; the launcher's policy-rc.d is a
//! layer of its own, never a file in UPPER.
//!
//! The root is made once per run (debootstrap against the mirror in apt's
//! sources, about a minute) in the test's scratch directory, which goes
//! with the test; all phases run on it in order.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e::debootstrap::minbase;
use e2e::subhost::{run_captured, Subhost};
use e2e::{require_root, wait_for};

const SESSION: Duration = Duration::from_secs(120);
const STEP: Duration = Duration::from_secs(20);

/// The fake daemon's init script: `start` runs a detached `sleep` whose
/// pid goes to /run/ID.pid; `restart` stops and starts it.
const INIT_SCRIPT: &str = r#"#!/bin/sh
# A fake daemon for overlay-boot's tests.
ID=${0##*/}
PIDF=/run/$ID.pid
case "$1" in
start)
    if [ -f $PIDF ] && kill -0 "$(cat $PIDF)" 2>/dev/null; then exit 0; fi
    rm -f $PIDF
    setsid -f sh -c "echo \$\$ > $PIDF.new && mv $PIDF.new $PIDF && exec sleep 1000000" \
        </dev/null >/dev/null 2>&1
    n=0
    while [ ! -s $PIDF ] && [ $n -lt 2000 ]; do n=$((n+1)); sleep 0.01; done ;;
stop)
    if [ -f $PIDF ]; then kill "$(cat $PIDF)" 2>/dev/null; rm -f $PIDF; fi ;;
restart|force-reload) "$0" stop; "$0" start ;;
status) [ -f $PIDF ] && kill -0 "$(cat $PIDF)" ;;
*) echo "usage: $0 start|stop|restart" >&2; exit 3 ;;
esac
"#;

/// The package's postinst restarts both services, as a daemon's does.
const POSTINST: &str = "#!/bin/sh\nset -e\n\
    if [ \"$1\" = configure ]; then\n\
    invoke-rc.d obtd restart\n\
    invoke-rc.d obtx restart\n\
    fi\n";

/// Builds the package with dpkg-deb into `deb`: init scripts obtd and
/// obtx, and the postinst above.
fn build_package(dir: &Path, deb: &Path) {
    let exe = |p: &Path, text: &str| {
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, text).expect("write");
        fs::set_permissions(p, fs::Permissions::from_mode(0o755)).expect("chmod");
    };
    exe(&dir.join("etc/init.d/obtd"), INIT_SCRIPT);
    exe(&dir.join("etc/init.d/obtx"), INIT_SCRIPT);
    exe(&dir.join("DEBIAN/postinst"), POSTINST);
    fs::write(
        dir.join("DEBIAN/control"),
        "Package: obtd\nVersion: 1.0\nArchitecture: all\n\
         Maintainer: overlay-boot tests <root@localhost>\n\
         Description: fake daemons for overlay-boot's tests\n",
    )
    .expect("write control");
    let out = run_captured(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-b"])
            .arg(dir)
            .arg(deb),
        "dpkg-deb -b".into(),
        dir.parent().expect("parent"),
        STEP,
    );
    assert!(out.ok(), "{out}");
}

/// The pid in /run/ID.pid inside, once there.
fn daemon_pid(sh: &Subhost, id: &str) -> String {
    let mut pid = String::new();
    let found = wait_for(STEP, || {
        pid = sh.sh(&format!("cat /run/{id}.pid 2>/dev/null || true"));
        !pid.trim().is_empty()
    });
    assert!(
        found,
        "{id} never wrote its pid file\nlog:\n{}",
        sh.log_text()
    );
    pid.trim().to_string()
}

fn alive(sh: &Subhost, pid: &str) -> bool {
    sh.go(&["sh", "-c", &format!("kill -0 {pid}")]).ok()
}

#[test]
fn package_upgrades_in_a_minbase_subhost_restart_start_services_only() {
    require_root!();
    let mut sh = Subhost::new("pkg").line("LOWER=lower").line("START=obtd");
    let Some(lower) = minbase(
        &sh.base.join("lower"),
        &sh.scratch.path,
        &[],
        "package_policy",
    ) else {
        return;
    };
    sh.lower = Some(lower);
    let deb = sh.upper.join("tmp/obtd.deb");
    fs::create_dir_all(deb.parent().expect("parent")).expect("mkdir UPPER/tmp");
    build_package(&sh.scratch.join("pkg"), &deb);
    let in_upper = sh.upper.join("usr/sbin/policy-rc.d");

    // A session installs the package: its postinst is refused, nothing runs.
    let out = sh.session_sh(
        "dpkg -i /tmp/obtd.deb; echo dpkg=$?; ls /run/obtd.pid; exit 0",
        SESSION,
    );
    assert_eq!(out.code, 0, "{out}");
    assert!(out.out.contains("dpkg=0"), "{out}");
    assert!(
        out.out.contains("policy-rc.d denied execution of restart"),
        "{out}"
    );
    assert!(
        out.out.contains("No such file"),
        "obtd ran in the session: {out}"
    );
    assert!(in_upper.symlink_metadata().is_err(), "policy-rc.d in UPPER");
    assert!(sh.wait_gone(STEP), "left: {:?}", sh.leftovers());

    // The running subhost: START starts obtd; invoke-rc.d restarts it.
    sh.boot_ok();
    let first = daemon_pid(&sh, "obtd");
    assert!(alive(&sh, &first));
    let out = sh.go(&["invoke-rc.d", "obtd", "restart"]);
    assert!(out.ok(), "{out}");
    let second = daemon_pid(&sh, "obtd");
    assert_ne!(first, second, "obtd was not restarted: {out}");
    assert!(alive(&sh, &second) && !alive(&sh, &first));

    // A package upgrade (dpkg -i again) restarts it too; obtx, not in
    // START, is not started, as on a host where it is not enabled.
    let out = sh.go(&["dpkg", "-i", "/tmp/obtd.deb"]);
    assert!(out.ok(), "{out}");
    let third = daemon_pid(&sh, "obtd");
    assert_ne!(second, third, "the upgrade did not restart obtd: {out}");
    assert!(alive(&sh, &third) && !alive(&sh, &second));
    assert!(
        out.err.contains("policy-rc.d denied execution of restart"),
        "{out}"
    );
    let none = sh.sh("ls /run/obtx.pid 2>&1 || true");
    assert!(none.contains("No such file"), "obtx was started: {none}");
    // Stopping is allowed for any service.
    let out = sh.go(&["invoke-rc.d", "obtx", "stop"]);
    assert!(out.ok() && !out.err.contains("denied"), "{out}");

    // An administrator's own policy-rc.d (in UPPER) wins.
    sh.sh(
        "printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d",
    );
    let out = sh.go(&["invoke-rc.d", "obtd", "restart"]);
    assert!(out.err.contains("denied"), "{out}");
    assert_eq!(daemon_pid(&sh, "obtd"), third);
    // The launcher's layer is no path in the mount options inside.
    let info = sh.sh("grep ' / / ' /proc/self/mountinfo");
    assert!(info.contains("lowerdir=/proc/self/fd/"), "{info}");
    assert!(!info.contains("/run/overlay-boot"), "{info}");
    sh.stop_ok();
    assert_eq!(
        fs::read_to_string(&in_upper).ok().as_deref(),
        Some("#!/bin/sh\nexit 101\n")
    );
}

/// Over the host's root as LOWER the layer lies on no directory of LOWER
/// (the kernel refuses overlapping layers): the boot works, and a
/// policy-rc.d of LOWER's own (the host's, when it has one) hides the
/// launcher's.
#[test]
fn policy_layer_over_the_host_root_yields_to_lowers_own() {
    require_root!();
    let mut sh = Subhost::new("pol").line("START=none");
    sh.boot_ok();
    let inside = sh.sh("cat /usr/sbin/policy-rc.d");
    match fs::read_to_string("/usr/sbin/policy-rc.d") {
        Ok(host) => assert_eq!(inside, host, "LOWER's own policy-rc.d is hidden"),
        Err(_) => assert!(inside.contains("running subhost"), "{inside}"),
    }
    let info = sh.sh("grep ' / / ' /proc/self/mountinfo");
    assert_eq!(info.matches("/proc/self/fd/").count(), 4, "{info}");
    sh.stop_ok();
    assert!(
        sh.upper
            .join("usr/sbin/policy-rc.d")
            .symlink_metadata()
            .is_err(),
        "policy-rc.d in UPPER"
    );
}

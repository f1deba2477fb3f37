//! Configured PREMOUNT, POSTMOUNT and INIT commands (compat): CONFIG set,
//! their arguments, and INIT's output run inside the subhost by the subinit.

use std::fs;

use e2e::require_root;
use e2e::subhost::Subhost;

/// Writes an executable hook script into the scratch directory (outside
/// BASE, root's and not group- or world-writable, as config trust wants).
fn hook(sh: &Subhost, name: &str, body: &str) -> String {
    let path = sh
        .scratch
        .write(name, &format!("#!/bin/sh\n{body}\n"), 0o755);
    path.display().to_string()
}

#[test]
fn configured_premount_postmount_and_init_run_with_config_and_arguments() {
    require_root!();
    let sh = Subhost::new("hook");
    let record = sh.scratch.join("hooks.txt");
    let r = record.display();
    let pre = hook(
        &sh,
        "premount",
        &format!("echo \"pre CONFIG=$CONFIG args=$*\" >> {r}"),
    );
    let post = hook(&sh, "postmount", &format!("echo \"post CONFIG=$CONFIG args=$*\" >> {r}\nmount -t proc proc \"$1/proc\" 2>/dev/null; mkdir -p \"$1/dev\"; [ -e \"$1/dev/null\" ] || mknod -m 666 \"$1/dev/null\" c 1 3\nexit 0"));
    // INIT prints the script the subinit runs inside, in place of START.
    let init = hook(&sh, "init", "echo 'echo init-ran > /root/init-ran'");
    let mut sh = sh
        .line(&format!("PREMOUNT={pre}"))
        .line(&format!("POSTMOUNT={post}"))
        .line(&format!("INIT={init}"));
    sh.boot_ok();
    let lines = fs::read_to_string(&record).expect("hooks ran");
    let conf = sh.conf.display().to_string();
    let (upper, live) = (
        sh.upper.display().to_string(),
        sh.live.display().to_string(),
    );
    assert!(
        lines.contains(&format!("pre CONFIG={conf} args={upper}")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("post CONFIG={conf} args={live} {upper}")),
        "{lines}"
    );
    assert_eq!(
        fs::read_to_string(sh.upper.join("root/init-ran"))
            .expect("INIT's script ran inside")
            .trim(),
        "init-ran"
    );
    sh.stop_ok();
}

/// Issue 11 item 10: a POSTMOUNT that leaves the subhost's /dev without
/// `null`. The START script and a supervised service still start (their
/// stdin is a pipe with no writer, which reads as EOF like /dev/null), and
/// nothing is reported as "cannot execute".
#[test]
fn start_and_services_run_when_dev_has_no_null() {
    require_root!();
    let sh = Subhost::new("nonl");
    // No redirection to /dev/null anywhere: it would create a plain file.
    let post = hook(
        &sh,
        "postmount",
        "mkdir -p \"$1/dev\"; rm -f \"$1/dev/null\"; exit 0",
    );
    sh.write_upper(
        "svc.sh",
        "#!/bin/sh\n[ \"$1\" = start ] || exit 0\ncat\n\
         if [ -e /dev/null ]; then echo has-null; else echo no-null; fi > /root/svc-ran\n",
        0o755,
    );
    sh.write_upper(
        "etc/overlay-boot/services.d/tick/run",
        "#!/bin/sh\necho ran > /root/tick-ran\nexec sleep 1000\n",
        0o755,
    );
    let mut sh = sh.line(&format!("POSTMOUNT={post}")).line("START=/svc.sh");
    sh.boot_ok();
    let svc = fs::read_to_string(sh.upper.join("root/svc-ran"));
    assert_eq!(
        svc.as_deref().map(str::trim).ok(),
        Some("no-null"),
        "START script did not run without /dev/null:\n{}",
        sh.log_text()
    );
    assert!(
        e2e::wait_for(std::time::Duration::from_secs(10), || sh
            .upper
            .join("root/tick-ran")
            .exists()),
        "the supervised service did not start:\n{}",
        sh.log_text()
    );
    let log = sh.log_text();
    assert!(!log.contains("cannot execute"), "{log}");
    sh.stop_ok();
}

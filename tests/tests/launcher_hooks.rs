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

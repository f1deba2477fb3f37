//! `overlay-diskfile MNT [IMAGE [PART]]`, as root, against the real binary:
//! disk images made by the test (truncate, sfdisk with an MBR or a GPT,
//! mkfs.ext4 -d at the partition's offset filled from the busybox fixture)
//! mounted through a loop device; a subhost booted with
//! `LOWER=!…/overlay-diskfile img/root disk.img 1`; after stop (or a
//! refused boot) no mount and no loop device of the image remain.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::subhost::{host_mounts, Outcome, Subhost, GO};
use e2e::{bin, require_root, rootfs, run, wait_for, Scratch};
use nix::sys::signal::{kill, Signal};

/// How long a loop device may take to detach after its last mount went.
const DETACH: Duration = Duration::from_secs(10);

/// `dir/overlay-diskfile`, a link to the launcher (argv[0] picks the tool).
fn tool_link(dir: &Path) -> PathBuf {
    let link = dir.join("overlay-diskfile");
    if link.symlink_metadata().is_err() {
        symlink(bin("overlay-boot"), &link).expect("link overlay-diskfile");
    }
    link
}

/// Start and size, in sectors, of the image's first partition.
fn partition_one(image: &Path) -> (u64, u64) {
    let (code, out, err) = run("sfdisk", &["-d", image.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "sfdisk -d: {err}");
    let line = out
        .lines()
        .find(|l| l.contains("start="))
        .unwrap_or_else(|| panic!("no partition in sfdisk -d output:\n{out}"));
    let field = |name: &str| -> u64 {
        let rest = &line[line.find(name).expect("field") + name.len()..];
        rest.split(',')
            .next()
            .expect("value")
            .trim()
            .parse()
            .expect("number")
    };
    (field("start="), field("size="))
}

/// A 64 MiB image at `image` with a `label` (dos or gpt) table holding one
/// Linux partition, an ext4 filesystem in it holding `tree`'s files.
fn partitioned_image(image: &Path, label: &str, tree: &Path) {
    let f = fs::File::create(image).expect("create image");
    f.set_len(64 << 20).expect("size image");
    drop(f);
    let mut child = Command::new("sfdisk")
        .args(["-q", image.to_str().expect("utf-8")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run sfdisk");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        write!(stdin, "label: {label}\n,,L\n").expect("write sfdisk script");
    }
    assert!(child.wait().expect("sfdisk").success(), "sfdisk failed");
    let (start, size) = partition_one(image);
    let offset = format!("offset={}", start * 512);
    let blocks = format!("{}k", size / 2);
    let out = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(tree)
        .args(["-E", &offset])
        .arg(image)
        .arg(&blocks)
        .output()
        .expect("run mkfs.ext4");
    assert!(
        out.status.success(),
        "mkfs.ext4: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The loop devices backed by `image` (`losetup -j`).
fn loops_of(image: &Path) -> String {
    run("losetup", &["-j", image.to_str().expect("utf-8")]).1
}

/// Host mounts on `point`.
fn mounted_on(point: &Path) -> Vec<e2e::subhost::MountEntry> {
    host_mounts()
        .into_iter()
        .filter(|m| m.point == point)
        .collect()
}

fn assert_released(image: &Path, point: &Path) {
    assert!(
        mounted_on(point).is_empty(),
        "{} still mounted",
        point.display()
    );
    assert!(
        wait_for(DETACH, || loops_of(image).is_empty()),
        "loop device of {} still attached: {}",
        image.display(),
        loops_of(image)
    );
}

/// A busybox subhost whose LOWER is `img/root` of partition 1 of a `label`
/// disk image, mounted by overlay-diskfile at config load.
fn subhost_on_image(tag: &str, label: &str) -> (Subhost, PathBuf, PathBuf) {
    let sh = Subhost::new(tag);
    let tree = sh.scratch.join("tree");
    rootfs::busybox(&tree.join("root"));
    fs::create_dir_all(tree.join("work")).expect("work directory in the image");
    fs::write(tree.join("root/etc/obt-image"), format!("{label} image\n")).expect("marker");
    let image = sh.base.join("disk.img");
    partitioned_image(&image, label, &tree);
    let img = sh.base.join("img");
    fs::create_dir(&img).expect("mount point");
    let tool = tool_link(&sh.scratch.path);
    let sh = sh
        .line(&format!("LOWER=!{} img/root disk.img 1", tool.display()))
        .line("START=none");
    (sh, image, img)
}

fn boots_from_a_partition(tag: &str, label: &str) {
    let (mut sh, image, img) = subhost_on_image(tag, label);
    sh.boot_ok();
    let m = mounted_on(&img);
    assert_eq!(m.len(), 1, "image not mounted once on {}", img.display());
    assert_eq!(m[0].fstype, "ext4");
    assert!(
        m[0].source.starts_with("/dev/loop"),
        "not a loop device: {m:?}"
    );
    assert!(
        loops_of(&image).contains("offset 1048576"),
        "loop device not at the partition's offset: {}",
        loops_of(&image)
    );
    assert_eq!(
        sh.go_ok(&["cat", "/etc/obt-image"]),
        format!("{label} image\n")
    );
    assert!(sh.go(&["test", "-x", "/bin/busybox"]).ok());
    // LOWER is the image's img/root: read-only underneath, writes in UPPER.
    sh.sh("echo upper > /root/w");
    assert!(sh.upper.join("root/w").exists());
    assert!(!img.join("root/root/w").exists());
    sh.stop_ok();
    assert_released(&image, &img);
}

#[test]
fn lower_from_an_mbr_partition_boots_and_is_released_at_stop() {
    require_root!();
    boots_from_a_partition("dfm", "dos");
}

#[test]
fn lower_from_a_gpt_partition_boots_and_is_released_at_stop() {
    require_root!();
    boots_from_a_partition("dfg", "gpt");
}

/// A configuration refused after overlay-diskfile mounted its image (here a
/// bad RAM_SIZE, checked after LOWER) leaves no mount and no loop device.
#[test]
fn a_refused_boot_releases_the_image() {
    require_root!();
    let (mut sh, image, img) = subhost_on_image("dfr", "gpt");
    let conf = fs::read_to_string(&sh.conf).expect("conf");
    sh.set_conf(&format!("{conf}RAM_SIZE=lots\n"));
    let out = sh.boot();
    assert_eq!(out.code, 2, "{out}");
    assert!(out.err.contains("RAM_SIZE"), "{out}");
    assert_released(&image, &img);
    sh.assert_gone();
}

/// A boot that fails in the monitor (after the image was mounted and
/// recorded) releases it too: here a PREMOUNT that fails. (UPPER and WORK
/// on different filesystems, used here before, is now refused with the
/// configuration, issue 11 item 8.)
#[test]
fn a_boot_failing_later_releases_the_image() {
    require_root!();
    let (mut sh, image, img) = subhost_on_image("dff", "dos");
    let conf = fs::read_to_string(&sh.conf).expect("conf");
    sh.set_conf(&format!("{conf}PREMOUNT=/bin/false\n"));
    let out = sh.boot();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains("PREMOUNT"), "{out}");
    assert_released(&image, &img);
    sh.assert_gone();
}

/// A mount point already mounted (by the admin, or by an earlier run) is
/// used as it is and is not released at stop: it is not the boot's.
#[test]
fn an_already_mounted_image_is_reused_and_kept() {
    require_root!();
    let (mut sh, image, img) = subhost_on_image("dfk", "gpt");
    let tool = tool_link(&sh.scratch.path);
    let pre = diskfile(&tool, &sh.base, &["img/root", "disk.img", "1"]);
    assert!(pre.ok() && pre.out == "img/root\n", "{pre}");
    sh.adopt_host_mount(img.clone());
    sh.boot_ok();
    assert_eq!(mounted_on(&img).len(), 1, "mounted a second time");
    assert_eq!(sh.go_ok(&["cat", "/etc/obt-image"]), "gpt image\n");
    sh.stop_ok();
    assert_eq!(mounted_on(&img).len(), 1, "the admin's mount was released");
    nix::mount::umount2(&img, nix::mount::MntFlags::MNT_DETACH).expect("umount");
    assert_released(&image, &img);
}

/// The monitor killed with SIGKILL: a second boot takes over the first's
/// record (the image stays mounted and in use), and its stop releases it;
/// then again, a stop without a boot releases it too.
#[test]
fn kill_9_of_the_monitor_then_boot_again_and_stop_release_the_image() {
    require_root!();
    let (mut sh, image, img) = subhost_on_image("dfx", "dos");
    for boot_again in [true, false] {
        sh.boot_ok();
        let monitor = sh.monitor();
        kill(monitor.pid, Signal::SIGKILL).expect("kill -9 the monitor");
        assert!(
            wait_for(Duration::from_secs(10), || !monitor.alive()),
            "monitor survived kill -9"
        );
        assert_eq!(mounted_on(&img).len(), 1, "image released too early");
        if boot_again {
            sh.boot_ok();
            assert_eq!(mounted_on(&img).len(), 1, "mounted a second time");
            assert_eq!(sh.go_ok(&["cat", "/etc/obt-image"]), "dos image\n");
        }
        let out = sh.stop();
        assert!(out.ok(), "{out}");
        sh.assert_gone();
        assert_released(&image, &img);
    }
}

/// Runs overlay-diskfile in `cwd` with `args`.
fn diskfile(tool: &Path, cwd: &Path, args: &[&str]) -> Outcome {
    let mut cmd = Command::new(tool);
    cmd.args(args).current_dir(cwd);
    e2e::subhost::run_captured(
        &mut cmd,
        format!("overlay-diskfile {}", args.join(" ")),
        cwd,
        GO,
    )
}

/// The tool on its own: a whole-image filesystem (`MNT/`), a missing
/// partition, a missing IMAGE, usage errors; each failure attaches nothing.
#[test]
fn the_tool_on_its_own() {
    require_root!();
    let s = Scratch::new("dft");
    let tool = tool_link(&s.path);
    let tree = s.join("tree");
    fs::create_dir_all(tree.join("sub")).expect("tree");
    fs::write(tree.join("sub/file"), "whole\n").expect("file");
    let image = s.join("whole.img");
    let f = fs::File::create(&image).expect("image");
    f.set_len(16 << 20).expect("size");
    drop(f);
    let (code, _, err) = run(
        "mkfs.ext4",
        &[
            "-q",
            "-F",
            "-d",
            tree.to_str().expect("utf-8"),
            image.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code, 0, "mkfs.ext4: {err}");
    let mnt = s.join("m");
    fs::create_dir(&mnt).expect("mount point");

    // Not a partitioned image: PART 1 does not exist.
    let out = diskfile(&tool, &s.path, &["m/sub", "whole.img", "1"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains("no partition table"), "{out}");
    let out = diskfile(&tool, &s.path, &["m/sub"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.err.contains("no IMAGE given"), "{out}");
    assert_released(&image, &mnt);

    for bad in [&["../m", "whole.img"][..], &["m", "whole.img", "0"], &[]] {
        assert_eq!(diskfile(&tool, &s.path, bad).code, 2, "{bad:?}");
    }

    let out = diskfile(&tool, &s.path, &["m/sub", "whole.img"]);
    assert!(out.ok() && out.out == "m/sub\n", "{out}");
    assert_eq!(
        fs::read_to_string(mnt.join("sub/file")).expect("mounted"),
        "whole\n"
    );
    // Again: already mounted, not mounted twice, MNT printed.
    let out = diskfile(&tool, &s.path, &["m/sub", "whole.img"]);
    assert!(out.ok() && out.out == "m/sub\n", "{out}");
    let out = diskfile(&tool, &s.path, &["m/"]);
    assert!(out.ok() && out.out == "m/\n", "{out}");
    assert_eq!(mounted_on(&mnt).len(), 1);
    // The loop device goes with the mount (autoclear).
    nix::mount::umount2(&mnt, nix::mount::MntFlags::MNT_DETACH).expect("umount");
    assert_released(&image, &mnt);
}

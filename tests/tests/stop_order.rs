//! End-to-end test of the stop's order against TCP peers (issue 11, item
//! 11), as root, through the real launcher with a cable: as Debian's rc0
//! runs sendsigs before networking, every process no START entry or
//! service stopped gets SIGTERM before the `networking` START entry's
//! `stop` takes eth0 down, so servers close their connections while the
//! cable still carries the FIN, and the host's clients see them closed.
//!
//! Traffic stays on this machine: a link-local /24 between the host end of
//! the cable and the subhost's eth0.

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use e2e::subhost::Subhost;
use e2e::{require_root, wait_for};

/// A fake `networking` init script: `start` gives eth0 the address ADDR and
/// puts it up; `stop` logs the omitted processes still running, says so in
/// the log and takes eth0 down. HEADER is its LSB header, if any.
const NETWORKING: &str = "#!/bin/sh
HEADER
case \"$1\" in
start) ip addr add ADDR/24 dev eth0 && ip link set eth0 up && echo \"eth0 up\" ;;
stop)
  for f in /run/sendsigs.omit.d/*; do
    [ -f \"$f\" ] && kill -0 \"$(cat \"$f\")\" && echo \"omitted pid $(cat \"$f\") runs\"
  done
  echo \"taking eth0 down\"; ip link set eth0 down; ip addr flush dev eth0 ;;
esac
";

/// A one-connection TCP server on PORT: says hello, then holds the
/// connection (stdin from a sleep) until it is signalled.
const SERVER: &str = "(echo hello; exec sleep 600) | nc -l -p PORT";

/// A START entry that starts a server and, like sshd's init script with its
/// sessions, leaves the server's connection running at its `stop`.
const SRV: &str = "#!/bin/sh
case \"$1\" in
start) setsid sh -c 'SERVER' </dev/null >/dev/null 2>&1 & ;;
stop) echo \"leaving its connection to the rest of the stop\" ;;
esac
";

/// A /24 of 169.254.0.0/16 for each test (cables.rs draws from the same
/// range with another formula).
fn subnet() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("169.254.{}.", (std::process::id() * 13 + 101 + n) % 250 + 1)
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Connects to `addr` once its server listens (10 s deadline) and reads its
/// hello: the connection is established end to end.
fn connect(addr: SocketAddr) -> TcpStream {
    let mut stream = None;
    let up = wait_for(Duration::from_secs(10), || {
        stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok();
        stream.is_some()
    });
    assert!(up, "no server listening on {addr}");
    let mut stream = stream.expect("connected");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    let mut hello = [0u8; 6];
    stream
        .read_exact(&mut hello)
        .expect("read the server's hello");
    assert_eq!(&hello, b"hello\n");
    stream
}

/// What a client saw after the hello: `Ok(when)` for EOF or a reset, else
/// what it read or the error (a timeout: the connection hung).
type Seen = Result<Instant, String>;

/// Reads `stream` on a thread until EOF, a reset or its read timeout.
fn watch(mut stream: TcpStream, what: &'static str, tx: mpsc::Sender<(&'static str, Seen)>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        let seen = match stream.read(&mut buf) {
            Ok(0) => Ok(Instant::now()),
            Ok(n) => Err(format!("read {n} unexpected bytes")),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => Ok(Instant::now()),
            Err(e) => Err(format!("{e} (no EOF or reset: the connection hung)")),
        };
        let _ = tx.send((what, seen));
    });
}

#[test]
fn clients_see_their_connections_closed_before_networking_stops() {
    require_root!();
    closed_before_the_network_stops("stor", "networking", "etc/init.d/networking", "");
}

/// A START entry of another name whose LSB header provides `$network`.
#[test]
fn an_entry_whose_lsb_header_provides_network_stops_after_the_sweep() {
    require_root!();
    let header = "### BEGIN INIT INFO
# Provides:          netup $network
### END INIT INFO";
    closed_before_the_network_stops("stlh", "/sbin/netup", "sbin/netup", header);
}

/// Boots `START=ENTRY /srv`, ENTRY's script at UPPER's `script` with LSB
/// `header`; servers and an omitted process inside, clients on the host;
/// stops and checks the order.
fn closed_before_the_network_stops(tag: &str, entry: &str, script: &str, header: &str) {
    let net = subnet();
    let server = |port: &str| SERVER.replace("PORT", port);
    let mut sh = Subhost::busybox(tag)
        .line("CABLES==")
        .line(&format!("START={entry} /srv"));
    let networking = NETWORKING.replace("HEADER", header);
    sh.write_upper(
        script,
        &networking.replace("ADDR", &format!("{net}2")),
        0o755,
    );
    sh.write_upper("srv", &SRV.replace("SERVER", &server("7001")), 0o755);
    sh.boot_ok();
    let host_end = format!("{}0", sh.name);
    ip(&["addr", "add", &format!("{net}1/24"), "dev", &host_end]);
    ip(&["link", "set", &host_end, "up"]);
    // A second server started from outside, a stray as an ssh session is.
    sh.sh(&format!(
        "setsid sh -c '{}' </dev/null >/dev/null 2>&1 &",
        server("7002")
    ));
    // A process in Debian's omit list: spared by the sweep.
    sh.sh("mkdir -p /run/sendsigs.omit.d; sleep 600 </dev/null >/dev/null 2>&1 & echo $! >/run/sendsigs.omit.d/keep");
    let (tx, rx) = mpsc::channel();
    for (port, what) in [
        (7001, "the START entry's server"),
        (7002, "the stray server"),
    ] {
        let addr: SocketAddr = format!("{net}2:{port}").parse().expect("address");
        watch(connect(addr), what, tx.clone());
    }
    drop(tx);

    let t0 = Instant::now();
    let out = sh.stop();
    let stopped = Instant::now();
    let took = stopped - t0;
    let log = sh.log_text();
    assert!(out.ok(), "stop failed: {out}\nlog:\n{log}");
    sh.assert_gone();
    for (what, seen) in rx.iter() {
        match seen {
            Ok(at) => assert!(
                at <= stopped,
                "{what}: closed only {} ms after the stop returned\nlog:\n{log}",
                (at - stopped).as_millis()
            ),
            Err(e) => panic!("{what}: {e}\nlog:\n{log}"),
        }
    }
    let sweep = log.find("sweep: SIGTERM to ");
    let down = log.find(&format!("{entry} stop: taking eth0 down"));
    assert!(
        sweep.is_some() && down.is_some() && sweep < down,
        "the sweep's SIGTERM must come before `networking stop`:\n{log}"
    );
    assert!(!log.contains("outlived the netns"), "{log}");
    assert!(
        log.contains(", 1 pid(s) omitted") && log.contains(&format!("{entry} stop: omitted pid ")),
        "the omitted process must outlive the sweep:\n{log}"
    );
    // The launcher waits up to 3 s for a netns that a socket holds.
    assert!(
        took < Duration::from_secs(3),
        "overlay-stop took {} ms\nlog:\n{log}",
        took.as_millis()
    );
    eprintln!("overlay-stop took {} ms", took.as_millis());
}

//! The test network shared by the real-corosync tests: a bridge namespace and one namespace per
//! node joined to it by a veth pair (`eth0` inside the node, addresses `SUBNET.I/24`), with no
//! route out. The caller names the namespaces and removes them.

use std::process::{Command, Stdio};

/// Runs a command with its output discarded; true if it ran and succeeded.
pub fn quiet(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when the test runs as root (namespaces, corosync and mounts need it).
pub fn is_root() -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    String::from_utf8_lossy(&uid).trim() == "0"
}

/// Runs a command and fails the test with its stderr if it does not succeed.
pub fn must(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().expect("spawn");
    assert!(out.status.success(), "{cmd} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Creates bridge namespace `br` and joins every node namespace in `nodes` (node I, from 1, gets
/// `SUBNET.I`) to it.
pub fn build(br: &str, nodes: &[String], subnet: &str) {
    must("ip", &["netns", "add", br]);
    must("ip", &["-n", br, "link", "set", "lo", "up"]);
    must("ip", &["-n", br, "link", "add", "br0", "type", "bridge"]);
    must("ip", &["-n", br, "link", "set", "br0", "up"]);
    for (i, n) in (1..).zip(nodes) {
        let v = format!("v{i}");
        must("ip", &["netns", "add", n]);
        must("ip", &["-n", n, "link", "set", "lo", "up"]);
        must(
            "ip",
            &["link", "add", "eth0", "netns", n, "type", "veth", "peer", "name", &v, "netns", br],
        );
        must("ip", &["-n", br, "link", "set", &v, "master", "br0"]);
        must("ip", &["-n", br, "link", "set", &v, "up"]);
        must("ip", &["-n", n, "addr", "add", &format!("{subnet}.{i}/24"), "dev", "eth0"]);
        must("ip", &["-n", n, "link", "set", "eth0", "up"]);
    }
}

//! Two drbd-ublkd nodes in two network namespaces (10.213.77.0/24, a veth pair, no route
//! out), each with its own run directory, device root and `--hostname` (root, real kernel):
//! up on both, connect, `primary --force` on one, the initial sync completes, ext4 on the
//! Primary, role switch, files identical on the other node, fsck clean; then a split brain
//! resolved by hand (§6.5): `connect --discard-my-data` on the victim.
// End-to-end tests wait on real time.
#![allow(clippy::disallowed_methods)]

mod drbd_common;

use drbd_common::*;
use std::path::PathBuf;
use std::process::Command;

/// Two network namespaces joined by a veth pair; deleted on drop.
struct Netns {
    a: String,
    b: String,
}

impl Netns {
    fn new(tag: &str) -> Netns {
        let n = Netns { a: format!("{tag}a"), b: format!("{tag}b") };
        let va = format!("{tag}va");
        let vb = format!("{tag}vb");
        sh("ip", &["netns", "add", &n.a]);
        sh("ip", &["netns", "add", &n.b]);
        sh("ip", &["link", "add", &va, "type", "veth", "peer", "name", &vb]);
        sh("ip", &["link", "set", &va, "netns", &n.a]);
        sh("ip", &["link", "set", &vb, "netns", &n.b]);
        sh("ip", &["-n", &n.a, "addr", "add", "10.213.77.1/24", "dev", &va]);
        sh("ip", &["-n", &n.b, "addr", "add", "10.213.77.2/24", "dev", &vb]);
        for (ns, v) in [(&n.a, &va), (&n.b, &vb)] {
            sh("ip", &["-n", ns, "link", "set", v, "up"]);
            sh("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        n
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.a]).status();
        let _ = Command::new("ip").args(["netns", "del", &self.b]).status();
    }
}

fn node(dir: &std::path::Path, host: &str) -> Node {
    Node {
        dir: dir.to_path_buf(),
        env: vec![
            ("DRBD_UBLK_RUN_DIR".into(), dir.join(format!("run-{host}")).display().to_string()),
            ("DRBD_UBLK_DEV_ROOT".into(), dir.join(format!("dev-{host}")).display().to_string()),
            ("DRBD_UBLK_HOSTNAME".into(), host.to_string()),
        ],
    }
}

fn sha(path: &std::path::Path) -> String {
    sh("sha256sum", &[&path.display().to_string()]).split(' ').next().unwrap().to_string()
}

#[test]
fn two_nodes_sync_ext4_switch_and_split_brain() {
    if !root() || !std::path::Path::new("/dev/fuse").exists() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let pid = std::process::id() % 100_000;
    let dir = Dir(std::env::temp_dir().join(format!("dmn-two-{pid}")));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.0.join("mnt")).unwrap();
    let d = dir.0.clone();
    backing_file(&d.join("a.img"), 64 << 20);
    backing_file(&d.join("b.img"), 64 << 20);
    let conf = d.join("drbd.conf");
    std::fs::write(
        &conf,
        format!(
            "resource r0 {{\n  net {{ protocol C; verify-alg sha1; }}\n  disk {{ c-max-rate 400M; }}\n  \
             on dmn-a {{ device /dev/drbd7; disk {d}/a.img; address 10.213.77.1:7789; meta-disk internal; }}\n  \
             on dmn-b {{ device /dev/drbd7; disk {d}/b.img; address 10.213.77.2:7789; meta-disk internal; }}\n}}\n",
            d = d.display()
        ),
    )
    .unwrap();
    let ns = Netns::new(&format!("dmn{pid}"));
    let a = node(&d, "dmn-a");
    let b = node(&d, "dmn-b");
    a.ok(&["create-md", "r0"]);
    b.ok(&["create-md", "r0"]);
    let _da = start_daemon(&conf, "dmn-a", Some(&ns.a), &a.env, &d.join("a.log"));
    let _db = start_daemon(&conf, "dmn-b", Some(&ns.b), &b.env, &d.join("b.log"));
    wait_socket(&d.join("run-dmn-a"));
    wait_socket(&d.join("run-dmn-b"));

    a.ok(&["up", "r0"]);
    b.ok(&["up", "r0"]);
    assert!(
        wait_for(20, || a.ok(&["cstate", "r0"]) == "Connected\n"),
        "{}",
        a.ok(&["status", "r0"])
    );
    assert_eq!(b.ok(&["dstate", "r0"]), "Inconsistent/Inconsistent\n");

    // Initial sync from the forced Primary.
    let t0 = std::time::Instant::now();
    a.ok(&["primary", "--force", "r0"]);
    // While it runs, `status` shows `done:` and /proc/drbd the progress bar (the 8.4 and 9
    // layouts), on the target and the source.
    let (mut seen_done, mut seen_bar) = (false, false);
    wait_for(60, || {
        let st = b.ok(&["status", "r0"]) + &a.ok(&["status", "r0"]);
        seen_done |= st.contains("replication:SyncTarget") && st.contains(" done:");
        let proc = std::fs::read_to_string(d.join("run-dmn-b/proc-drbd")).unwrap_or_default();
        seen_bar |= proc.contains("] sync'ed:") && proc.contains("finish: ");
        b.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
    });
    assert!(seen_done, "no done: seen during the resync");
    assert!(seen_bar, "no progress bar seen in proc-drbd during the resync");
    assert!(
        wait_for(60, || b.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"),
        "sync did not finish: {}",
        b.ok(&["status", "r0"])
    );
    let sync_ms = t0.elapsed().as_millis();
    eprintln!("initial sync of 64 MiB: {sync_ms} ms");
    assert_eq!(a.ok(&["role", "r0"]), "Primary/Secondary\n");
    assert_eq!(b.ok(&["role", "r0"]), "Secondary/Primary\n");
    assert_eq!(
        a.ok(&["status", "r0"]),
        "r0 role:Primary\n  disk:UpToDate\n  dmn-b role:Secondary\n    peer-disk:UpToDate\n"
    );
    let proc_b = std::fs::read_to_string(d.join("run-dmn-b/proc-drbd")).unwrap_or_default();
    assert!(
        wait_for(3, || std::fs::read_to_string(d.join("run-dmn-b/proc-drbd"))
            .unwrap_or_default()
            .contains(" 7: cs:Connected ro:Secondary/Primary ds:UpToDate/UpToDate C r-----")),
        "{proc_b}"
    );

    // ext4 on the Primary.
    let dev_a = d.join("dev-dmn-a/by-res/r0").display().to_string();
    let dev_b = d.join("dev-dmn-b/by-res/r0").display().to_string();
    let mnt: PathBuf = d.join("mnt");
    let mnt_s = mnt.display().to_string();
    // Replicated write throughput (protocol C, 1 MiB direct writes).
    let t0 = std::time::Instant::now();
    sh(
        "dd",
        &[
            "if=/dev/zero",
            &format!("of={dev_a}"),
            "bs=1M",
            "count=32",
            "oflag=direct",
            "status=none",
        ],
    );
    let ms = t0.elapsed().as_millis().max(1);
    eprintln!("32 MiB replicated direct write: {ms} ms ({} MiB/s)", 32_000 / ms);
    sh("mkfs.ext4", &["-q", "-F", &dev_a]);
    let data = pattern(5 << 20, 42);
    let sum_a;
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        std::fs::write(mnt.join("data.bin"), &data).unwrap();
        std::fs::create_dir(mnt.join("dir")).unwrap();
        for i in 0..50 {
            std::fs::write(mnt.join(format!("dir/f{i}")), format!("file {i}\n")).unwrap();
        }
        sum_a = sha(&mnt.join("data.bin"));
    }
    // Role switch.
    a.ok(&["secondary", "r0"]);
    b.ok(&["primary", "r0"]);
    assert_eq!(b.ok(&["role", "r0"]), "Primary/Secondary\n");
    sh("fsck.ext4", &["-f", "-n", &dev_b]);
    {
        sh("mount", &[&dev_b, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(sha(&mnt.join("data.bin")), sum_a);
        assert_eq!(std::fs::read_to_string(mnt.join("dir/f49")).unwrap(), "file 49\n");
    }

    // Split brain by hand: disconnect, both Primary and both write, then reconnect.
    a.ok(&["disconnect", "r0"]);
    b.ok(&["disconnect", "r0"]);
    a.ok(&["primary", "r0"]);
    for (n, dev) in [(&a, &dev_a), (&b, &dev_b)] {
        sh("mount", &[dev, &mnt_s]);
        let _m = Mount(mnt.clone());
        std::fs::write(mnt.join("who.txt"), format!("{}\n", n.env[2].1)).unwrap();
    }
    a.ok(&["connect", "r0"]);
    b.ok(&["connect", "r0"]);
    // Split brain detected: both end StandAlone (after-sb policies default to disconnect).
    assert!(
        wait_for(20, || a.ok(&["cstate", "r0"]) == "StandAlone\n"
            && b.ok(&["cstate", "r0"]) == "StandAlone\n"),
        "a: {} b: {}",
        a.ok(&["cstate", "r0"]),
        b.ok(&["cstate", "r0"])
    );
    // The victim (a) demotes and discards its changes; b keeps its data.
    a.ok(&["secondary", "r0"]);
    a.ok(&["connect", "--discard-my-data", "r0"]);
    b.ok(&["connect", "r0"]);
    assert!(
        wait_for(30, || a.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
            && a.ok(&["cstate", "r0"]) == "Connected\n"),
        "a: {}",
        a.ok(&["status", "r0"])
    );
    b.ok(&["secondary", "r0"]);
    a.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_a]);
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read_to_string(mnt.join("who.txt")).unwrap(), "dmn-b\n");
        assert_eq!(sha(&mnt.join("data.bin")), sum_a);
    }
    a.ok(&["down", "r0"]);
    b.ok(&["down", "r0"]);
}

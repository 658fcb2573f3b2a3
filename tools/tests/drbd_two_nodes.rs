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
            "resource r0 {{\n  net {{ protocol C; verify-alg sha1; ping-int 2; ping-timeout 5; timeout 10; connect-int 3; }}\n  disk {{ c-max-rate 400M; }}\n  \
             handlers {{ split-brain \"echo $DRBD_RESOURCE $DRBD_PEER >> {d}/sb-$DRBD_PEER\"; }}\n  \
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
    // wait-connect returns once the handshake is done.
    a.ok(&["wait-connect", "r0"]);
    assert_eq!(a.ok(&["cstate", "r0"]), "Connected\n");
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
    let gi = a.ok(&["get-gi", "r0"]);
    let f: Vec<&str> = gi.trim_end().split(':').collect();
    assert_eq!(f.len(), 11, "{gi}");
    assert!(f[..4].iter().all(|u| u.len() == 16 && u64::from_str_radix(u, 16).is_ok()), "{gi}");
    // Flags: consistent, was-up-to-date, primary, connected (peer-outdated may be left
    // over from the sync).
    assert_eq!(&f[4..8], ["1", "1", "1", "1"], "{gi}");
    assert!(f[8..].iter().all(|x| *x == "0" || *x == "1"), "{gi}");
    assert_eq!(b.ok(&["role", "r0"]), "Secondary/Primary\n");
    // The source ends its side of the resync when the target's new state reaches it, a
    // moment after the target is UpToDate.
    let done = "r0 role:Primary\n  disk:UpToDate\n  dmn-b role:Secondary\n    peer-disk:UpToDate\n";
    wait_for(10, || a.ok(&["status", "r0"]) == done);
    assert_eq!(a.ok(&["status", "r0"]), done);
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
    a.ok_when_free(&["secondary", "r0"]);
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
    // Split brain detected and logged; at least one side ends StandAlone (after-sb policies
    // default to disconnect). Usually both do; when one side drops the connection before
    // the other has judged the handshake, the other sees a plain connection loss and keeps
    // trying (WFConnection), which the walkthrough allows ("one side StandAlone").
    let standalone = |n: &Node| n.ok(&["cstate", "r0"]) == "StandAlone\n";
    assert!(
        wait_for(20, || standalone(&a) || standalone(&b)),
        "a: {} b: {}",
        a.ok(&["cstate", "r0"]),
        b.ok(&["cstate", "r0"])
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    assert!(
        (log("a.log") + &log("b.log")).contains("Split-Brain detected, dropping connection!"),
        "no split brain logged"
    );
    // The split-brain handler ran on a node that detected it, with DRBD's environment.
    assert!(wait_for(5, || log("sb-dmn-a").contains("r0 dmn-a")
        || log("sb-dmn-b").contains("r0 dmn-b")));
    // Recovery (§6.5): the victim a is made StandAlone if it is not yet.
    if !standalone(&a) {
        a.ok(&["disconnect", "r0"]);
    }
    // The victim (a) demotes and discards its changes; b keeps its data.
    a.ok_when_free(&["secondary", "r0"]);
    a.ok(&["connect", "--discard-my-data", "r0"]);
    if standalone(&b) {
        b.ok(&["connect", "r0"]);
    }
    assert!(
        wait_for(30, || a.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
            && a.ok(&["cstate", "r0"]) == "Connected\n"),
        "a: {}",
        a.ok(&["status", "r0"])
    );
    b.ok_when_free(&["secondary", "r0"]);
    a.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_a]);
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read_to_string(mnt.join("who.txt")).unwrap(), "dmn-b\n");
        assert_eq!(sha(&mnt.join("data.bin")), sum_a);
    }

    // The link dies without a FIN: the keep-alive notices on both sides; writes on the
    // Primary meanwhile are resynced when the link comes back.
    let va = format!("dmn{pid}va");
    sh("ip", &["-n", &ns.a, "link", "set", &va, "down"]);
    assert!(
        wait_for(15, || a.ok(&["cstate", "r0"]) == "WFConnection\n"
            && b.ok(&["cstate", "r0"]) == "WFConnection\n"),
        "a: {} b: {}",
        a.ok(&["cstate", "r0"]),
        b.ok(&["cstate", "r0"])
    );
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        std::fs::write(mnt.join("late.bin"), pattern(1 << 20, 7)).unwrap();
    }
    assert_ne!(a.ok(&["status", "--verbose", "r0"]), "");
    sh("ip", &["-n", &ns.a, "link", "set", &va, "up"]);
    assert!(
        wait_for(30, || b.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
            && a.ok(&["cstate", "r0"]) == "Connected\n"),
        "a: {} b: {}",
        a.ok(&["status", "r0"]),
        b.ok(&["status", "r0"])
    );
    a.ok_when_free(&["secondary", "r0"]);
    b.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_b]);
    {
        sh("mount", &[&dev_b, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read(mnt.join("late.bin")).unwrap(), pattern(1 << 20, 7));
    }

    // Online verify (of the last 0.5 MiB: the engine paces verify requests slowly) finds
    // nothing out of sync.
    a.ok(&["verify", "--start", "130000", "r0"]);
    assert!(
        wait_for(30, || a.ok(&["cstate", "r0"]) == "Connected\n"),
        "{}",
        a.ok(&["status", "r0"])
    );
    assert!(a.ok(&["status", "--verbose", "r0"]).contains(" out-of-sync:0 "));

    // Detach and re-attach the Secondary's disk: it catches up on what it missed.
    a.ok(&["detach", "r0"]);
    assert!(
        wait_for(5, || a.ok(&["dstate", "r0"]) == "Diskless/UpToDate\n"),
        "{}",
        a.ok(&["dstate", "r0"])
    );
    {
        sh("mount", &[&dev_b, &mnt_s]);
        let _m = Mount(mnt.clone());
        std::fs::write(mnt.join("while-detached.txt"), "x\n").unwrap();
    }
    a.ok(&["attach", "r0"]);
    assert!(
        wait_for(30, || a.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"),
        "{}",
        a.ok(&["status", "r0"])
    );
    b.ok_when_free(&["secondary", "r0"]);
    a.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_a]);
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read_to_string(mnt.join("while-detached.txt")).unwrap(), "x\n");
    }
    a.ok_when_free(&["down", "r0"]);
    b.ok_when_free(&["down", "r0"]);
}

//! Node failures with two drbd-ublkd daemons in network namespaces (walkthrough steps 25 and
//! 26): a Secondary's daemon is killed and comes back, receiving only what changed; then the
//! Primary's daemon is killed, the survivor is promoted with the data intact, and the old
//! Primary comes back as a SyncTarget.
// End-to-end tests wait on real time.
#![allow(clippy::disallowed_methods)]

mod drbd_common;

use drbd_common::*;

fn sync_kib(log: &std::path::Path) -> Vec<u64> {
    let t = std::fs::read_to_string(log).unwrap_or_default();
    t.lines()
        .filter_map(|l| l.split("will sync ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect()
}

#[test]
fn secondary_and_primary_failures() {
    if !root() || !std::path::Path::new("/dev/fuse").exists() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let pid = std::process::id() % 100_000;
    let dir = Dir(std::env::temp_dir().join(format!("dmn-fail-{pid}")));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.0.join("mnt")).unwrap();
    let d = dir.0.clone();
    backing_file(&d.join("a.img"), 64 << 20);
    backing_file(&d.join("b.img"), 64 << 20);
    let conf = two_node_conf(&d, "");
    let ns = Netns::new(&format!("dmf{pid}"));
    let a = node(&d, "dmn-a");
    let b = node(&d, "dmn-b");
    a.ok(&["create-md", "r0"]);
    b.ok(&["create-md", "r0"]);
    let _da = start_daemon(&conf, "dmn-a", Some(&ns.a), &a.env, &d.join("a.log"));
    let mut db = start_daemon(&conf, "dmn-b", Some(&ns.b), &b.env, &d.join("b.log"));
    wait_socket(&d.join("run-dmn-a"));
    wait_socket(&d.join("run-dmn-b"));
    a.ok(&["up", "r0"]);
    b.ok(&["up", "r0"]);
    assert!(wait_for(20, || a.ok(&["cstate", "r0"]) == "Connected\n"));
    a.ok(&["primary", "--force", "r0"]);
    // The device is usable on the Primary at once, during the initial sync.
    let dev_a = d.join("dev-dmn-a/by-res/r0").display().to_string();
    let dev_b = d.join("dev-dmn-b/by-res/r0").display().to_string();
    sh("mkfs.ext4", &["-q", "-F", &dev_a]);
    assert!(wait_for(60, || b.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"));
    let mnt = d.join("mnt");
    let mnt_s = mnt.display().to_string();

    // Step 25: the Secondary's daemon dies; the Primary goes on; it comes back and receives
    // only what changed meanwhile.
    db.child.kill().unwrap();
    db.child.wait().unwrap();
    assert!(
        wait_for(15, || a.ok(&["cstate", "r0"]) == "WFConnection\n"),
        "{}",
        a.ok(&["status", "r0"])
    );
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        std::fs::write(mnt.join("while-b-down.bin"), pattern(2 << 20, 1)).unwrap();
    }
    drop(db);
    db = start_daemon(&conf, "dmn-b", Some(&ns.b), &b.env, &d.join("b2.log"));
    wait_socket(&d.join("run-dmn-b"));
    b.ok(&["up", "r0"]);
    assert!(
        wait_for(30, || b.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
            && b.ok(&["cstate", "r0"]) == "Connected\n"),
        "{}",
        b.ok(&["status", "r0"])
    );
    let resynced = sync_kib(&d.join("b2.log"));
    eprintln!("resync after Secondary restart: {resynced:?} KiB");
    assert!(!resynced.is_empty(), "no resync after the Secondary came back");
    // Only the changed blocks: the 2 MiB file plus some file system metadata, far from the
    // 64 MiB of a full resync (the initial sync left the Secondary with the Primary's Current
    // UUID on disk, so the handshake finds a bitmap-based resync).
    assert!(
        (2 << 10..16 << 10).contains(&resynced[0]),
        "resync after the restart was {} KiB, expected only the changed blocks",
        resynced[0]
    );

    // Step 26: the Primary's daemon dies; the data is intact on the other node, which is
    // promoted by hand.
    let mut da = _da;
    da.child.kill().unwrap();
    da.child.wait().unwrap();
    assert!(
        wait_for(15, || b.ok(&["cstate", "r0"]) == "WFConnection\n"),
        "{}",
        b.ok(&["status", "r0"])
    );
    b.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_b]);
    {
        sh("mount", &[&dev_b, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read(mnt.join("while-b-down.bin")).unwrap(), pattern(2 << 20, 1));
        std::fs::write(mnt.join("after-failover.txt"), "b\n").unwrap();
    }
    // The old Primary comes back and becomes SyncTarget of the survivor.
    drop(da);
    let _da = start_daemon(&conf, "dmn-a", Some(&ns.a), &a.env, &d.join("a2.log"));
    wait_socket(&d.join("run-dmn-a"));
    // `adjust` brings a resource that is down up.
    a.ok(&["adjust", "r0"]);
    assert!(
        wait_for(30, || a.ok(&["dstate", "r0"]) == "UpToDate/UpToDate\n"
            && a.ok(&["cstate", "r0"]) == "Connected\n"),
        "a: {} b: {}",
        a.ok(&["status", "r0"]),
        b.ok(&["status", "r0"])
    );
    assert_eq!(a.ok(&["role", "r0"]), "Secondary/Primary\n");
    b.ok_when_free(&["secondary", "r0"]);
    a.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_a]);
    {
        sh("mount", &[&dev_a, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(std::fs::read_to_string(mnt.join("after-failover.txt")).unwrap(), "b\n");
    }
    a.ok_when_free(&["down", "r0"]);
    b.ok_when_free(&["down", "r0"]);
    drop(db);
}

//! drbd-ublkd end to end on one node (root, real kernel): create-md on a temp backing file,
//! up, primary --force, ext4 on /dev/drbd/by-res/r0 (a temp device root), files, fsck,
//! down and up again with the data intact, and the status outputs along the way.
// End-to-end tests wait on real time.
#![allow(clippy::disallowed_methods)]

mod drbd_common;

use drbd_common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn single_node_ext4_standalone() {
    if !root() || !Path::new("/dev/fuse").exists() {
        eprintln!("skipped: needs root and /dev/fuse");
        return;
    }
    let dir = Dir(std::env::temp_dir().join(format!("dmn-single-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    std::fs::create_dir_all(dir.0.join("mnt")).unwrap();
    let backing = dir.0.join("backing.img");
    let f = std::fs::File::create(&backing).unwrap();
    f.set_len(128 << 20).unwrap();
    drop(f);
    std::fs::write(
        dir.0.join("drbd.conf"),
        format!(
            "resource r0 {{\n  net {{ verify-alg sha1; }}\n  on dmn-a {{ device /dev/drbd7; disk {b}; address 10.213.77.1:7789; meta-disk internal; }}\n  on dmn-b {{ device /dev/drbd7; disk {b}; address 10.213.77.2:7789; meta-disk internal; }}\n}}\n",
            b = backing.display()
        ),
    )
    .unwrap();
    let env = vec![
        ("DRBD_UBLK_RUN_DIR".to_string(), dir.0.join("run").display().to_string()),
        ("DRBD_UBLK_DEV_ROOT".to_string(), dir.0.join("dev").display().to_string()),
        ("DRBD_UBLK_HOSTNAME".to_string(), "dmn-a".to_string()),
    ];
    let node = Node { dir: dir.0.clone(), env: env.clone() };

    // Without a daemon: exit 20.
    let (code, _, err) = node.adm(&["status", "r0"]);
    assert_eq!(code, 20, "{err}");

    let out = node.ok(&["create-md", "r0"]);
    assert!(out.contains("New drbd meta data block successfully created."), "{out}");
    let log = std::fs::File::create(dir.0.join("daemon.log")).unwrap();
    let child = Command::new(DAEMON)
        .arg("--config")
        .arg(dir.0.join("drbd.conf"))
        .arg("--hostname")
        .arg("dmn-a")
        .envs(env.iter().cloned())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let daemon = Daemon { child, env: env.clone() };
    let sock = dir.0.join("run/ctl.sock");
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);

    node.ok(&["up", "r0"]);
    assert_eq!(node.ok(&["cstate", "r0"]), "WFConnection\n");
    node.ok(&["disconnect", "r0"]);
    assert_eq!(node.ok(&["role", "r0"]), "Secondary/Unknown\n");
    assert_eq!(node.ok(&["dstate", "r0"]), "Inconsistent/DUnknown\n");
    // Promotion of Inconsistent data needs --force.
    let (code, _, err) = node.adm(&["primary", "r0"]);
    assert_eq!(code, 11, "{err}");
    assert!(err.contains("(-2) Need access to UpToDate data"), "{err}");
    node.ok(&["primary", "--force", "r0"]);
    assert_eq!(node.ok(&["role", "r0"]), "Primary/Unknown\n");
    assert_eq!(
        node.ok(&["status", "r0"]),
        "r0 role:Primary\n  disk:UpToDate\n  dmn-b connection:StandAlone\n"
    );

    let dev = dir.0.join("dev/by-res/r0");
    let dev_s = dev.display().to_string();
    sh("mkfs.ext4", &["-q", "-F", &dev_s]);
    let mnt = dir.0.join("mnt");
    let mnt_s = mnt.display().to_string();
    let sum;
    {
        sh("mount", &[&dev_s, &mnt_s]);
        let _m = Mount(mnt.clone());
        let mut data = vec![0u8; 3 << 20];
        let mut x = 0x1234_5678_u64;
        for b in data.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        std::fs::write(mnt.join("data.bin"), &data).unwrap();
        std::fs::create_dir(mnt.join("sub")).unwrap();
        std::fs::write(mnt.join("sub/hello.txt"), "hello drbd\n").unwrap();
        sum = sh("sha256sum", &[&mnt.join("data.bin").display().to_string()]);
        // Mounted: secondary and down are refused, like DRBD's "held open".
        let (code, _, err) = node.adm(&["secondary", "r0"]);
        assert_eq!(code, 11, "{err}");
        assert!(err.contains("(-12)"), "{err}");
        let (code, _, _) = node.adm(&["down", "r0"]);
        assert_eq!(code, 11);
        let ov = Command::new(OVERVIEW).envs(env.iter().cloned()).output().unwrap();
        let ov = String::from_utf8_lossy(&ov.stdout).into_owned();
        assert!(ov.starts_with("  7:r0/0  StandAlone Primary/Unknown UpToDate/DUnknown"), "{ov}");
        assert!(ov.contains(&format!("{mnt_s} ext4")), "{ov}");
        let proc = std::fs::read_to_string(dir.0.join("run/proc-drbd")).unwrap_or_default();
        let t0 = Instant::now();
        let mut proc = proc;
        while !proc.contains(" 7: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----")
            && t0.elapsed() < Duration::from_secs(3)
        {
            std::thread::sleep(Duration::from_millis(100));
            proc = std::fs::read_to_string(dir.0.join("run/proc-drbd")).unwrap_or_default();
        }
        assert!(
            proc.contains(" 7: cs:StandAlone ro:Primary/Unknown ds:UpToDate/DUnknown   r-----"),
            "{proc}"
        );
        assert!(proc.contains("    ns:0 nr:0 dw:"), "{proc}");
    }
    sh("fsck.ext4", &["-f", "-n", &dev_s]);
    node.ok(&["secondary", "r0"]);
    node.ok(&["down", "r0"]);
    assert!(!dev.exists(), "link removed on down");
    assert_eq!(node.ok(&["role", "r0"]), "Unconfigured\n");

    // Up again: the data is UpToDate from the metadata, promotion needs no force.
    node.ok(&["up", "all"]);
    node.ok(&["disconnect", "all"]);
    assert_eq!(node.ok(&["dstate", "r0"]), "UpToDate/DUnknown\n");
    node.ok(&["primary", "r0"]);
    sh("fsck.ext4", &["-f", "-n", &dev_s]);
    {
        sh("mount", &[&dev_s, &mnt_s]);
        let _m = Mount(mnt.clone());
        assert_eq!(sh("sha256sum", &[&mnt.join("data.bin").display().to_string()]), sum);
        assert_eq!(std::fs::read_to_string(mnt.join("sub/hello.txt")).unwrap(), "hello drbd\n");
    }
    node.ok(&["down", "r0"]);
    drop(daemon);
    assert!(!sock.exists(), "socket removed at shutdown");
}

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

    // A malformed request is refused with a clear error; the daemon carries on.
    {
        use std::io::{Read, Write};
        let mut c = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        let body = b"drbdctl 1\nprimary\nr0\n--forse\n";
        c.write_all(&(body.len() as u32).to_be_bytes()).unwrap();
        c.write_all(body).unwrap();
        let mut len = [0u8; 4];
        c.read_exact(&mut len).unwrap();
        let mut resp = vec![0u8; u32::from_be_bytes(len) as usize];
        c.read_exact(&mut resp).unwrap();
        let resp = String::from_utf8(resp).unwrap();
        assert!(resp.starts_with("drbdctl 1 err 3\n"), "{resp}");
        assert!(resp.contains("unknown option '--forse'"), "{resp}");
    }
    let (code, _, err) = node.adm(&["role", "r0"]);
    assert_eq!((code, err.as_str()), (0, ""));

    node.ok(&["up", "r0"]);
    assert_eq!(
        node.ok(&["events2", "--now", "r0"]),
        "exists resource name:r0 role:Secondary suspended:no force-io-failures:no may_promote:no\n\
         exists connection name:r0 peer-node-id:1 conn-name:dmn-b connection:Connecting role:Unknown\n\
         exists device name:r0 volume:0 minor:7 disk:Inconsistent client:no\n\
         exists peer-device name:r0 peer-node-id:1 conn-name:dmn-b volume:0 replication:Off \
         peer-disk:DUnknown resync-suspended:no\n\
         exists -\n"
    );
    assert_eq!(node.ok(&["cstate", "r0"]), "WFConnection\n");
    node.ok(&["disconnect", "r0"]);
    assert_eq!(node.ok(&["role", "r0"]), "Secondary/Unknown\n");
    assert_eq!(node.ok(&["dstate", "r0"]), "Inconsistent/DUnknown\n");
    // A running `events2` reports the changes that follow its dump, stamped.
    let conf = dir.0.join("drbd.conf").display().to_string();
    let events = Events::start(&env, &["-c", &conf, "events2", "--timestamps", "r0"]);
    assert!(events.wait_for("exists -").is_some(), "no events2 dump");
    // Promotion of Inconsistent data needs --force.
    let (code, _, err) = node.adm(&["primary", "r0"]);
    assert_eq!(code, 11, "{err}");
    assert!(err.contains("(-2) Need access to UpToDate data"), "{err}");
    node.ok(&["primary", "--force", "r0"]);
    assert_eq!(node.ok(&["role", "r0"]), "Primary/Unknown\n");
    let line = events.wait_for("change resource name:r0 role:Primary").expect("role change event");
    let stamp = line.split(' ').next().unwrap();
    assert!(stamp.len() == 32 && stamp.ends_with("+00:00") && &stamp[10..11] == "T", "{line}");
    assert!(events.wait_for("change device name:r0 volume:0 minor:7 disk:UpToDate").is_some());
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
    node.ok_when_free(&["secondary", "r0"]);
    node.ok_when_free(&["down", "r0"]);
    assert!(!dev.exists(), "link removed on down");
    assert!(events.wait_for("destroy device name:r0 volume:0 minor:7").is_some());
    assert!(events.wait_for("destroy resource name:r0").is_some());
    drop(events);
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
    node.ok_when_free(&["down", "r0"]);
    drop(daemon);
    assert!(!sock.exists(), "socket removed at shutdown");
}

/// A running `drbdadm events2`, its lines collected by a reader thread; killed on drop.
struct Events {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Events {
    fn start(env: &[(String, String)], args: &[&str]) -> Events {
        let mut child = Command::new(ADM)
            .args(args)
            .envs(env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Events { child, lines }
    }

    /// The next line containing `needle` within 10 s (earlier lines are consumed).
    fn wait_for(&self, needle: &str) -> Option<String> {
        let t0 = Instant::now();
        while let Some(left) = Duration::from_secs(10).checked_sub(t0.elapsed()) {
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

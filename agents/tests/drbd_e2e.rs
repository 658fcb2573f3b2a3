//! The drbd-ublk OCF agent end to end: the executor runs the agent with the exact OCF
//! environment, the agent drives the workspace's real `drbdadm`, which talks to a real
//! `drbd-ublkd` (root, /dev/fuse) serving a temp backing file. Promotion scores go to a
//! stand-in `crm_attribute` that records its calls (until our own crm_attribute is merged).
//!
//! `drbdadm` and `drbd-ublkd` are taken from the same target directory as the agent binary
//! (they exist after `cargo build -p tools` or a workspace test run); without them, or without
//! root, the test says so and returns. The two-node test runs two daemons in the root namespace
//! on loopback (127.0.0.1 / 127.0.0.2), one executor per node.

// Waiting for a real daemon process needs the wall clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cluster_core::exec::{AgentRequest, ExecConfig, ExecStatus, ProcessRunner};

const CRM_ATTRIBUTE: &str = r#"#!/bin/sh
S=@STATE@
echo "$OCF_RESOURCE_INSTANCE $*" >> $S/crm_attribute.log
case " $* " in
  *" -G "*) [ -e $S/score ] || { echo "crm_attribute: Error performing operation: No such device or address" >&2; exit 105; }
            cat $S/score ;;
  *" -D "*) rm -f $S/score ;;
  *" -v "*) while [ $# -gt 0 ]; do [ "$1" = -v ] && echo "$2" > $S/score; shift; done ;;
esac
exit 0
"#;

struct Dir(PathBuf);
impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The daemon, shut down (forced `down` of everything) and reaped on drop.
struct Daemon {
    bin: PathBuf,
    child: Child,
    env: Vec<(String, String)>,
}
impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .arg("--shutdown")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn run(r: &mut ProcessRunner, q: AgentRequest) -> (i32, Option<String>) {
    let res = r.run(q);
    assert_eq!(res.status, ExecStatus::Done, "{res:?}");
    (res.rc.code(), res.exit_reason)
}

/// A temp lab with the agent, real drbdadm, stand-in crm_attribute, config and metadata.
struct Lab {
    dir: Dir,
    adm: PathBuf,
    daemon_bin: PathBuf,
    conf: PathBuf,
    env: Vec<(String, String)>,
}

impl Lab {
    /// `None` (with a message) when root, /dev/fuse or the binaries are missing.
    fn new(tag: &str, port_offset: u16) -> Option<Lab> {
        let agent = Path::new(env!("CARGO_BIN_EXE_drbd-ublk-ocf"));
        let adm = agent.with_file_name("drbdadm");
        let daemon_bin = agent.with_file_name("drbd-ublkd");
        if !root() || !Path::new("/dev/fuse").exists() || !adm.exists() || !daemon_bin.exists() {
            eprintln!(
                "skipped: needs root, /dev/fuse and target/*/drbdadm + drbd-ublkd (cargo build -p tools)"
            );
            return None;
        }
        let dir =
            Dir(std::env::temp_dir().join(format!("agent-drbd-{tag}-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(&dir.0);
        for d in ["ocf/resource.d/drbd-ublk", "bin", "state", "rsctmp"] {
            std::fs::create_dir_all(dir.0.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(agent, dir.0.join("ocf/resource.d/drbd-ublk/drbd")).unwrap();
        std::os::unix::fs::symlink(&adm, dir.0.join("bin/drbdadm")).unwrap();
        let stand_in = dir.0.join("bin/crm_attribute");
        let state = dir.0.join("state").display().to_string();
        std::fs::write(&stand_in, CRM_ATTRIBUTE.replace("@STATE@", &state)).unwrap();
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
        let backing = dir.0.join("backing.img");
        std::fs::File::create(&backing).unwrap().set_len(32 << 20).unwrap();
        let port = 20_000 + (std::process::id() % 20_000) as u16 + port_offset;
        let conf = dir.0.join("drbd.conf");
        std::fs::write(
            &conf,
            format!(
                "resource wwwdata {{\n  on agt-a {{ device /dev/drbd9; disk {b}; address 127.0.0.1:{port}; meta-disk internal; }}\n  on agt-b {{ device /dev/drbd9; disk {b}; address 127.0.0.2:{port}; meta-disk internal; }}\n}}\n",
                b = backing.display()
            ),
        )
        .unwrap();
        let env = vec![
            ("DRBD_UBLK_RUN_DIR".to_string(), dir.0.join("run").display().to_string()),
            ("DRBD_UBLK_DEV_ROOT".to_string(), dir.0.join("dev").display().to_string()),
            ("DRBD_UBLK_HOSTNAME".to_string(), "agt-a".to_string()),
        ];
        let lab = Lab { dir, adm, daemon_bin, conf, env };
        let (code, err) = lab.adm(&["create-md", "wwwdata"]);
        assert_eq!(code, 0, "{err}");
        Some(lab)
    }

    fn adm(&self, args: &[&str]) -> (i32, String) {
        let o = Command::new(&self.adm)
            .arg("-c")
            .arg(&self.conf)
            .args(args)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
    }

    /// Waits (bounded) until `drbdadm role` shows `role`: the daemon acknowledges a role
    /// change just before it shows in the status.
    fn wait_role(&self, role: &str) {
        for _ in 0..100 {
            let o = Command::new(&self.adm)
                .arg("-c")
                .arg(&self.conf)
                .args(["role", "wwwdata"])
                .envs(self.env.iter().cloned())
                .output()
                .unwrap();
            if String::from_utf8_lossy(&o.stdout).starts_with(role) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("role never became {role}");
    }

    fn start_daemon(&self) -> Daemon {
        let log = std::fs::File::create(self.dir.0.join("daemon.log")).unwrap();
        let child = Command::new(&self.daemon_bin)
            .arg("--config")
            .arg(&self.conf)
            .arg("--hostname")
            .arg("agt-a")
            .envs(self.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Daemon { bin: self.daemon_bin.clone(), child, env: self.env.clone() };
        let sock = self.dir.0.join("run/ctl.sock");
        let t0 = Instant::now();
        while !sock.exists() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(sock.exists(), "daemon socket");
        d
    }
}

#[test]
fn drbd_agent_end_to_end_with_daemon() {
    let Some(lab) = Lab::new("e2e", 0) else {
        return;
    };
    let dir = &lab.dir;
    let conf = &lab.conf;
    let env = &lab.env;
    let adm_cmd = |args: &[&str]| lab.adm(args);
    let mut r = ProcessRunner::new(ExecConfig {
        ocf_root: dir.0.join("ocf"),
        path_prefix: vec![dir.0.join("bin")],
        sbin_dir: Some(dir.0.join("bin")),
        rsctmp: dir.0.join("rsctmp"),
        node_name: Some("agt-a".into()),
        extra_env: env.clone(),
        ..ExecConfig::default()
    });
    let req = |action: &str| {
        let mut q = AgentRequest::ocf("WebData", "drbd-ublk", "drbd", action)
            .with_param("drbd_resource", "wwwdata")
            .with_param("drbdconf", &conf.display().to_string());
        for (k, v) in [
            ("clone_max", "2"),
            ("clone_node_max", "1"),
            ("notify", "true"),
            ("promotable", "true"),
            ("promoted_max", "1"),
            ("promoted_node_max", "1"),
        ] {
            q = q.with_meta(k, v);
        }
        q
    };
    let score = || {
        std::fs::read_to_string(dir.0.join("state/score")).unwrap_or_default().trim().to_string()
    };

    // No daemon yet: probe says stopped, start fails with the reason.
    assert_eq!(run(&mut r, req("monitor")).0, 7);
    let (rc, why) = run(&mut r, req("start"));
    assert_eq!(rc, 1);
    assert!(why.unwrap_or_default().contains("not running"));

    let _daemon = lab.start_daemon();

    assert_eq!(run(&mut r, req("monitor")).0, 7, "probe before start");
    assert_eq!(run(&mut r, req("start")).0, 0);
    assert_eq!(run(&mut r, req("monitor").with_interval_ms(20_000)).0, 0);
    // Fresh metadata: Inconsistent. No score, promotion refused.
    assert_eq!(score(), "");
    let (rc, why) = run(&mut r, req("promote"));
    assert_eq!(rc, 1);
    assert!(why.unwrap_or_default().contains("Inconsistent"));
    // The administrator forces the initial Primary (walkthrough step 22) and hands it back.
    assert_eq!(adm_cmd(&["primary", "--force", "wwwdata"]).0, 0);
    lab.wait_role("Primary");
    assert_eq!(run(&mut r, req("monitor").with_interval_ms(10_000)).0, 8);
    assert_eq!(score(), "10000");
    assert_eq!(adm_cmd(&["secondary", "wwwdata"]).0, 0);
    lab.wait_role("Secondary");
    assert_eq!(run(&mut r, req("monitor").with_interval_ms(20_000)).0, 0);
    assert_eq!(score(), "1000", "UpToDate, peer unknown");
    // Pacemaker's cycle.
    assert_eq!(run(&mut r, req("promote")).0, 0);
    assert_eq!(run(&mut r, req("monitor").with_interval_ms(10_000)).0, 8);
    assert_eq!(score(), "10000");
    assert_eq!(run(&mut r, req("demote")).0, 0);
    assert_eq!(run(&mut r, req("monitor").with_interval_ms(20_000)).0, 0);
    assert_eq!(run(&mut r, req("stop")).0, 0);
    assert_eq!(run(&mut r, req("monitor")).0, 7);
    assert_eq!(score(), "", "score removed on stop");
    assert_eq!(run(&mut r, req("stop")).0, 0);
    // Up again through the agent: the data stays UpToDate.
    assert_eq!(run(&mut r, req("start")).0, 0);
    assert_eq!(score(), "1000");
    assert_eq!(run(&mut r, req("promote")).0, 0);
    assert_eq!(run(&mut r, req("stop")).0, 0, "stop of a Primary");
    assert_eq!(run(&mut r, req("monitor")).0, 7);
    let calls = std::fs::read_to_string(dir.0.join("state/crm_attribute.log")).unwrap();
    assert!(calls.contains("WebData --promotion -Q -l reboot -v 10000"), "{calls}");
    assert!(calls.contains("WebData --promotion -l reboot -D"), "{calls}");
}

fn install(destdir: &Path) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-agents.sh");
    let bin = Path::new(env!("CARGO_BIN_EXE_drbd-ublk-ocf")).parent().unwrap().to_path_buf();
    let o = Command::new("bash").arg(&script).arg(&bin).env("DESTDIR", destdir).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn drbd_install_script_respects_a_foreign_linbit_agent() {
    let d = Dir(std::env::temp_dir().join(format!("agent-drbd-inst-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&d.0);
    let out = install(&d.0);
    for p in [
        "usr/lib/ocf/resource.d/drbd-ublk/drbd",
        "usr/lib/ocf/resource.d/linbit/drbd",
        "usr/lib/drbd-ublk/crm-fence-peer",
        "usr/lib/drbd-ublk/crm-unfence-peer",
    ] {
        let m = std::fs::metadata(d.0.join(p)).unwrap_or_else(|_| panic!("{p}: {out}"));
        assert_eq!(m.permissions().mode() & 0o777, 0o755, "{p}");
    }
    // Reinstall over our own copy: fine. A foreign agent there (drbd-utils' shell agent): untouched.
    install(&d.0);
    let linbit = d.0.join("usr/lib/ocf/resource.d/linbit/drbd");
    std::fs::write(&linbit, "#!/bin/sh\n# drbd-utils agent\n").unwrap();
    let out = install(&d.0);
    assert!(out.contains("left") && out.contains("not ours"), "{out}");
    assert_eq!(std::fs::read_to_string(&linbit).unwrap(), "#!/bin/sh\n# drbd-utils agent\n");
}

#[test]
fn drbd_ocf_tester_passes_against_installed_agent() {
    if !Path::new("/usr/sbin/ocf-tester").exists() || !Path::new("/usr/bin/xmllint").exists() {
        eprintln!("skipped: needs ocf-tester (resource-agents) and xmllint (libxml2-utils)");
        return;
    }
    let Some(lab) = Lab::new("ocft", 1) else {
        return;
    };
    let _daemon = lab.start_daemon();
    // Initial sync stand-in: make the single node's data UpToDate, as `primary --force` does.
    for args in [
        &["up", "wwwdata"][..],
        &["primary", "--force", "wwwdata"],
        &["secondary", "wwwdata"],
        &["down", "wwwdata"],
    ] {
        let (code, err) = lab.adm(args);
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let root = lab.dir.0.join("root");
    install(&root);
    let agent = root.join("usr/lib/ocf/resource.d/drbd-ublk/drbd");
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", lab.dir.0.join("bin").display());
    let o = Command::new("/usr/sbin/ocf-tester")
        .args(["-n", "WebData", "-o", "drbd_resource=wwwdata"])
        .arg("-o")
        .arg(format!("drbdconf={}", lab.conf.display()))
        .arg(&agent)
        .env_clear()
        .env("PATH", path)
        .envs(lab.env.iter().cloned())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("passed all tests"), "{out}");
    eprintln!("{out}");
    let (code, _) = lab.adm(&["role", "wwwdata"]);
    assert_eq!(code, 0);
}

/// One node of the two-node test: its own daemon, run dir, device root and backing file.
struct Peer {
    env: Vec<(String, String)>,
    runner: ProcessRunner,
}

#[test]
fn drbd_two_nodes_on_loopback_scores_and_promotion() {
    let Some(lab) = Lab::new("two", 2) else {
        return;
    };
    let d = &lab.dir.0;
    let port = 20_000 + (std::process::id() % 20_000) as u16 + 2;
    for h in ["agt-a", "agt-b"] {
        std::fs::File::create(d.join(format!("{h}.img"))).unwrap().set_len(16 << 20).unwrap();
    }
    std::fs::write(
        &lab.conf,
        format!(
            "resource wwwdata {{\n  on agt-a {{ device /dev/drbd9; disk {a}; address 127.0.0.1:{port}; meta-disk internal; }}\n  on agt-b {{ device /dev/drbd9; disk {b}; address 127.0.0.2:{port}; meta-disk internal; }}\n}}\n",
            a = d.join("agt-a.img").display(),
            b = d.join("agt-b.img").display()
        ),
    )
    .unwrap();
    let mut peers = Vec::new();
    let mut daemons = Vec::new();
    for h in ["agt-a", "agt-b"] {
        let env = vec![
            ("DRBD_UBLK_RUN_DIR".to_string(), d.join(format!("run-{h}")).display().to_string()),
            ("DRBD_UBLK_DEV_ROOT".to_string(), d.join(format!("dev-{h}")).display().to_string()),
            ("DRBD_UBLK_HOSTNAME".to_string(), h.to_string()),
        ];
        let md = Command::new(&lab.adm)
            .arg("-c")
            .arg(&lab.conf)
            .args(["create-md", "wwwdata"])
            .envs(env.iter().cloned())
            .output()
            .unwrap();
        assert!(md.status.success(), "{}", String::from_utf8_lossy(&md.stderr));
        let log = std::fs::File::create(d.join(format!("daemon-{h}.log"))).unwrap();
        let child = Command::new(&lab.daemon_bin)
            .arg("--config")
            .arg(&lab.conf)
            .arg("--hostname")
            .arg(h)
            .envs(env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        daemons.push(Daemon { bin: lab.daemon_bin.clone(), child, env: env.clone() });
        let sock = d.join(format!("run-{h}/ctl.sock"));
        let t0 = Instant::now();
        while !sock.exists() && t0.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(sock.exists(), "{h} daemon socket");
        std::fs::create_dir_all(d.join(format!("state-{h}"))).unwrap();
        let bin = d.join(format!("bin-{h}"));
        std::fs::create_dir_all(&bin).unwrap();
        std::os::unix::fs::symlink(&lab.adm, bin.join("drbdadm")).unwrap();
        let stand_in = bin.join("crm_attribute");
        let state = d.join(format!("state-{h}")).display().to_string();
        std::fs::write(&stand_in, CRM_ATTRIBUTE.replace("@STATE@", &state)).unwrap();
        std::fs::set_permissions(&stand_in, std::fs::Permissions::from_mode(0o755)).unwrap();
        let runner = ProcessRunner::new(ExecConfig {
            ocf_root: d.join("ocf"),
            path_prefix: vec![bin.clone()],
            sbin_dir: Some(bin),
            rsctmp: d.join("rsctmp"),
            node_name: Some(h.into()),
            extra_env: env.clone(),
            ..ExecConfig::default()
        });
        peers.push(Peer { env, runner });
    }
    let req = |action: &str| {
        let mut q = AgentRequest::ocf("WebData", "drbd-ublk", "drbd", action)
            .with_param("drbd_resource", "wwwdata")
            .with_param("drbdconf", &lab.conf.display().to_string());
        for (k, v) in [
            ("clone_max", "2"),
            ("clone_node_max", "1"),
            ("notify", "true"),
            ("promotable", "true"),
        ] {
            q = q.with_meta(k, v);
        }
        q
    };
    let score = |h: &str| {
        std::fs::read_to_string(d.join(format!("state-{h}/score")))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let adm = |p: &Peer, args: &[&str]| {
        let o = Command::new(&lab.adm)
            .arg("-c")
            .arg(&lab.conf)
            .args(args)
            .envs(p.env.iter().cloned())
            .output()
            .unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).into_owned())
    };
    for p in peers.iter_mut() {
        assert_eq!(run(&mut p.runner, req("start")).0, 0);
    }
    // Initial sync forced from agt-a, as the walkthrough does by hand.
    assert_eq!(adm(&peers[0], &["primary", "--force", "wwwdata"]).0, 0);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        if adm(&peers[1], &["dstate", "wwwdata"]).1 == "UpToDate/UpToDate\n" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        adm(&peers[1], &["dstate", "wwwdata"]).1,
        "UpToDate/UpToDate\n",
        "initial sync done"
    );
    assert_eq!(run(&mut peers[0].runner, req("demote")).0, 0);
    for (i, h) in ["agt-a", "agt-b"].into_iter().enumerate() {
        assert_eq!(run(&mut peers[i].runner, req("monitor").with_interval_ms(20_000)).0, 0, "{h}");
        assert_eq!(score(h), "10000", "{h}: UpToDate, connected to an UpToDate peer");
    }
    // Pacemaker promotes agt-b.
    assert_eq!(run(&mut peers[1].runner, req("promote")).0, 0);
    assert_eq!(run(&mut peers[1].runner, req("monitor").with_interval_ms(10_000)).0, 8);
    assert_eq!(run(&mut peers[0].runner, req("monitor").with_interval_ms(20_000)).0, 0);
    let mut post = req("notify");
    post.notify = Some(cluster_core::exec::types::NotifyVars {
        notify_type: "post".into(),
        operation: "promote".into(),
        promote: vec![("WebData:1".into(), "agt-b".into())],
        ..Default::default()
    });
    assert_eq!(run(&mut peers[0].runner, post).0, 0);
    assert_eq!(run(&mut peers[1].runner, req("demote")).0, 0);
    for p in peers.iter_mut().rev() {
        assert_eq!(run(&mut p.runner, req("stop")).0, 0);
        assert_eq!(run(&mut p.runner, req("monitor")).0, 7);
    }
    assert_eq!((score("agt-a"), score("agt-b")), (String::new(), String::new()));
    drop(daemons);
}

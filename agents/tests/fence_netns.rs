//! fence_netns run as a real fence agent by the executor's stonith class, against a network
//! namespace the test creates (a veth pair inside it and processes running in it).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use cluster_core::exec::{
    AgentClass, AgentRequest, ExecConfig, ExecStatus, OcfExit, ProcessRunner,
};

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("spawn");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespace, deleted (with anything left in it) on drop.
struct Ns(String);
impl Drop for Ns {
    fn drop(&mut self) {
        if let Ok(o) = Command::new("ip").args(["netns", "pids", &self.0]).output() {
            for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-KILL", p]).output();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn links_up(ns: &str) -> Vec<(String, bool)> {
    sh(&["ip", "-n", ns, "-o", "link", "show", "type", "veth"])
        .lines()
        .filter_map(agents::fence_netns::parse_link_line)
        .map(|l| (l.name, l.up))
        .collect()
}

fn gone(pid: u32) -> bool {
    for _ in 0..1000 {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn fence_netns_through_executor() {
    let name = format!("rexec-fn-{}", std::process::id());
    let _ = Command::new("ip").args(["netns", "del", &name]).output();
    sh(&["ip", "netns", "add", &name]);
    let ns = Ns(name.clone());
    sh(&["ip", "-n", &ns.0, "link", "add", "rxfa", "type", "veth", "peer", "name", "rxfb"]);
    sh(&["ip", "-n", &ns.0, "addr", "add", "10.213.92.1/24", "dev", "rxfa"]);
    for d in ["rxfa", "rxfb", "lo"] {
        sh(&["ip", "-n", &ns.0, "link", "set", d, "up"]);
    }
    // A "node": a shell in the namespace with a background child of its own.
    let pidfile = std::env::temp_dir().join(format!("rexec-fn-{}.pid", std::process::id()));
    let script = format!("sleep 301 & echo $! > {}; exec sleep 300", pidfile.display());
    let mut node = Command::new("ip")
        .args(["netns", "exec", &ns.0, "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut grandchild = None;
    for _ in 0..200 {
        if let Ok(s) = std::fs::read_to_string(&pidfile) {
            if let Ok(p) = s.trim().parse::<u32>() {
                grandchild = Some(p);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = std::fs::remove_file(&pidfile);
    let grandchild = grandchild.expect("grandchild pid");
    assert!(sh(&["ip", "netns", "pids", &ns.0]).split_whitespace().count() >= 2);

    let bin = PathBuf::from(env!("CARGO_BIN_EXE_fence_netns"));
    let cfg = ExecConfig {
        fence_dirs: vec![bin.parent().unwrap().to_path_buf()],
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let dev = AgentRequest::new("f-netns", AgentClass::Stonith, "fence_netns", "monitor")
        .with_param("pcmk_host_list", "node1")
        .with_param("pcmk_host_map", &format!("node1:{}", ns.0))
        .with_timeout_ms(20_000);
    let fence = |r: &mut ProcessRunner, action: &str| {
        let mut q = dev.for_action(action, 0);
        q.fence_target = Some("node1".to_string());
        r.run(q)
    };

    // Device start = monitor; metadata; list.
    assert_eq!(r.run(dev.for_action("start", 0)).rc, OcfExit::Ok);
    let stop = r.run(dev.for_action("stop", 0));
    assert_eq!((stop.rc, stop.status, stop.exit_reason), (OcfExit::Ok, ExecStatus::Done, None));
    let md = r.run(dev.for_action("meta-data", 0));
    assert_eq!(md.rc, OcfExit::Ok);
    assert!(md.stdout.contains("<resource-agent name=\"fence_netns\""), "{}", md.stdout);
    let parsed =
        cluster_core::exec::metadata::AgentMetadata::parse("fence_netns", &md.stdout).unwrap();
    assert!(parsed.param("plug").unwrap().required);
    for a in ["on", "off", "reboot", "status", "monitor", "list", "metadata"] {
        assert!(parsed.has_action(a), "{a}");
    }
    let list = r.run(dev.for_action("list", 0));
    assert!(list.stdout.lines().any(|l| l == format!("{},", ns.0)), "{}", list.stdout);

    // status: on (rc 0).
    let st = fence(&mut r, "status");
    assert_eq!((st.rc, st.status), (OcfExit::Ok, ExecStatus::Done), "{st:?}");
    assert_eq!(st.stdout.trim(), "Status: ON");

    // off: every process in the namespace dies and the veth links go down.
    let off = fence(&mut r, "off");
    assert_eq!(off.rc, OcfExit::Ok, "{off:?}");
    let exit = node.wait().unwrap();
    assert!(!exit.success(), "the node's main process was killed: {exit:?}");
    assert!(gone(grandchild), "grandchild {grandchild} survived fencing");
    assert_eq!(sh(&["ip", "netns", "pids", &ns.0]).trim(), "");
    assert!(links_up(&ns.0).iter().all(|(_, up)| !up), "{:?}", links_up(&ns.0));
    let st = fence(&mut r, "status");
    assert_eq!(st.rc, OcfExit::NotRunning, "status off maps to 2 -> not running: {st:?}");
    assert_eq!(st.raw_exit, Some(2));

    // on, then reboot.
    assert_eq!(fence(&mut r, "on").rc, OcfExit::Ok);
    assert!(links_up(&ns.0).iter().all(|(_, up)| *up));
    assert_eq!(fence(&mut r, "status").rc, OcfExit::Ok);
    let mut again =
        Command::new("ip").args(["netns", "exec", &ns.0, "sleep", "300"]).spawn().unwrap();
    let rb = fence(&mut r, "reboot");
    assert_eq!(rb.rc, OcfExit::Ok, "{rb:?}");
    assert!(!again.wait().unwrap().success());
    assert!(links_up(&ns.0).iter().all(|(_, up)| *up), "reboot ends powered on");

    // Unknown target and unknown action fail with rc 1.
    let mut q = dev.for_action("off", 0);
    q.fence_target = Some("node9".to_string());
    let res = r.run(q);
    assert_eq!(res.rc, OcfExit::ErrGeneric);
    assert!(res.stderr.contains("does not exist"), "{res:?}");
    assert_eq!(fence(&mut r, "frobnicate").rc, OcfExit::ErrGeneric);

    // The command-line form for humans.
    let out = Command::new(&bin).args(["-o", "status", "-n", &ns.0]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Status: ON");
}

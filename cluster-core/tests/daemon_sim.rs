//! The `clusterd` loop ([`Daemon`]) over the in-process membership ([`SimHub`]) with real
//! agent processes: two daemons in one test process, each with its own state and run
//! directories. Covers what the corosync test cannot without a fence device: the saved CIB
//! loaded at start, group frames between daemons, fencing a lost node through a stonith
//! device's agent (a small fence agent script that records its requests), the saved CIB
//! following the cluster's, and the local socket (`QUERY`, `REPLACE`, a refused request).

// Real processes: the driver reads the wall clock.
#![allow(clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cluster_core::cib::xml::Element;
use cluster_core::daemon::proto::{call, Request};
use cluster_core::daemon::{Daemon, Paths};
use cluster_core::exec::{ExecConfig, ProcessRunner};
use cluster_core::membership::sim::{QuorumOptions, SimHub, SimMembership};

const CIB: &str = r#"<cib admin_epoch="0" epoch="5" num_updates="0">
  <configuration>
    <crm_config>
      <cluster_property_set id="opts">
        <nvpair id="opts-stonith" name="stonith-enabled" value="true"/>
        <nvpair id="opts-quorum" name="no-quorum-policy" value="ignore"/>
      </cluster_property_set>
    </crm_config>
    <nodes/>
    <resources>
      <primitive id="rcds-fence" class="stonith" type="fence_rcdstest">
        <instance_attributes id="rcds-fence-ia">
          <nvpair id="rcds-fence-ia-log" name="logfile" value="LOG"/>
        </instance_attributes>
      </primitive>
    </resources>
    <constraints/>
  </configuration>
  <status/>
</cib>"#;

/// A fence agent that appends each request (stdin) to the `logfile` option and succeeds.
const AGENT: &str =
    "#!/bin/sh\nin=$(cat)\nlog=$(printf '%s\\n' \"$in\" | sed -n 's/^logfile=//p')\n\
                     printf '%s\\n--\\n' \"$in\" >> \"$log\"\nexit 0\n";

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn paths(root: &Path, i: u32) -> Paths {
    Paths { state_dir: root.join(format!("n{i}/state")), run_dir: root.join(format!("n{i}/run")) }
}

fn daemon(hub: &SimHub, root: &Path, i: u32) -> Daemon<SimMembership> {
    let cfg = ExecConfig {
        rsctmp: root.join(format!("n{i}/rsctmp")),
        fence_dirs: vec![root.join("fence")],
        kill_grace_ms: 500,
        ..ExecConfig::default()
    };
    Daemon::new(hub.join(i).unwrap(), &format!("rcds{i}"), paths(root, i), ProcessRunner::new(cfg))
        .unwrap()
}

fn drive(
    ds: &mut [&mut Daemon<SimMembership>],
    secs: u64,
    what: &str,
    mut done: impl FnMut(&[&mut Daemon<SimMembership>]) -> bool,
) {
    let t0 = Instant::now();
    while !done(ds) {
        for d in ds.iter_mut() {
            d.round().unwrap();
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn daemons_share_the_cib_answer_the_socket_and_fence_a_lost_node() {
    let root = std::env::temp_dir().join(format!("rcds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let _tmp = Tmp(root.clone());
    std::fs::create_dir_all(root.join("fence")).unwrap();
    let agent = root.join("fence/fence_rcdstest");
    std::fs::write(&agent, AGENT).unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755)).unwrap();
    let log = root.join("fenced.log");
    // Node 1 starts from a saved CIB; node 2 from nothing.
    std::fs::create_dir_all(root.join("n1/state")).unwrap();
    std::fs::write(root.join("n1/state/cib.xml"), CIB.replace("LOG", log.to_str().unwrap()))
        .unwrap();

    let hub = SimHub::new(
        &[(1, "rcds1"), (2, "rcds2")],
        QuorumOptions { two_node: true, wait_for_all: true },
    );
    let mut d1 = daemon(&hub, &root, 1);
    let mut d2 = daemon(&hub, &root, 2);
    drive(&mut [&mut d1, &mut d2], 20, "one CIB, node 1 as DC, nothing running", |ds| {
        ds.iter().all(|d| d.controller().dc() == Some(1))
            && ds[0].controller().is_idle()
            && ds[0].controller().cib() == ds[1].controller().cib()
    });
    let epoch = |d: &Daemon<SimMembership>| {
        d.controller().cib().attr("epoch").unwrap().parse::<u64>().unwrap()
    };
    let e0 = epoch(&d1);
    assert!(e0 >= 5, "the saved CIB (epoch 5) won the join");
    // Node 2 saved the cluster's CIB.
    let saved = std::fs::read_to_string(root.join("n2/state/cib.xml")).unwrap();
    assert!(saved.contains("rcds-fence"), "{saved}");

    // The socket, from a client thread while the loop runs.
    let sock = paths(&root, 2).run_dir.join("cib.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "root-only socket");
    let client = std::thread::spawn(move || {
        let q = call(&sock, &Request::Query).unwrap();
        let mut cib = Element::parse(&q).unwrap();
        let conf = cib.child_mut("configuration").unwrap();
        conf.child_mut("crm_config").unwrap().children[0].children.push(
            Element::new("nvpair")
                .with_attr("id", "opts-delay")
                .with_attr("name", "cluster-delay")
                .with_attr("value", "30s"),
        );
        let replaced = call(&sock, &Request::Replace(conf.to_compact_string()));
        let bad = call(&sock, &Request::Replace("<nodes/>".into()));
        // A raw unknown request.
        let mut s = std::os::unix::net::UnixStream::connect(&sock).unwrap();
        cluster_core::daemon::proto::write_frame(&mut s, b"FROB").unwrap();
        let unknown = cluster_core::daemon::proto::read_frame(&mut s);
        (replaced, bad, unknown)
    });
    drive(&mut [&mut d1, &mut d2], 20, "the client", |_| client.is_finished());
    let (replaced, bad, unknown) = client.join().unwrap();
    replaced.expect("REPLACE through node 2 accepted once applied");
    assert!(bad.unwrap_err().to_string().contains("root is <nodes>"));
    assert!(unknown.unwrap().starts_with("ERR unknown request"));
    for d in [&d1, &d2] {
        assert_eq!(epoch(d), e0 + 1, "applied cluster-wide");
        assert!(d.controller().cib().find_id("opts-delay").is_some());
    }

    // Node 2's corosync dies: node 1 (DC, quorate with two_node) fences it with the device.
    hub.stop_corosync(2);
    drop(d2);
    drive(&mut [&mut d1], 30, "node 2 fenced", |_| {
        std::fs::read_to_string(&log).unwrap_or_default().contains("nodename=rcds2")
    });
    let fenced = std::fs::read_to_string(&log).unwrap();
    assert!(fenced.contains("action=reboot"), "{fenced}");
    // The device options reach the agent, the pcmk_* ones do not.
    assert!(fenced.contains("logfile="), "{fenced}");
}

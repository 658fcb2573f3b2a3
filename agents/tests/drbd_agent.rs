//! The drbd-ublk OCF agent run by the executor with Pacemaker's exact OCF environment.
//!
//! `drbdadm` and `crm_attribute` are stand-in shell scripts in a temp directory put first in
//! `PATH` and used as `HA_SBIN_DIR`: the stand-in drbdadm keeps the device state in files (the
//! drbd-ublkd daemon that really carries `up`/`primary` out is not available yet), the
//! stand-in crm_attribute records every call and keeps the promotion score (our own
//! crm_attribute is being built separately). A test with the real `drbdadm` of this
//! workspace checks the "daemon not running" answer.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cluster_core::exec::metadata::AgentMetadata;
use cluster_core::exec::types::NotifyVars;
use cluster_core::exec::{AgentRequest, ExecConfig, ExecStatus, ProcessRunner};

/// A temp lab: OCF root with the agent installed, stand-in tools, a DRBD config. Removed on drop.
struct Lab {
    dir: PathBuf,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const DRBDADM: &str = r#"#!/bin/sh
S=@STATE@
echo "$*" >> $S/drbdadm.log
[ "$1" = -c ] && shift 2
cmd=$1; res=$2
if [ -e $S/daemon-down ]; then
  echo "drbdadm: cannot $cmd $res: drbd-ublkd is not running (no control socket at /run/drbd-ublk/control.sock)" >&2
  exit 20
fi
f=$S/res-$res
case $cmd in
  up) [ -e $f.role ] && { echo "$res: already up" >&2; exit 10; }
      echo Secondary > $f.role; cp $S/initial-disk $f.disk; echo WFConnection > $f.cstate ;;
  down) rm -f $f.role $f.disk $f.cstate ;;
  role) [ -e $f.role ] || { echo "$res: No such resource" >&2; exit 10; }; echo "$(cat $f.role)/Unknown" ;;
  dstate) [ -e $f.disk ] || { echo "$res: No such resource" >&2; exit 10; }; echo "$(cat $f.disk)/DUnknown" ;;
  cstate) [ -e $f.cstate ] || { echo "$res: No such resource" >&2; exit 10; }; cat $f.cstate ;;
  primary) [ "$(cat $f.disk)" = UpToDate ] || { echo "1: State change failed: (-2) Need access to UpToDate data" >&2; exit 17; }
      echo Primary > $f.role ;;
  secondary) echo Secondary > $f.role ;;
  connect) echo WFConnection > $f.cstate ;;
  *) echo "unknown $cmd" >&2; exit 3 ;;
esac
"#;

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

impl Lab {
    fn new(tag: &str) -> Lab {
        let dir = std::env::temp_dir().join(format!("agent-drbd-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for d in ["ocf/resource.d/drbd-ublk", "bin", "state", "etc/drbd.d", "rsctmp"] {
            std::fs::create_dir_all(dir.join(d)).unwrap();
        }
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_drbd-ublk-ocf"),
            dir.join("ocf/resource.d/drbd-ublk/drbd"),
        )
        .unwrap();
        let state = dir.join("state").display().to_string();
        for (name, text) in [("drbdadm", DRBDADM), ("crm_attribute", CRM_ATTRIBUTE)] {
            let p = dir.join("bin").join(name);
            std::fs::write(&p, text.replace("@STATE@", &state)).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(dir.join("state/initial-disk"), "UpToDate\n").unwrap();
        std::fs::write(dir.join("etc/drbd.conf"), "include \"drbd.d/*.res\";\n").unwrap();
        std::fs::write(
            dir.join("etc/drbd.d/wwwdata.res"),
            "resource wwwdata {\n protocol C;\n on node1 { device /dev/drbd1; disk /tmp/x1; address 127.0.0.1:7789; meta-disk internal; }\n on node2 { device /dev/drbd1; disk /tmp/x2; address 127.0.0.2:7789; meta-disk internal; }\n}\n",
        )
        .unwrap();
        Lab { dir }
    }

    fn conf(&self) -> String {
        self.dir.join("etc/drbd.conf").display().to_string()
    }

    fn runner(&self) -> ProcessRunner {
        let cfg = ExecConfig {
            ocf_root: self.dir.join("ocf"),
            path_prefix: vec![self.dir.join("bin")],
            sbin_dir: Some(self.dir.join("bin")),
            rsctmp: self.dir.join("rsctmp"),
            node_name: Some("node1".into()),
            extra_env: vec![
                ("DRBD_UBLK_HOSTNAME".into(), "node1".into()),
                ("DRBD_UBLK_RUN_DIR".into(), self.dir.join("run").display().to_string()),
                ("DRBD_UBLK_DEV_ROOT".into(), self.dir.join("dev").display().to_string()),
            ],
            ..ExecConfig::default()
        };
        ProcessRunner::new(cfg)
    }

    fn state(&self, f: &str) -> String {
        std::fs::read_to_string(self.dir.join("state").join(f)).unwrap_or_default()
    }

    fn set_state(&self, f: &str, v: &str) {
        std::fs::write(self.dir.join("state").join(f), v).unwrap();
    }
}

/// The clone meta Pacemaker passes for `ms WebDataClone WebData meta master-max=1
/// master-node-max=1 clone-max=2 clone-node-max=1 notify=true`.
fn clone_meta(r: AgentRequest) -> AgentRequest {
    let mut r = r;
    for (k, v) in [
        ("clone", "0"),
        ("clone_max", "2"),
        ("clone_node_max", "1"),
        ("globally_unique", "false"),
        ("notify", "true"),
        ("promotable", "true"),
        ("master_max", "1"),
        ("master_node_max", "1"),
        ("promoted_max", "1"),
        ("promoted_node_max", "1"),
    ] {
        r = r.with_meta(k, v);
    }
    r
}

fn req(lab: &Lab, action: &str) -> AgentRequest {
    clone_meta(
        AgentRequest::ocf("WebData", "drbd-ublk", "drbd", action)
            .with_param("drbd_resource", "wwwdata")
            .with_param("drbdconf", &lab.conf()),
    )
}

fn run(r: &mut ProcessRunner, q: AgentRequest) -> (i32, Option<String>) {
    let res = r.run(q);
    assert_eq!(res.status, ExecStatus::Done, "{res:?}");
    (res.rc.code(), res.exit_reason)
}

#[test]
fn drbd_metadata_parses_and_declares_the_interface() {
    let lab = Lab::new("md");
    let mut r = lab.runner();
    let res = r.run(AgentRequest::ocf("WebData", "drbd-ublk", "drbd", "meta-data"));
    assert_eq!(res.rc.code(), 0);
    assert!(res
        .stdout
        .starts_with("<?xml version=\"1.0\"?>\n<!DOCTYPE resource-agent SYSTEM \"ra-api-1.dtd\">"));
    let md = AgentMetadata::parse("drbd", &res.stdout).expect("meta-data parses");
    let p = md.param("drbd_resource").expect("drbd_resource");
    assert!(p.required);
    assert_eq!(md.param("drbdconf").unwrap().default.as_deref(), Some("/etc/drbd.conf"));
    assert_eq!(
        md.param("adjust_master_score").unwrap().default.as_deref(),
        Some("0 10 1000 10000")
    );
    for a in
        ["start", "stop", "monitor", "promote", "demote", "notify", "meta-data", "validate-all"]
    {
        assert!(md.has_action(a), "{a}");
    }
    // The XML is also valid against the OCF 1.0 DTD when xmllint and the DTD are installed.
    let dtd = Path::new("/usr/share/resource-agents/ra-api-1.dtd");
    if dtd.exists() && Path::new("/usr/bin/xmllint").exists() {
        let f = lab.dir.join("md.xml");
        std::fs::write(&f, &res.stdout).unwrap();
        let o = std::process::Command::new("xmllint")
            .args(["--noout", "--dtdvalid"])
            .arg(dtd)
            .arg(&f)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

#[test]
fn drbd_validate_all_errors() {
    let lab = Lab::new("val");
    let mut r = lab.runner();
    // Missing drbd_resource: fatal configuration error.
    let q = clone_meta(AgentRequest::ocf("WebData", "drbd-ublk", "drbd", "validate-all"));
    let (rc, why) = run(&mut r, q);
    assert_eq!(rc, 6);
    assert!(why.unwrap().contains("drbd_resource"));
    // A resource the configuration does not define for this host.
    let q = req(&lab, "validate-all").with_param("drbd_resource", "nosuch");
    let (rc, why) = run(&mut r, q);
    assert_eq!(rc, 6);
    assert!(why.unwrap().contains("'nosuch' is not defined"));
    // A probe of that resource: simply not running here.
    let q = req(&lab, "monitor").with_param("drbd_resource", "nosuch");
    assert_eq!(run(&mut r, q).0, 7);
    // The configuration file missing: not installed on this host.
    let q = req(&lab, "validate-all").with_param("drbdconf", "/nonexistent/agent-drbd.conf");
    assert_eq!(run(&mut r, q).0, 5);
    // A configuration with a syntax error.
    std::fs::write(
        lab.dir.join("etc/drbd.d/bad.res"),
        "resource bad {\n net { protocoll C; }\n}\n",
    )
    .unwrap();
    let (rc, why) = run(&mut r, req(&lab, "validate-all"));
    assert_eq!(rc, 6);
    assert!(why.unwrap().contains("bad.res:2"));
    std::fs::remove_file(lab.dir.join("etc/drbd.d/bad.res")).unwrap();
    // Clone meta checks.
    assert_eq!(run(&mut r, req(&lab, "validate-all")).0, 0);
    let (rc, why) = run(&mut r, req(&lab, "validate-all").with_meta("clone_max", "3"));
    assert_eq!((rc, why.unwrap().contains("clone-max")), (6, true));
    let (rc, _) = run(&mut r, req(&lab, "validate-all").with_meta("clone_node_max", "2"));
    assert_eq!(rc, 6);
    let (rc, why) = run(&mut r, req(&lab, "validate-all").with_meta("promoted_max", "2"));
    assert_eq!((rc, why.unwrap().contains("allow-two-primaries")), (6, true));
    let mut plain = req(&lab, "start");
    plain.meta.remove("promotable");
    plain.meta.remove("promoted_max");
    plain.meta.remove("master_max");
    let (rc, why) = run(&mut r, plain);
    assert_eq!((rc, why.unwrap().contains("promotable")), (6, true));
    let (rc, why) = run(&mut r, req(&lab, "start").with_meta("notify", "false"));
    assert_eq!((rc, why.unwrap().contains("notify=true")), (6, true));
    assert!(lab.state("drbdadm.log").is_empty(), "nothing was run: {}", lab.state("drbdadm.log"));
    let q = req(&lab, "start")
        .with_meta("notify", "false")
        .with_param("ignore_missing_notifications", "true");
    assert_eq!(run(&mut r, q).0, 0);
    // Bad adjust_master_score.
    let (rc, _) = run(&mut r, req(&lab, "validate-all").with_param("adjust_master_score", "1 2 x"));
    assert_eq!(rc, 6);
}

#[test]
fn drbd_monitor_of_stopped_resource_is_7() {
    let lab = Lab::new("mon7");
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 7);
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 7);
    // Daemon not running: not running as well (probe and recurring).
    lab.set_state("daemon-down", "");
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 7);
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 7);
    // stop of a stopped resource succeeds.
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
    // ... while start cannot succeed and says why.
    let (rc, why) = run(&mut r, req(&lab, "start"));
    assert_eq!(rc, 1);
    assert!(why.unwrap().contains("drbd-ublkd is not running"));
}

#[test]
fn drbd_monitor_with_real_drbdadm_without_daemon() {
    // The workspace's drbdadm sits next to the agent binary when the tools crate was built.
    let bin = Path::new(env!("CARGO_BIN_EXE_drbd-ublk-ocf")).with_file_name("drbdadm");
    if !bin.exists() {
        eprintln!("skipped: {} not built (cargo build -p tools)", bin.display());
        return;
    }
    let lab = Lab::new("real");
    std::fs::remove_file(lab.dir.join("bin/drbdadm")).unwrap();
    std::os::unix::fs::symlink(&bin, lab.dir.join("bin/drbdadm")).unwrap();
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 7);
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 7);
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
    let (rc, why) = run(&mut r, req(&lab, "start"));
    assert_eq!(rc, 1);
    assert!(why.unwrap().contains("drbd-ublkd is not running"));
}

fn calls(lab: &Lab) -> Vec<String> {
    lab.state("crm_attribute.log").lines().map(str::to_string).collect()
}

#[test]
fn drbd_lifecycle_with_promotion_scores() {
    let lab = Lab::new("life");
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 7, "probe");
    assert_eq!(run(&mut r, req(&lab, "start")).0, 0);
    assert!(lab.state("drbdadm.log").contains(&format!("-c {} up wwwdata", lab.conf())));
    // UpToDate, peer unknown: local-ok score 1000, set through crm_attribute --promotion.
    assert_eq!(lab.state("score").trim(), "1000");
    assert!(
        calls(&lab).contains(&"WebData --promotion -Q -l reboot -v 1000".to_string()),
        "{:?}",
        calls(&lab)
    );
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 0);
    // Unchanged score: only read, not written again.
    let sets = calls(&lab).iter().filter(|c| c.contains(" -v ")).count();
    assert_eq!(sets, 1);
    // Start again: idempotent, no second `up`.
    assert_eq!(run(&mut r, req(&lab, "start")).0, 0);
    assert_eq!(lab.state("drbdadm.log").matches(" up ").count(), 1);
    // Peer connects with UpToDate data: as-good-as-it-gets after a post-start notification.
    lab.set_state("res-wwwdata.cstate", "Connected\n");
    let mut n = NotifyVars {
        notify_type: "post".into(),
        operation: "start".into(),
        start: vec![("WebData:1".into(), "node2".into())],
        active: vec![("WebData:0".into(), "node1".into())],
        all_uname: vec!["node1".into(), "node2".into()],
        available_uname: vec!["node1".into(), "node2".into()],
        ..NotifyVars::default()
    };
    let mut q = req(&lab, "notify");
    q.notify = Some(n.clone());
    assert_eq!(run(&mut r, q).0, 0);
    // The stand-in reports the peer disk as DUnknown, so still 1000; the score is only
    // rewritten when it changes.
    assert_eq!(lab.state("score").trim(), "1000");
    assert_eq!(run(&mut r, req(&lab, "promote")).0, 0);
    assert!(lab.state("drbdadm.log").contains("primary wwwdata"));
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(10_000)).0, 8);
    assert_eq!(lab.state("score").trim(), "10000", "Primary with UpToDate data");
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 8, "probe of a Primary");
    assert_eq!(run(&mut r, req(&lab, "promote")).0, 0, "promote of a Primary");
    n.notify_type = "pre".into();
    n.operation = "demote".into();
    let mut q = req(&lab, "notify");
    q.notify = Some(n);
    assert_eq!(run(&mut r, q).0, 0);
    assert_eq!(run(&mut r, req(&lab, "demote")).0, 0);
    assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 0);
    assert_eq!(run(&mut r, req(&lab, "demote")).0, 0, "demote of a Secondary");
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
    assert!(lab.state("drbdadm.log").contains("down wwwdata"));
    assert_eq!(run(&mut r, req(&lab, "monitor")).0, 7);
    assert!(lab.state("score").is_empty(), "score removed on stop");
    assert!(calls(&lab).contains(&"WebData --promotion -l reboot -D".to_string()));
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0, "stop is idempotent");
}

#[test]
fn drbd_refuses_to_promote_inconsistent_or_outdated_data() {
    for disk in ["Inconsistent", "Outdated"] {
        let lab = Lab::new(&format!("inc-{disk}"));
        lab.set_state("initial-disk", &format!("{disk}\n"));
        let mut r = lab.runner();
        assert_eq!(run(&mut r, req(&lab, "start")).0, 0);
        assert!(lab.state("score").is_empty(), "no promotion score for {disk}");
        let (rc, why) = run(&mut r, req(&lab, "promote"));
        assert_eq!(rc, 1);
        let why = why.unwrap();
        assert!(why.contains("refusing to promote wwwdata") && why.contains(disk), "{why}");
        assert!(!lab.state("drbdadm.log").contains("primary"), "drbdadm primary never run");
        assert_eq!(run(&mut r, req(&lab, "monitor").with_interval_ms(20_000)).0, 0);
        // Consistent data gets the only-consistent score (0 by default, here 5).
        lab.set_state("res-wwwdata.disk", "Consistent\n");
        let q = req(&lab, "monitor")
            .with_interval_ms(20_000)
            .with_param("adjust_master_score", "5 10 1000 10000");
        assert_eq!(run(&mut r, q).0, 0);
        assert_eq!(lab.state("score").trim(), "5");
        assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
    }
}

#[test]
fn drbd_old_feature_set_uses_crm_master() {
    let lab = Lab::new("master");
    let p = lab.dir.join("bin/crm_master");
    std::fs::write(
        &p,
        CRM_ATTRIBUTE.replace("@STATE@", &lab.dir.join("state").display().to_string()),
    )
    .unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "start").with_param("crm_feature_set", "3.0.14")).0, 0);
    assert!(calls(&lab).contains(&"WebData -Q -l reboot -v 1000".to_string()), "{:?}", calls(&lab));
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
}

#[test]
fn drbd_unknown_action_is_unimplemented() {
    let lab = Lab::new("unimpl");
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "migrate_to")).0, 3);
}

#[test]
fn drbd_notify_pre_start_of_peer_connects_a_standalone_node() {
    let lab = Lab::new("notify");
    let mut r = lab.runner();
    assert_eq!(run(&mut r, req(&lab, "start")).0, 0);
    lab.set_state("res-wwwdata.cstate", "StandAlone\n");
    let n = NotifyVars {
        notify_type: "pre".into(),
        operation: "start".into(),
        start: vec![("WebData:1".into(), "node2".into())],
        active: vec![("WebData:0".into(), "node1".into())],
        ..NotifyVars::default()
    };
    // Our own start announced: nothing to do.
    let mut own = n.clone();
    own.start = vec![("WebData:0".into(), "node1".into())];
    let mut q = req(&lab, "notify");
    q.notify = Some(own);
    assert_eq!(run(&mut r, q).0, 0);
    assert!(!lab.state("drbdadm.log").contains("connect"));
    let mut q = req(&lab, "notify");
    q.notify = Some(n);
    assert_eq!(run(&mut r, q).0, 0);
    assert!(lab.state("drbdadm.log").contains("connect wwwdata"));
    assert_eq!(lab.state("res-wwwdata.cstate"), "WFConnection\n");
    // Notify of a stopped resource, or with the daemon gone: still 0.
    assert_eq!(run(&mut r, req(&lab, "stop")).0, 0);
    let mut q = req(&lab, "notify");
    q.notify = Some(NotifyVars {
        notify_type: "post".into(),
        operation: "stop".into(),
        ..NotifyVars::default()
    });
    assert_eq!(run(&mut r, q).0, 0);
}

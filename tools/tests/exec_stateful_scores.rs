//! Debian's `ocf:pacemaker:Stateful` run through our executor with our own `crm_attribute` as
//! its `$HA_SBIN_DIR/crm_attribute`: the promotion scores the agent sets on start, promote,
//! demote and stop land as transient `master-<rsc>` attributes in the CIB file named by
//! `CIB_file`, and `crm_attribute --promotion -G -q` reads them back.

use std::path::{Path, PathBuf};
use std::process::Command;

use cluster_core::cib::Element;
use cluster_core::exec::{AgentRequest, CloneInstance, ExecConfig, OcfExit, ProcessRunner};

/// A temporary directory removed on drop (also when an assertion fails).
struct Tmp(PathBuf);

impl Tmp {
    fn new() -> Tmp {
        let p = std::env::temp_dir().join(format!("execstateful-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CIB: &str = r#"<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="3" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes>
      <node id="1" uname="node1"/>
    </nodes>
    <resources>
      <clone id="st-clone">
        <meta_attributes id="st-clone-meta_attributes">
          <nvpair id="st-clone-meta_attributes-promotable" name="promotable" value="true"/>
        </meta_attributes>
        <primitive id="st" class="ocf" provider="pacemaker" type="Stateful">
          <operations>
            <op id="st-monitor-10s" name="monitor" interval="10s" role="Unpromoted"/>
            <op id="st-monitor-11s" name="monitor" interval="11s" role="Promoted"/>
          </operations>
        </primitive>
      </clone>
    </resources>
    <constraints/>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
  </status>
</cib>
"#;

/// The value of transient attribute `name` of node `1` in the CIB file, if set.
fn transient(cib_file: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(cib_file).unwrap();
    let cib = Element::parse(&text).unwrap();
    let state = cib.path(&["status"])?.children.iter().find(|n| n.id() == Some("1"))?;
    let mut found = None;
    state.child("transient_attributes")?.walk(&mut |e| {
        if e.name == "nvpair" && e.attr("name") == Some(name) {
            found = e.attr("value").map(str::to_string);
        }
    });
    found
}

/// `crm_attribute --promotion -G -q` as an agent runs it (instance and node from the
/// environment), through our binary.
fn query_score(cib_file: &Path, rsc: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_crm_attribute"))
        .args(["--promotion", "-G", "-q"])
        .env("CIB_file", cib_file)
        .env("OCF_RESOURCE_INSTANCE", rsc)
        .env("OCF_RESKEY_CRM_meta_on_node", "node1")
        .env_remove("CIB_shadow")
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn exec_stateful_promotion_scores_in_cib() {
    let tmp = Tmp::new();
    let cib_file = tmp.0.join("cib.xml");
    std::fs::write(&cib_file, CIB).unwrap();
    let sbin = Path::new(env!("CARGO_BIN_EXE_crm_attribute")).parent().unwrap().to_path_buf();
    let cfg = ExecConfig {
        sbin_dir: Some(sbin.clone()),
        path_prefix: vec![sbin],
        node_name: Some("node1".into()),
        rsctmp: tmp.0.join("rsctmp"),
        extra_env: vec![("CIB_file".into(), cib_file.to_str().unwrap().into())],
        ..ExecConfig::default()
    };
    let mut r = ProcessRunner::new(cfg);
    let mut base = AgentRequest::ocf("st", "pacemaker", "Stateful", "monitor")
        .with_param("state", tmp.0.join("st.state").to_str().unwrap())
        .with_meta("clone-max", "1")
        .with_meta("clone-node-max", "1")
        .with_meta("promotable", "true")
        .with_meta("promoted-max", "1")
        .with_meta("globally-unique", "false")
        .with_meta("on_node", "node1");
    base.clone = Some(CloneInstance { number: 0, globally_unique: false });
    let mut run = |a: &str, iv: u64| {
        let res = r.run(base.for_action(a, iv));
        (res.rc, res)
    };
    let score = |name: &str| transient(&cib_file, name);

    let (rc, res) = run("monitor", 0);
    assert_eq!(rc, OcfExit::NotRunning, "probe: {res:?}");
    assert_eq!(score("master-st"), None, "no score before start");

    let (rc, res) = run("start", 0);
    assert_eq!(rc, OcfExit::Ok, "start: {res:?}");
    assert_eq!(score("master-st").as_deref(), Some("5"), "unpromoted score after start");
    assert_eq!(query_score(&cib_file, "st"), (0, "5".to_string()));
    let text = std::fs::read_to_string(&cib_file).unwrap();
    assert!(text.contains(r#"id="status-1-master-st""#), "Pacemaker's nvpair id: {text}");
    assert_eq!(run("monitor", 10_000).0, OcfExit::Ok);

    let (rc, res) = run("promote", 0);
    assert_eq!(rc, OcfExit::Ok, "promote: {res:?}");
    let (rc, res) = run("monitor", 11_000);
    assert_eq!(rc, OcfExit::RunningPromoted, "promoted monitor: {res:?}");
    assert_eq!(score("master-st").as_deref(), Some("10"), "promoted score");
    assert_eq!(query_score(&cib_file, "st"), (0, "10".to_string()));
    // A probe (interval 0) of a promoted instance puts a lost score back.
    let out = Command::new(env!("CARGO_BIN_EXE_crm_attribute"))
        .args(["--promotion", "-D", "-q"])
        .env("CIB_file", &cib_file)
        .env("OCF_RESOURCE_INSTANCE", "st")
        .env("OCF_RESKEY_CRM_meta_on_node", "node1")
        .env_remove("CIB_shadow")
        .status()
        .unwrap();
    assert!(out.success());
    assert_eq!(score("master-st"), None);
    assert_eq!(run("monitor", 0).0, OcfExit::RunningPromoted);
    assert_eq!(score("master-st").as_deref(), Some("10"), "probe restores the score");

    let (rc, res) = run("demote", 0);
    assert_eq!(rc, OcfExit::Ok, "demote: {res:?}");
    assert_eq!(run("monitor", 10_000).0, OcfExit::Ok);
    assert_eq!(score("master-st").as_deref(), Some("5"), "unpromoted score after demote");

    let (rc, res) = run("stop", 0);
    assert_eq!(rc, OcfExit::Ok, "stop: {res:?}");
    assert_eq!(score("master-st"), None, "stop deletes the score");
    let (code, out) = query_score(&cib_file, "st");
    assert_ne!(code, 0, "no score after stop, got {out:?}");
    assert_eq!(run("monitor", 0).0, OcfExit::NotRunning);

    // The deprecated wrapper agents still call: `crm_master -l reboot` is the same attribute.
    let master = |args: &[&str]| {
        let bin = Path::new(env!("CARGO_BIN_EXE_crm_attribute")).with_file_name("crm_master");
        let out = Command::new(bin)
            .args(args)
            .env("CIB_file", &cib_file)
            .env("OCF_RESOURCE_INSTANCE", "st")
            .env("OCF_RESKEY_CRM_meta_on_node", "node1")
            .env_remove("CIB_shadow")
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    assert_eq!(master(&["-l", "reboot", "-v", "7"]).0, 0);
    assert_eq!(score("master-st").as_deref(), Some("7"));
    assert_eq!(master(&["-l", "reboot", "-G", "-q"]), (0, "7".to_string()));
    assert_eq!(query_score(&cib_file, "st"), (0, "7".to_string()));
    assert_eq!(master(&["-l", "reboot", "-D"]).0, 0);
    assert_eq!(score("master-st"), None);

    // Exactly one attribute changed hands; the rest of the CIB is intact and still parses.
    let text = std::fs::read_to_string(&cib_file).unwrap();
    let cib = Element::parse(&text).unwrap();
    assert!(cib.find_id("st").is_some(), "{text}");
    assert!(cib.find_id("st-clone").is_some(), "{text}");
}

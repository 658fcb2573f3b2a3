//! crm-fence-peer / crm-unfence-peer run as DRBD runs them (environment DRBD_RESOURCE,
//! DRBD_PEER, ...) against a temporary CIB_file.

use std::path::PathBuf;
use std::process::Command;

use cluster_core::cib::xml::Element;

struct Tmp(PathBuf);
impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cib(validate_with: &str, clone: &str, peer_state: &str) -> String {
    format!(
        r#"<cib validate-with="{validate_with}" epoch="7" num_updates="0" admin_epoch="0">
  <configuration>
    <crm_config/>
    <nodes>
      <node id="1" uname="node1"/>
      <node id="2" uname="node2"/>
    </nodes>
    <resources>
      {clone}
    </resources>
    <constraints/>
  </configuration>
  <status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
    {peer_state}
  </status>
</cib>
"#
    )
}

const PROMOTABLE: &str = r#"<clone id="WebDataClone">
        <meta_attributes id="WebDataClone-meta_attributes">
          <nvpair name="promotable" value="true" id="WebDataClone-meta_attributes-promotable"/>
          <nvpair name="notify" value="true" id="WebDataClone-meta_attributes-notify"/>
        </meta_attributes>
        <primitive id="WebData" class="ocf" provider="linbit" type="drbd">
          <instance_attributes id="WebData-instance_attributes">
            <nvpair name="drbd_resource" value="wwwdata" id="WebData-instance_attributes-drbd_resource"/>
          </instance_attributes>
        </primitive>
      </clone>"#;

const LEGACY_MS: &str = r#"<master id="ms_drbd0">
        <primitive id="drbd0" class="ocf" provider="drbd-ublk" type="drbd">
          <instance_attributes id="drbd0-ia">
            <nvpair name="drbd_resource" value="r0" id="drbd0-ia-res"/>
          </instance_attributes>
        </primitive>
      </master>"#;

const PEER_ONLINE: &str = r#"<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/>"#;
const PEER_FENCED: &str = r#"<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="down" crm-debug-origin="send_stonith_update"/>"#;
const PEER_LOST: &str = r#"<node_state id="2" uname="node2" in_ccm="false" crmd="offline" join="down" expected="member"/>"#;

fn setup(tag: &str, text: &str) -> (Tmp, PathBuf) {
    let dir = std::env::temp_dir().join(format!("agent-drbdfence-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("cib.xml");
    std::fs::write(&f, text).unwrap();
    (Tmp(dir), f)
}

fn handler(bin: &str, cib: &PathBuf, res: &str, extra: &[&str]) -> (i32, String) {
    let o = Command::new(bin)
        .args(extra)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("CIB_file", cib)
        .env("DRBD_RESOURCE", res)
        .env("DRBD_PEER", "node2")
        .env("DRBD_MINOR", "1")
        .env("DRBD_CONF", "/etc/drbd.conf")
        .env("DRBD_UBLK_HOSTNAME", "node1")
        .output()
        .unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stderr).into_owned())
}

const FENCE: &str = env!("CARGO_BIN_EXE_crm-fence-peer");
const UNFENCE: &str = env!("CARGO_BIN_EXE_crm-unfence-peer");

fn load(f: &PathBuf) -> Element {
    Element::parse(&std::fs::read_to_string(f).unwrap()).unwrap()
}

#[test]
fn drbd_fence_adds_constraint_idempotently_and_unfence_removes_it() {
    let (_t, f) = setup("basic", &cib("pacemaker-3.9", PROMOTABLE, PEER_ONLINE));
    let (code, err) = handler(FENCE, &f, "wwwdata", &[]);
    assert_eq!(code, 4, "{err}");
    let doc = load(&f);
    assert_eq!(doc.attr("epoch"), Some("8"));
    let c = doc.find_id("drbd-fence-by-handler-wwwdata-WebDataClone").expect("constraint");
    let want = Element::parse(
        r##"<rsc_location rsc="WebDataClone" id="drbd-fence-by-handler-wwwdata-WebDataClone">
  <rule role="Promoted" score="-INFINITY" id="drbd-fence-by-handler-wwwdata-rule-WebDataClone">
    <expression attribute="#uname" operation="ne" value="node1" id="drbd-fence-by-handler-wwwdata-expr-WebDataClone"/>
  </rule>
</rsc_location>"##,
    )
    .unwrap();
    assert_eq!(*c, want);
    assert_eq!(doc.path(&["configuration", "constraints"]).unwrap().children.len(), 1);
    // Again: nothing changes, same answer.
    let before = std::fs::read_to_string(&f).unwrap();
    let (code, err) = handler(FENCE, &f, "wwwdata", &[]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("already present"), "{err}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    // Unfence removes it; a second unfence is a no-op success.
    let (code, err) = handler(UNFENCE, &f, "wwwdata", &[]);
    assert_eq!(code, 0, "{err}");
    let doc = load(&f);
    assert!(doc.find_id("drbd-fence-by-handler-wwwdata-WebDataClone").is_none());
    assert_eq!(doc.attr("epoch"), Some("9"));
    let (code, _) = handler(UNFENCE, &f, "wwwdata", &[]);
    assert_eq!(code, 0);
    assert_eq!(load(&f).attr("epoch"), Some("9"));
}

#[test]
fn drbd_fence_exit_codes_follow_the_peer_state() {
    for (tag, peer, want) in
        [("fenced", PEER_FENCED, 7), ("lost", PEER_LOST, 5), ("nostatus", "", 5)]
    {
        let (_t, f) = setup(tag, &cib("pacemaker-3.9", PROMOTABLE, peer));
        let (code, err) = handler(FENCE, &f, "wwwdata", &[]);
        assert_eq!(code, want, "{tag}: {err}");
        assert!(load(&f).find_id("drbd-fence-by-handler-wwwdata-WebDataClone").is_some());
    }
}

#[test]
fn drbd_fence_by_the_peer_first_outdates_us() {
    let (_t, f) = setup("peerfirst", &cib("pacemaker-3.9", PROMOTABLE, PEER_ONLINE));
    // node2 fenced first: its constraint lets only node2 promote.
    let o = Command::new(FENCE)
        .env_clear()
        .env("CIB_file", &f)
        .env("DRBD_RESOURCE", "wwwdata")
        .env("DRBD_PEER", "node1")
        .env("DRBD_UBLK_HOSTNAME", "node2")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4));
    let (code, err) = handler(FENCE, &f, "wwwdata", &[]);
    assert_eq!(code, 6, "{err}");
    let doc = load(&f);
    let c = doc.find_id("drbd-fence-by-handler-wwwdata-expr-WebDataClone").unwrap();
    assert_eq!(c.attr("value"), Some("node2"), "the peer's constraint is left alone");
}

#[test]
fn drbd_fence_legacy_master_and_old_schema_use_master_role() {
    let (_t, f) = setup("legacy", &cib("pacemaker-3.0", LEGACY_MS, PEER_ONLINE));
    let (code, err) = handler(FENCE, &f, "r0", &["--id-prefix=my-fence", "--timeout=60"]);
    assert_eq!(code, 4, "{err}");
    let doc = load(&f);
    let rule = doc.find_id("my-fence-r0-rule-ms_drbd0").expect("rule");
    assert_eq!(rule.attr("role"), Some("Master"));
    let (code, _) = handler(UNFENCE, &f, "r0", &["-i", "my-fence"]);
    assert_eq!(code, 0);
    assert!(load(&f).find_id("my-fence-r0-ms_drbd0").is_none());
}

#[test]
fn drbd_fence_errors_change_nothing() {
    let (_t, f) = setup("err", &cib("pacemaker-3.9", PROMOTABLE, PEER_ONLINE));
    let before = std::fs::read_to_string(&f).unwrap();
    // Unknown DRBD resource: no promotable clone manages it.
    let (code, err) = handler(FENCE, &f, "nosuch", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("drbd_resource=nosuch"), "{err}");
    // No resource at all.
    let o = Command::new(FENCE).env_clear().env("CIB_file", &f).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DRBD_RESOURCE"));
    // Unreadable CIB.
    let missing = f.with_file_name("missing.xml");
    let (code, err) = handler(FENCE, &missing, "wwwdata", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("missing.xml"), "{err}");
    let (code, _) = handler(FENCE, &f, "wwwdata", &["-x"]);
    assert_eq!(code, 1);
    assert_eq!(std::fs::read_to_string(&f).unwrap(), before);
    // Unfence of another resource leaves wwwdata's constraint in place.
    assert_eq!(handler(FENCE, &f, "wwwdata", &[]).0, 4);
    assert_eq!(handler(UNFENCE, &f, "www", &[]).0, 0);
    assert!(load(&f).find_id("drbd-fence-by-handler-wwwdata-WebDataClone").is_some());
}

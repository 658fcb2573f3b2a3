//! `crm resource`, `crm node` and `crm ra` against a CIB file with a status section.

#[path = "crm_common.rs"]
mod common;

use common::Sandbox;

/// ClusterIP started on node1 and a promotable clone promoted on node1, as the history says.
const STATUS: &str = r#"<status>
    <node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member">
      <transient_attributes id="1">
        <instance_attributes id="status-1">
          <nvpair id="status-1-fail-count-ClusterIP.monitor_30000" name="fail-count-ClusterIP#monitor_30000" value="3"/>
          <nvpair id="status-1-last-failure-ClusterIP.monitor_30000" name="last-failure-ClusterIP#monitor_30000" value="1795542197"/>
        </instance_attributes>
      </transient_attributes>
      <lrm id="1"><lrm_resources>
        <lrm_resource id="ClusterIP" class="ocf" provider="heartbeat" type="IPaddr2">
          <lrm_rsc_op id="ClusterIP_last_0" operation_key="ClusterIP_start_0" operation="start" call-id="7" rc-code="0" op-status="0" interval="0"/>
          <lrm_rsc_op id="ClusterIP_monitor_30000" operation_key="ClusterIP_monitor_30000" operation="monitor" call-id="8" rc-code="0" op-status="0" interval="30000"/>
        </lrm_resource>
        <lrm_resource id="D" class="ocf" provider="pacemaker" type="Stateful">
          <lrm_rsc_op id="D_last_0" operation_key="D_promote_0" operation="promote" call-id="9" rc-code="0" op-status="0" interval="0"/>
        </lrm_resource>
      </lrm_resources></lrm>
    </node_state>
    <node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member">
      <lrm id="2"><lrm_resources>
        <lrm_resource id="D" class="ocf" provider="pacemaker" type="Stateful">
          <lrm_rsc_op id="D_last_0" operation_key="D_start_0" operation="start" call-id="4" rc-code="0" op-status="0" interval="0"/>
        </lrm_resource>
      </lrm_resources></lrm>
    </node_state>
  </status>"#;

fn setup() -> Sandbox {
    let sb = Sandbox::new("admin");
    sb.ok("configure property stonith-enabled=false");
    sb.ok("configure primitive ClusterIP ocf:heartbeat:IPaddr2 params ip=10.213.42.9 cidr_netmask=32 op monitor interval=30s");
    sb.ok("configure primitive D ocf:pacemaker:Stateful op monitor interval=10s role=Promoted op monitor interval=11s role=Unpromoted");
    sb.ok("configure clone DClone D meta promotable=true");
    let cib = sb.cib().replace("<status/>", STATUS);
    std::fs::write(sb.cib_path(), cib).unwrap();
    sb
}

#[test]
fn crm_resource_status_start_stop() {
    let sb = setup();
    assert_eq!(sb.ok("resource status ClusterIP"), "resource ClusterIP is running on: node1\n");
    let all = sb.ok("resource status");
    assert!(all.contains("  * ClusterIP\t(ocf:heartbeat:IPaddr2):\t Started node1\n"), "{all}");
    assert!(all.contains("  * Clone Set: DClone [D] (promotable):\n    * Promoted: [ node1 ]\n    * Unpromoted: [ node2 ]\n"), "{all}");
    let e0 = sb.epoch();
    sb.ok("resource stop ClusterIP");
    assert_eq!(sb.epoch(), e0 + 1);
    assert!(sb.cib().contains(
        r#"<nvpair id="ClusterIP-meta_attributes-target-role" name="target-role" value="Stopped"/>"#
    ));
    assert!(sb.ok("configure show ClusterIP").contains("\tmeta target-role=Stopped \\\n"));
    assert!(sb.ok("resource status").contains("(disabled)"));
    sb.ok("resource start ClusterIP");
    assert!(sb.cib().contains(
        r#"<nvpair id="ClusterIP-meta_attributes-target-role" name="target-role" value="Started"/>"#
    ));
    sb.ok("resource unmanage ClusterIP");
    assert_eq!(sb.ok("resource meta ClusterIP show is-managed"), "false\n");
    sb.ok("resource param ClusterIP set cidr_netmask=24".replace('=', " ").as_str());
    assert_eq!(sb.ok("resource param ClusterIP show cidr_netmask"), "24\n");
    sb.ok("resource meta ClusterIP delete is-managed");
    assert!(!sb.cib().contains("is-managed"));
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_resource_move_ban_clear() {
    let sb = setup();
    // Without a node, move bans the current one (§4.13).
    sb.ok("resource move ClusterIP");
    assert!(sb.cib().contains(
        r#"<rsc_location id="cli-ban-ClusterIP-on-node1" rsc="ClusterIP" role="Started" node="node1" score="-INFINITY"/>"#
    ));
    sb.ok("resource migrate ClusterIP node2 PT1H");
    let cib = sb.cib();
    assert!(
        cib.contains(r#"<rule id="cli-prefer-rule-ClusterIP" score="INFINITY" boolean-op="and">"#),
        "{cib}"
    );
    assert!(cib.contains(r##"<expression id="cli-prefer-expr-ClusterIP" attribute="#uname" operation="eq" value="node2" type="string"/>"##));
    assert!(cib.contains(
        r#"<date_expression id="cli-prefer-lifetime-end-ClusterIP" operation="lt" end=""#
    ));
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
    sb.ok("resource ban ClusterIP node2");
    assert!(sb.cib().contains(r#"id="cli-ban-ClusterIP-on-node2""#));
    let (rc, _, err) = sb.crm(&["resource", "clear", "ClusterIP"], "");
    assert_eq!(rc, 0);
    assert!(err.contains("Removed migration constraints for ClusterIP"));
    assert!(!sb.cib().contains("cli-"));
    sb.ok("resource move DClone node2 --promoted");
    assert!(sb.cib().contains(r#"<rsc_location id="cli-prefer-DClone" rsc="DClone" role="Promoted" node="node2" score="INFINITY"/>"#));
    sb.ok("resource unmigrate DClone");
    assert!(!sb.cib().contains("cli-"));
    // crm configure show renders the move constraints as crmsh does.
    sb.ok("resource move ClusterIP node2");
    assert!(sb
        .ok("configure show cli-prefer-ClusterIP")
        .contains("location cli-prefer-ClusterIP ClusterIP role=Started inf: node2"));
}

#[test]
fn crm_resource_cleanup_and_failcount() {
    let sb = setup();
    assert_eq!(
        sb.ok("resource failcount ClusterIP show node1"),
        "scope=status  name=fail-count-ClusterIP value=3\n"
    );
    let e0 = sb.epoch();
    sb.ok("resource failcount ClusterIP set node2 2");
    assert_eq!(sb.epoch(), e0, "status changes do not bump the epoch");
    assert_eq!(
        sb.ok("resource failcount ClusterIP show node2"),
        "scope=status  name=fail-count-ClusterIP value=2\n"
    );
    assert_eq!(sb.ok("resource cleanup ClusterIP node1"), "Cleaned up ClusterIP on node1\n");
    let cib = sb.cib();
    assert!(
        !cib.contains("fail-count-ClusterIP#monitor") && !cib.contains("last-failure-ClusterIP")
    );
    assert!(!cib.contains(r#"<lrm_resource id="ClusterIP""#));
    assert!(cib.contains(r#"<lrm_resource id="D""#), "other resources keep their history");
    assert_eq!(sb.ok("resource status ClusterIP"), "resource ClusterIP is NOT running\n");
    sb.ok("resource failcount ClusterIP delete node2");
    assert_eq!(
        sb.ok("resource failcount ClusterIP show node2"),
        "scope=status  name=fail-count-ClusterIP value=0\n"
    );
}

#[test]
fn crm_node_standby_online_maintenance_attributes() {
    let sb = setup();
    let e0 = sb.epoch();
    sb.ok("node standby node1");
    assert_eq!(sb.epoch(), e0 + 1);
    assert!(sb.cib().contains(r#"<nvpair id="nodes-1-standby" name="standby" value="on"/>"#));
    assert!(sb.ok("configure show node1").contains("node 1: node1 \\\n\tattributes standby=on"));
    assert!(sb.ok("status").contains("  * Node node1: standby"));
    sb.ok("node online node1");
    assert!(sb.cib().contains(r#"<nvpair id="nodes-1-standby" name="standby" value="off"/>"#));
    sb.ok("node standby node2 reboot");
    assert!(sb.cib().contains(r#"<nvpair id="status-2-standby" name="standby" value="on"/>"#));
    sb.ok("node online node2");
    assert!(!sb.cib().contains("status-2-standby"));
    sb.ok("node maintenance node2");
    assert!(sb
        .cib()
        .contains(r#"<nvpair id="nodes-2-maintenance" name="maintenance" value="true"/>"#));
    sb.ok("node ready node2");
    assert!(sb
        .cib()
        .contains(r#"<nvpair id="nodes-2-maintenance" name="maintenance" value="false"/>"#));
    sb.ok("node attribute node1 set rack r1");
    assert_eq!(sb.ok("node attribute node1 show rack"), "scope=nodes  name=rack value=r1\n");
    sb.ok("node status-attr node1 set pingd 100");
    assert_eq!(sb.ok("node status-attr node1 show pingd"), "scope=status  name=pingd value=100\n");
    sb.ok("node standby --all");
    assert!(
        sb.cib().contains(r#"id="nodes-2-standby""#)
            && sb.cib().contains(r#"<nvpair id="nodes-1-standby" name="standby" value="on"/>"#)
    );
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_ra_info_matches_crmsh() {
    let sb = Sandbox::new("ra");
    let vectors =
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/spec/cluster-vectors/crm-ra.txt");
    let Ok(text) = std::fs::read_to_string(vectors) else { return };
    let start = text.find("$ crm ra info ocf:heartbeat:Dummy\n").unwrap()
        + "$ crm ra info ocf:heartbeat:Dummy\n".len();
    let end = start + text[start..].find("rc=0\n").unwrap();
    assert_eq!(sb.ok("ra info ocf:heartbeat:Dummy"), &text[start..end]);
    let start =
        text.find("$ crm ra list ocf pacemaker\n").unwrap() + "$ crm ra list ocf pacemaker\n".len();
    let end = start + text[start..].find("rc=0\n").unwrap();
    assert_eq!(sb.ok("ra list ocf pacemaker"), &text[start..end]);
    assert_eq!(sb.ok("ra providers Dummy"), "heartbeat pacemaker\n");
    assert!(sb.ok("ra meta IPaddr2").starts_with(
        "Manages virtual IPv4 and IPv6 addresses (Linux specific version) (ocf:heartbeat:IPaddr2)"
    ));
}

#[test]
fn crm_configure_verify_and_delete() {
    let sb = Sandbox::new("verify");
    let (rc, _, err) = sb.crm(&["configure", "verify"], "");
    assert_eq!(rc, 1);
    assert!(err.contains("no STONITH resources have been defined"), "{err}");
    sb.ok("configure property stonith-enabled=false");
    sb.ok("configure verify");
    sb.ok("configure primitive a Dummy");
    sb.ok("configure primitive b Dummy");
    sb.ok("configure group g a b meta target-role=Stopped");
    sb.ok("configure location l1 g rule 100: #uname eq node1 or pingd gt 0");
    assert!(sb
        .ok("configure show l1")
        .contains("location l1 g \\\n\trule 100: #uname eq node1 or pingd gt 0"));
    assert_eq!(sb.ok("configure show g"), "group g a b \\\n\tmeta target-role=Stopped\n");
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
    let (rc, _, err) = sb.crm(&["configure", "delete", "g"], "");
    assert_eq!(rc, 0);
    assert!(err.contains("hanging rsc_location l1 deleted"), "{err}");
    assert_eq!(sb.ok("configure show type:primitive"), "");
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_configure_load_edit_monitor() {
    let sb = Sandbox::new("load");
    let f = sb.dir.join("conf.crm");
    std::fs::write(
        &f,
        "property stonith-enabled=false\nprimitive a ocf:heartbeat:Dummy \\\n\top monitor interval=10s\nprimitive b Dummy\n",
    )
    .unwrap();
    let path = f.to_str().unwrap();
    sb.ok(&format!("configure load update {path}"));
    sb.ok("configure monitor b 20s:40s");
    assert!(sb.ok("configure show b").contains("\top monitor interval=20s timeout=40s"));
    // replace drops what the file does not mention (b), keeps the nodes it lists.
    std::fs::write(&f, "node 1: node1\nproperty stonith-enabled=false\nprimitive a Dummy\n")
        .unwrap();
    sb.ok(&format!("configure load replace {path}"));
    assert_eq!(
        sb.ok("configure show"),
        "node 1: node1\nprimitive a Dummy\nproperty cib-bootstrap-options: \\\n\tstonith-enabled=false\n"
    );
    // A bad file changes nothing and names the line.
    std::fs::write(&f, "primitive c Dummy\nprimitive d Dummy parms x=1\n").unwrap();
    let before = sb.cib();
    let (rc, _, err) = sb.crm(&["configure", "load", "replace", path], "");
    assert_eq!(rc, 1);
    assert!(err.contains("line 2: unknown keyword 'parms'"), "{err}");
    assert_eq!(sb.cib(), before);
    // edit runs $EDITOR on the text and loads the result.
    let (rc, _, err) = sb.crm_env(
        &["configure", "edit"],
        "",
        &[("EDITOR", "sed -i s/primitive\\ a\\ Dummy/primitive\\ a\\ Stateful/")],
    );
    assert_eq!(rc, 0, "{err}");
    assert!(
        sb.cib()
            .contains(r#"<primitive id="a" class="ocf" provider="heartbeat" type="Stateful"/>"#),
        "{}",
        sb.cib()
    );
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_delete_refuses_running_resources_and_cib_option_selects_shadow() {
    let sb = setup();
    let before = sb.cib();
    let (rc, _, err) = sb.crm(&["configure", "delete", "ClusterIP"], "");
    assert_eq!(rc, 1);
    assert!(err.contains("resource 'ClusterIP' is running, can't delete it"), "{err}");
    assert_eq!(sb.cib(), before);
    let (rc, _, err) = sb.crm(&["-F", "configure", "delete", "ClusterIP"], "");
    assert_eq!(rc, 0, "{err}");
    assert!(!sb.cib().contains(r#"<primitive id="ClusterIP""#));
    // -c NAME starts in a shadow CIB.
    sb.ok("cib new scratch");
    let (rc, _, err) =
        sb.crm(&["-c", "scratch", "configure", "primitive", "only_here", "Dummy"], "");
    assert_eq!(rc, 0, "{err}");
    assert!(sb.shadow("scratch").unwrap().contains(r#"<primitive id="only_here""#));
    assert!(!sb.cib().contains("only_here"));
    // A promotable clone in the newer syntax (on a fresh CIB: the forced delete above left an
    // active orphan that crm_verify rightly warns about).
    let sb = Sandbox::new("promotable");
    sb.ok("configure property stonith-enabled=false");
    sb.ok("configure primitive S ocf:pacemaker:Stateful");
    sb.ok("configure clone SClone S meta promotable=true promoted-max=1");
    assert_eq!(
        sb.ok("configure show SClone"),
        "clone SClone S \\\n\tmeta promotable=true promoted-max=1\n"
    );
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn crm_node_clearstate_delete_and_rename() {
    let sb = setup();
    sb.ok("configure rename DClone DSet");
    assert!(sb.cib().contains(r#"<clone id="DSet">"#));
    let (rc, _, err) = sb.crm(&["node", "delete", "node2"], "");
    assert_eq!(rc, 1, "node2 runs D");
    assert!(err.contains("still runs resources"), "{err}");
    sb.ok("node clearstate node2");
    assert_eq!(sb.ok("resource status D"), "resource D is running on: node1 Promoted\n");
    sb.ok("node delete node2");
    assert!(!sb.cib().contains(r#"uname="node2""#));
    assert!(sb.ok("configure show").starts_with("node 1: node1\nprimitive"));
}

#[test]
fn crm_resource_sets_pass_crm_verify() {
    let sb = Sandbox::new("sets");
    sb.ok("configure property stonith-enabled=false");
    for r in ["a", "b", "c", "d"] {
        sb.ok(&format!("configure primitive {r} ocf:pacemaker:Dummy"));
    }
    sb.ok("configure colocation together inf: a b c");
    sb.ok("configure order chain Mandatory: a ( b c ) d");
    sb.ok("configure order any_first Optional: [ a b ] d symmetrical=false");
    let show = sb.ok("configure show");
    assert!(show.contains("colocation together inf: a b c\n"), "{show}");
    assert!(show.contains("order chain Mandatory: a ( b c ) d\n"), "{show}");
    assert!(show.contains("order any_first Optional: [ a b ] d symmetrical=false\n"), "{show}");
    let (rc, out) = sb.crm_verify();
    assert_eq!(rc, 0, "{out}");
}

/// `crm status` prints `crm_mon -1 -r`'s text (apart from the clock line), with crmsh's
/// `bynode` / `inactive` / `ops` / `failcounts` words mapped to crm_mon's options.
#[test]
fn crm_status_is_crm_mon_text() {
    let sb = setup();
    let mon = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_crm_mon"))
            .args(args)
            .env("CIB_file", sb.cib_path())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let no_clock = |s: &str| {
        s.lines().filter(|l| !l.starts_with("  * Last updated:")).collect::<Vec<_>>().join("\n")
    };
    let st = sb.ok("status");
    assert!(st.starts_with("Cluster Summary:\n"), "{st}");
    assert!(st.contains("Full List of Resources:\n"), "{st}");
    assert!(st.contains("  * ClusterIP\t(ocf:heartbeat:IPaddr2):\t Started node1\n"), "{st}");
    assert_eq!(no_clock(&st), no_clock(&mon(&["-1", "-r"])));
    assert_eq!(no_clock(&sb.ok("status bynode ops")), no_clock(&mon(&["-1", "-n", "-o"])));
    assert_eq!(no_clock(&sb.ok("status failcounts")), no_clock(&mon(&["-1", "-f"])));
    let (rc, _, err) = sb.crm(&["status", "bynodes"], "");
    assert_ne!(rc, 0);
    assert!(err.contains("bynodes"), "{err}");
}

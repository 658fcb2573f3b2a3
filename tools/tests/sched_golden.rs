//! Golden tests of crm_simulate's text on small hand-written CIBs.

use std::process::Command;

fn run(cib: &str) -> String {
    let dir = std::env::temp_dir().join(format!("sched-golden-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("cib-{}.xml", cib.len()));
    std::fs::write(&f, cib).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crm_simulate"))
        .arg("-S")
        .arg("-x")
        .arg(&f)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&f);
    let _ = std::fs::remove_dir(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const TWO_NODES: &str = r#"<cib have-quorum="1" dc-uuid="1"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>
<resources><primitive id="vip" class="ocf" provider="heartbeat" type="IPaddr2"/></resources>
<constraints><rsc_location id="l1" rsc="vip" node="node2" score="100"/></constraints></configuration>
<status><node_state id="1" uname="node1" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="2" uname="node2" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#;

#[test]
fn start_on_preferred_node() {
    let t = run(TWO_NODES);
    assert!(t.contains("Transition Summary:\n  * Start      vip     ( node2 )\n"), "{t}");
    assert!(t.contains("Revised Cluster Status:\n  * Node List:\n    * Online: [ node1 node2 ]\n\n  * Full List of Resources:\n    * vip\t(ocf:heartbeat:IPaddr2):\t Started node2\n"), "{t}");
}

#[test]
fn no_quorum_stops() {
    let cib = TWO_NODES.replace("have-quorum=\"1\"", "have-quorum=\"0\"").replace(
        "<node_state id=\"2\" uname=\"node2\" in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"/>",
        "<node_state id=\"2\" uname=\"node2\" in_ccm=\"true\" crmd=\"online\" join=\"member\" expected=\"member\"><lrm><lrm_resources><lrm_resource id=\"vip\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\"><lrm_rsc_op id=\"vip_last_0\" operation=\"start\" interval=\"0\" rc-code=\"0\" op-status=\"0\" call-id=\"3\" transition-key=\"1:1:0:x\"/></lrm_resource></lrm_resources></lrm></node_state>",
    );
    let t = run(&cib);
    assert!(t.contains("  * Stop       vip     ( node2 )  due to no quorum\n"), "{t}");
}

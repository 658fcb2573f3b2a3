//! The transition graph's ordering on walkthrough-like CIBs: the edges the controller relies on.

use cluster_core::cib::xml::Element;
use cluster_core::scheduler::{schedule, Action, SchedulerInput, Transition};

const HEAD: &str = r#"<cib have-quorum="1" dc-uuid="1"><configuration><crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="node1"/><node id="2" uname="node2"/></nodes>"#;

const WEB: &str = r#"<resources>
<primitive id="ip" class="ocf" provider="heartbeat" type="IPaddr2"><operations><op id="ip-mon" name="monitor" interval="10s"/></operations></primitive>
<primitive id="web" class="ocf" provider="heartbeat" type="apache"><operations><op id="web-mon" name="monitor" interval="30s"/></operations></primitive>
<group id="grp"><primitive id="g1" class="ocf" provider="pacemaker" type="Dummy"/><primitive id="g2" class="ocf" provider="pacemaker" type="Dummy"/><primitive id="g3" class="ocf" provider="pacemaker" type="Dummy"/></group>
</resources>
<constraints>
<rsc_colocation id="c1" rsc="web" with-rsc="ip" score="INFINITY"/>
<rsc_order id="ord1" first="ip" then="web" kind="Mandatory"/>
<rsc_location id="l1" rsc="ip" node="node1" score="100"/>
<rsc_location id="l2" rsc="grp" node="node2" score="100"/>
</constraints></configuration>"#;

const MS: &str = r#"<resources>
<clone id="ms"><meta_attributes id="ms-m"><nvpair id="ms-m1" name="promotable" value="true"/><nvpair id="ms-m2" name="notify" value="true"/><nvpair id="ms-m3" name="promoted-max" value="1"/></meta_attributes>
<primitive id="drbd" class="ocf" provider="pacemaker" type="Stateful"><operations><op id="d-m1" name="monitor" interval="15s" role="Promoted"/><op id="d-m2" name="monitor" interval="16s" role="Unpromoted"/></operations></primitive></clone>
<primitive id="fs" class="ocf" provider="heartbeat" type="Filesystem"><operations><op id="fs-mon" name="monitor" interval="20s"/></operations></primitive>
</resources>
<constraints>
<rsc_colocation id="c2" rsc="fs" with-rsc="ms" with-rsc-role="Promoted" score="INFINITY"/>
<rsc_order id="ord2" first="ms" first-action="promote" then="fs" then-action="start"/>
</constraints></configuration>"#;

fn online(id: &str, name: &str, attrs: &str, lrm: &str) -> String {
    format!(
        r#"<node_state id="{id}" uname="{name}" in_ccm="true" crmd="online" join="member" expected="member"><transient_attributes id="{id}"><instance_attributes id="ta{id}">{attrs}</instance_attributes></transient_attributes><lrm id="{id}"><lrm_resources>{lrm}</lrm_resources></lrm></node_state>"#
    )
}

fn lrm(rsc: &str, ty: &str, ops: &[(&str, u64, i32)]) -> String {
    let mut s =
        format!(r#"<lrm_resource id="{rsc}" class="ocf" provider="heartbeat" type="{ty}">"#);
    for (i, (op, iv, rc)) in ops.iter().enumerate() {
        s.push_str(&format!(
            r#"<lrm_rsc_op id="{rsc}_{op}_{iv}" operation_key="{rsc}_{op}_{iv}" operation="{op}" interval="{iv}" rc-code="{rc}" op-status="0" call-id="{}" transition-key="1:1:0:x" last-rc-change="1"/>"#,
            i + 2
        ));
    }
    s.push_str("</lrm_resource>");
    s
}

fn run(cfg: &str, status: &str) -> Transition {
    let text = format!("{HEAD}{cfg}<status>{status}</status></cib>");
    let cib = Element::parse(&text).expect("test CIB parses");
    let input = SchedulerInput::from_cib(&cib, None).expect("valid CIB");
    let t = schedule(&input);
    assert!(cluster_core::scheduler::engine::is_acyclic(t.actions.len(), &t.edges));
    // Actions come in an execution order: every edge points forward.
    assert!(t.edges.iter().all(|&(a, b)| a < b), "actions not topologically sorted");
    t
}

fn id(a: &Action) -> String {
    format!("{} {}", a.key(), a.node.as_deref().unwrap_or(""))
}

fn find(t: &Transition, want: &str) -> usize {
    t.actions.iter().position(|a| id(a).trim_end() == want).unwrap_or_else(|| {
        panic!("no action {want} in {:?}", t.actions.iter().map(id).collect::<Vec<_>>())
    })
}

fn inputs(t: &Transition, want: &str) -> Vec<String> {
    let i = find(t, want);
    let mut v: Vec<String> = t
        .edges
        .iter()
        .filter(|e| e.1 == i)
        .map(|e| id(&t.actions[e.0]).trim_end().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn ordered_colocated_ip_and_web_and_group_start() {
    let st = online("1", "node1", "", "") + &online("2", "node2", "", "");
    let t = run(WEB, &st);
    assert_eq!(inputs(&t, "ip_start_0 node1"), Vec::<String>::new());
    assert_eq!(inputs(&t, "web_start_0 node1"), ["ip_start_0 node1"]);
    assert_eq!(inputs(&t, "ip_monitor_10000 node1"), ["ip_start_0 node1"]);
    assert_eq!(inputs(&t, "web_monitor_30000 node1"), ["web_start_0 node1"]);
    // Group: pseudo start first, members in order, running last.
    assert_eq!(inputs(&t, "g1_start_0 node2"), ["grp_start_0"]);
    assert_eq!(inputs(&t, "g2_start_0 node2"), ["g1_start_0 node2", "grp_start_0"]);
    assert_eq!(inputs(&t, "g3_start_0 node2"), ["g2_start_0 node2", "grp_start_0"]);
    assert_eq!(
        inputs(&t, "grp_running_0"),
        ["g1_start_0 node2", "g2_start_0 node2", "g3_start_0 node2", "grp_start_0"]
    );
    assert!(t.actions[find(&t, "grp_running_0")].pseudo);
}

#[test]
fn moving_ip_stops_web_first_and_group_stops_in_reverse() {
    let n1 = lrm("ip", "IPaddr2", &[("start", 0, 0), ("monitor", 10000, 0)])
        + &lrm("web", "apache", &[("start", 0, 0), ("monitor", 30000, 0)]);
    let n2 =
        ["g1", "g2", "g3"].iter().map(|g| lrm(g, "Dummy", &[("start", 0, 0)])).collect::<String>();
    // Both prefer the other node now.
    let cfg = WEB
        .replace(r#"rsc="ip" node="node1""#, r#"rsc="ip" node="node2""#)
        .replace(r#"rsc="grp" node="node2""#, r#"rsc="grp" node="node1""#);
    let t = run(&cfg, &(online("1", "node1", "", &n1) + &online("2", "node2", "", &n2)));
    // Symmetrical order: web stops before ip stops; ip starts before web.
    assert_eq!(inputs(&t, "ip_stop_0 node1"), ["web_stop_0 node1"]);
    assert_eq!(inputs(&t, "ip_start_0 node2"), ["ip_stop_0 node1"]);
    assert_eq!(inputs(&t, "web_start_0 node2"), ["ip_start_0 node2", "web_stop_0 node1"]);
    assert_eq!(inputs(&t, "g2_stop_0 node2"), ["g3_stop_0 node2", "grp_stop_0"]);
    assert_eq!(inputs(&t, "g1_stop_0 node2"), ["g2_stop_0 node2", "grp_stop_0"]);
    assert!(inputs(&t, "grp_start_0").contains(&"grp_stopped_0".to_string()));
}

#[test]
fn promotable_clone_with_filesystem_after_promote() {
    let d = |n: &str| lrm("drbd", "Stateful", &[("start", 0, 0), ("monitor", 16000, 0)]) + n;
    let st = online("1", "node1", r#"<nvpair id="m1" name="master-drbd" value="10"/>"#, &d(""))
        + &online("2", "node2", r#"<nvpair id="m2" name="master-drbd" value="5"/>"#, &d(""));
    let t = run(MS, &st);
    assert!(t.summary.iter().any(|l| l.starts_with("Promote    drbd:0")), "{:?}", t.summary);
    // Pre-notification, promote pseudo, instance promote, post-notification.
    assert_eq!(inputs(&t, "ms_promote_0"), ["ms_confirmed-pre_notify_promote_0"]);
    assert_eq!(
        inputs(&t, "drbd:0_promote_0 node1"),
        ["drbd:0_monitor_16000 node1", "ms_promote_0"]
    );
    assert!(t.actions[find(&t, "drbd:0_monitor_16000 node1")].task == "cancel");
    assert_eq!(
        inputs(&t, "ms_confirmed-pre_notify_promote_0"),
        [
            "drbd:0_pre_notify_promote_0 node1",
            "drbd:1_pre_notify_promote_0 node2",
            "ms_pre_notify_promote_0"
        ]
    );
    assert_eq!(inputs(&t, "ms_promoted_0"), ["drbd:0_promote_0 node1", "ms_promote_0"]);
    // The filesystem starts after the promotion is confirmed by the notifications.
    assert_eq!(inputs(&t, "fs_start_0 node1"), ["ms_confirmed-post_notify_promoted_0"]);
    assert_eq!(inputs(&t, "fs_monitor_20000 node1"), ["fs_start_0 node1"]);
    // The promoted-role monitor after the promote and the notifications.
    assert_eq!(
        inputs(&t, "drbd:0_monitor_15000 node1"),
        ["drbd:0_promote_0 node1", "ms_confirmed-post_notify_promoted_0"]
    );
}

#[test]
fn demote_and_stop_of_promoted_with_dependent_stopping_first() {
    let n1 = lrm("drbd", "Stateful", &[("start", 0, 0), ("promote", 0, 0), ("monitor", 15000, 8)])
        + &lrm("fs", "Filesystem", &[("start", 0, 0)]);
    let n2 = lrm("drbd", "Stateful", &[("start", 0, 0), ("monitor", 16000, 0)]);
    let st = online("1", "node1", r#"<nvpair id="m1" name="master-drbd" value="10"/>"#, &n1)
        + &online("2", "node2", r#"<nvpair id="m2" name="master-drbd" value="5"/>"#, &n2);
    // node1 goes to standby: everything leaves it.
    let cfg = MS.to_string();
    let text = st;
    let head_standby = HEAD.replace(
        r#"<node id="1" uname="node1"/>"#,
        r#"<node id="1" uname="node1"><instance_attributes id="n1a"><nvpair id="n1s" name="standby" value="on"/></instance_attributes></node>"#,
    );
    let full = format!("{head_standby}{cfg}<status>{text}</status></cib>");
    let cib = Element::parse(&full).unwrap();
    let t = schedule(&SchedulerInput::from_cib(&cib, None).unwrap());
    assert!(t.edges.iter().all(|&(a, b)| a < b));
    let dm = find(&t, "drbd:0_demote_0 node1");
    let sp = find(&t, "drbd:0_stop_0 node1");
    assert!(dm < sp, "demote before stop");
    assert!(t.edges.contains(&(dm, sp)));
    // The dependent stops before the demote of the promoted clone.
    assert!(inputs(&t, "ms_demote_0")
        .iter()
        .any(|x| x == "fs_stop_0 node1" || x.starts_with("ms_confirmed-pre")));
    let fs_stop = find(&t, "fs_stop_0 node1");
    assert!(fs_stop < find(&t, "ms_demote_0"));
    assert_eq!(inputs(&t, "ms_stop_0"), ["ms_confirmed-pre_notify_stop_0", "ms_demoted_0"]);
    assert_eq!(inputs(&t, "ms_pre_notify_stop_0"), ["ms_confirmed-post_notify_demoted_0"]);
}

#[test]
fn fencing_comes_before_recovery_elsewhere() {
    let n1 = lrm("ip", "IPaddr2", &[("start", 0, 0), ("monitor", 10000, 0)])
        + &lrm("web", "apache", &[("start", 0, 0), ("monitor", 30000, 0)]);
    let head = HEAD.replace(r#"value="false""#, r#"value="true""#);
    // node1 is lost (unclean, expected member but out of the membership).
    let st = r#"<node_state id="1" uname="node1" in_ccm="false" crmd="offline" join="down" expected="member"><lrm id="1"><lrm_resources>"#.to_string()
        + &n1
        + "</lrm_resources></lrm></node_state>"
        + &online("2", "node2", "", "");
    let cfg = WEB.replace(r#"<group id="grp">"#, r#"<group id="grp"><meta_attributes id="gm"><nvpair id="gm1" name="target-role" value="Stopped"/></meta_attributes>"#);
    let full = format!("{head}{cfg}<status>{st}</status></cib>");
    let t = schedule(&SchedulerInput::from_cib(&Element::parse(&full).unwrap(), None).unwrap());
    let fence = find(&t, "stonith-node1-reboot node1");
    assert_eq!(fence, 0, "fencing first");
    let start = find(&t, "ip_start_0 node2");
    assert!(t.edges.contains(&(fence, start)));
    // The stops on the fenced node are implied (pseudo), web's before ip's.
    assert!(t.actions[find(&t, "ip_stop_0 node1")].pseudo);
    assert!(inputs(&t, "ip_stop_0 node1").contains(&"web_stop_0 node1".to_string()));
}

#[test]
fn interleaved_clones_order_instances_on_the_same_node() {
    let cfg = r#"<resources>
<clone id="ca"><primitive id="a" class="ocf" provider="pacemaker" type="Dummy"/></clone>
<clone id="cb"><meta_attributes id="cbm"><nvpair id="cbm1" name="interleave" value="true"/></meta_attributes><primitive id="b" class="ocf" provider="pacemaker" type="Dummy"/></clone>
</resources>
<constraints><rsc_order id="ord1" first="ca" then="cb"/></constraints></configuration>"#;
    let t = run(cfg, &(online("1", "node1", "", "") + &online("2", "node2", "", "")));
    assert_eq!(inputs(&t, "b:0_start_0 node1"), ["a:0_start_0 node1", "cb_start_0"]);
    assert_eq!(inputs(&t, "b:1_start_0 node2"), ["a:1_start_0 node2", "cb_start_0"]);
    assert_eq!(inputs(&t, "cb_start_0"), ["ca_running_0"]);
    assert_eq!(
        inputs(&t, "ca_running_0"),
        ["a:0_start_0 node1", "a:1_start_0 node2", "ca_start_0"]
    );
}

#[test]
fn crm_simulate_writes_the_graph_as_synapses() {
    let dir = std::env::temp_dir().join(format!("sched2-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _guard = Cleanup(dir.clone());
    let st = online("1", "node1", "", "") + &online("2", "node2", "", "");
    let cib = dir.join("cib.xml");
    std::fs::write(&cib, format!("{HEAD}{WEB}<status>{st}</status></cib>")).unwrap();
    let graph = dir.join("graph.xml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_crm_simulate"))
        .arg("-S")
        .arg("-x")
        .arg(&cib)
        .arg("-G")
        .arg(&graph)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g = Element::parse(&std::fs::read_to_string(&graph).unwrap()).unwrap();
    assert_eq!(g.name, "transition_graph");
    let key = |e: &Element| {
        e.children
            .iter()
            .find(|c| c.name != "primitive")
            .and_then(|a| a.attr("operation_key").map(str::to_string))
    };
    let synapse = g
        .children_named("synapse")
        .find(|s| {
            s.children_named("action_set").next().and_then(key).as_deref() == Some("web_start_0")
        })
        .expect("web start synapse");
    let inputs: Vec<String> = synapse
        .children_named("inputs")
        .flat_map(|i| i.children_named("trigger"))
        .filter_map(key)
        .collect();
    assert_eq!(inputs, ["ip_start_0"]);
    let mon = g.children_named("synapse").any(|s| {
        s.children_named("action_set").next().and_then(key).as_deref() == Some("ip_monitor_10000")
    });
    assert!(mon, "recurring monitor synapse");
}

#[test]
fn a_running_resource_without_its_monitor_gets_it_back() {
    // ip runs on node1 (its start recorded) but no recurring monitor is in its history, as after
    // a transition aborted between the start and the monitor: the monitor is scheduled again.
    let ip_started = lrm("ip", "IPaddr2", &[("start", 0, 0)]);
    let web_running = lrm("web", "apache", &[("start", 0, 0), ("monitor", 30000, 0)]);
    let status = online("1", "node1", "", &format!("{ip_started}{web_running}"))
        + &online("2", "node2", "", "");
    let t = run(WEB, &status);
    find(&t, "ip_monitor_10000 node1");
    // web's monitor is in its history: nothing is added for it.
    assert!(
        !t.actions.iter().any(|a| a.rsc == "web" && a.task == "monitor"),
        "{:?}",
        t.actions.iter().map(id).collect::<Vec<_>>()
    );
    // With the monitor recorded, nothing is scheduled for ip either.
    let ip_monitored = lrm("ip", "IPaddr2", &[("start", 0, 0), ("monitor", 10000, 0)]);
    let status = online("1", "node1", "", &format!("{ip_monitored}{web_running}"))
        + &online("2", "node2", "", "");
    let t = run(WEB, &status);
    assert!(!t.actions.iter().any(|a| a.rsc == "ip" && a.task == "monitor"));
}

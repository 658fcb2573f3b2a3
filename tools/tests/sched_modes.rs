//! crm_simulate's modes, as Pacemaker's: no mode shows the current status only, `-R` runs the
//! scheduler and stops after the transition summary, `-S` also simulates the execution and
//! shows the revised status; `-s` adds the allocation scores.

use std::process::Command;

const CIB: &str = r#"<cib have-quorum="1"><configuration>
<crm_config><cluster_property_set id="o"><nvpair id="o1" name="stonith-enabled" value="false"/></cluster_property_set></crm_config>
<nodes><node id="1" uname="n1"/><node id="2" uname="n2"/></nodes>
<resources><primitive id="a" class="ocf" provider="heartbeat" type="Dummy"/></resources>
<constraints><rsc_location id="l" rsc="a" node="n2" score="10"/></constraints></configuration>
<status><node_state id="1" uname="n1" in_ccm="true" crmd="online" join="member" expected="member"/>
<node_state id="2" uname="n2" in_ccm="true" crmd="online" join="member" expected="member"/></status></cib>"#;

fn run(args: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("sched-modes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cib = dir.join("cib.xml");
    std::fs::write(&cib, CIB).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_crm_simulate"))
        .args(args)
        .arg("-x")
        .arg(&cib)
        .output()
        .expect("run crm_simulate");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn headers(text: &str) -> Vec<&str> {
    text.lines().filter(|l| !l.starts_with(' ') && l.ends_with(':')).collect()
}

#[test]
fn run_stops_after_the_summary_and_simulate_executes() {
    assert_eq!(headers(&run(&[])), ["Current cluster status:"]);
    let r = run(&["-R"]);
    assert_eq!(headers(&r), ["Current cluster status:", "Transition Summary:"]);
    assert!(r.contains("Start      a"), "{r}");
    let s = run(&["-S"]);
    assert_eq!(
        headers(&s),
        [
            "Current cluster status:",
            "Transition Summary:",
            "Executing Cluster Transition:",
            "Revised Cluster Status:"
        ]
    );
    assert!(s.contains("Resource action: a               start on n2"), "{s}");
    let scores = run(&["-sRQ"]);
    assert!(scores.contains("pcmk__primitive_assign: a allocation score on n2: 10"), "{scores}");
    assert!(!scores.contains("Revised Cluster Status"), "{scores}");
}

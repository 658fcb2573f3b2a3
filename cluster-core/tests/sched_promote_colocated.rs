//! Promotion follows what is colocated with the promoted role: the HA lab's state where the
//! DRBD clone is promoted on hal2 but the web site can only run on hal1 (it needs ClusterIP,
//! which runs there, and WebFS, which needs the promoted role). Pacemaker 2.1.5 adds the node
//! scores of WebFS and, through it, of WebSite to the promotion scores (10100 on hal1, 1 on
//! hal2) and moves the promoted role, WebFS and WebSite to hal1.

use cluster_core::cib::xml::Element;
use cluster_core::scheduler::{schedule, schedule_with_scores, SchedulerInput};

const CIB: &str = include_str!("data/halab-promote-colocated.xml");

fn input() -> SchedulerInput {
    let cib = Element::parse(CIB).expect("fixture parses");
    SchedulerInput::from_cib(&cib, Some(0)).expect("fixture is a valid scheduler input")
}

#[test]
fn promoted_role_follows_colocated_dependents() {
    let t = schedule(&input());
    // Pacemaker 2.1.5's "Transition Summary" (compared with whitespace runs collapsed, as
    // compare.py does: the column padding is cosmetic).
    let want = [
        "Start      WebSite     (                        hal1 )",
        "Promote    WebData:0   ( Unpromoted -> Promoted hal1 )",
        "Demote     WebData:1   ( Promoted -> Unpromoted hal2 )",
        "Move       WebFS       (                hal2 -> hal1 )",
    ];
    let norm = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let got: Vec<String> = t.summary.iter().map(|l| norm(l)).collect();
    let want: Vec<String> = want.iter().map(|l| norm(l)).collect();
    assert_eq!(got, want);
}

#[test]
fn promotion_scores_include_dependents_of_dependents() {
    let t = schedule_with_scores(&input());
    for l in [
        "WebData:0 promotion score on hal1: 10100",
        "WebData:1 promotion score on hal2: 1",
        "pcmk__clone_allocate: WebDataClone allocation score on hal1: 50",
        "pcmk__clone_allocate: WebDataClone allocation score on hal2: 0",
    ] {
        assert!(t.scores.iter().any(|s| s == l), "missing score line {l:?} in {:#?}", t.scores);
    }
}

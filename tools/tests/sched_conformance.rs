//! Scheduler conformance: run the public Pacemaker 2.1.5 regression cases through
//! `crm_simulate -S -x` with summary and status comparison, and hold the pass count at or
//! above the floor recorded in `scheduler-floor.txt`.

use std::path::PathBuf;
use std::process::Command;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

#[test]
fn public_cases_meet_floor() {
    let root = repo_root();
    let shared = root.join("../shared/scheduler-cases");
    let cases = shared.join("public");
    if !cases.is_dir() {
        eprintln!("scheduler cases not present at {}; skipping", cases.display());
        return;
    }
    let floor: usize = std::fs::read_to_string(root.join("scheduler-floor.txt"))
        .expect("scheduler-floor.txt")
        .trim()
        .parse()
        .expect("floor is a number");
    let out = Command::new("python3")
        .arg(shared.join("compare.py"))
        .arg("--status")
        .arg("--timeout")
        .arg("20")
        .arg(&cases)
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_crm_simulate"))
        .arg("-S")
        .arg("-x")
        .output()
        .expect("run compare.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains(" passed, ")).expect("summary line");
    let passed: usize = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= floor, "conformance fell: {passed} passed < floor {floor}\n{text}");
}

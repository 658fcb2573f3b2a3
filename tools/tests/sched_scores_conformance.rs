//! Allocation and promotion scores (`crm_simulate -s`) against the public Pacemaker 2.1.5
//! cases: `compare.py --scores` (transition summary and every score line must match) holds
//! the pass count at or above the floor in `scheduler-scores-floor.txt`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn public_case_scores_meet_floor() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("root").to_path_buf();
    let shared = root.join("../shared/scheduler-cases");
    let cases = shared.join("public");
    if !cases.is_dir() {
        eprintln!("scheduler cases not present at {}; skipping", cases.display());
        return;
    }
    let floor: usize = std::fs::read_to_string(root.join("scheduler-scores-floor.txt"))
        .expect("scheduler-scores-floor.txt")
        .trim()
        .parse()
        .expect("floor is a number");
    let bin = env!("CARGO_BIN_EXE_crm_simulate");
    let script = format!("{bin} -x \"$0\" -sSQ && {bin} -x \"$0\" -S");
    let out = Command::new("python3")
        .arg(shared.join("compare.py"))
        .arg("--scores")
        .arg("--timeout")
        .arg("20")
        .arg(&cases)
        .arg("--")
        .args(["sh", "-c", &script])
        .output()
        .expect("run compare.py");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.contains(" passed, ")).expect("summary line");
    let passed: usize = line.split_whitespace().next().unwrap().parse().unwrap();
    assert!(passed >= floor, "score conformance fell: {passed} passed < floor {floor}\n{text}");
}

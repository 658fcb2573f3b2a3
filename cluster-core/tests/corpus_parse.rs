//! Every scheduler-case input parses and survives a write/read round trip.
use cluster_core::cib::Element;
use std::path::Path;

#[test]
fn public_inputs_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/scheduler-cases/public");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        panic!("scheduler cases not found at {}", dir.display());
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path().join("input.xml");
        let text = std::fs::read_to_string(&path).unwrap();
        let root = Element::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(root.name, "cib", "{}", path.display());
        let again = Element::parse(&root.to_pretty_string()).unwrap();
        assert_eq!(root, again, "{}", path.display());
        n += 1;
    }
    assert!(n >= 299, "only {n} cases");
}

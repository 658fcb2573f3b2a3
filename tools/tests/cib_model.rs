//! The typed CIB model over every public scheduler case: parse, write, re-read.

use cluster_core::cib::model::Cib;
use cluster_core::cib::validate::validate;
use cluster_core::cib::Element;

fn inputs() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/scheduler-cases/public");
    let dir = if dir.exists() {
        dir
    } else {
        std::path::PathBuf::from("/work/shared/scheduler-cases/public")
    };
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("input.xml"))
        .filter(|p| p.exists())
        .collect();
    v.sort();
    v
}

#[test]
fn every_scheduler_input_round_trips_through_the_model() {
    let files = inputs();
    assert!(files.len() >= 299, "found {} inputs", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let root = Element::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let model = Cib::from_element(&root);
        let written = model.to_element();
        let again = Cib::from_element(&Element::parse(&written.to_pretty_string()).unwrap());
        assert_eq!(again, model, "{}", f.display());
        // Nothing the tools read is lost: every id of the input is still there.
        root.walk(&mut |e| {
            if let Some(id) = e.id() {
                assert!(written.find_id(id).is_some(), "{}: id {id} lost", f.display());
            }
        });
    }
}

#[test]
fn scheduler_inputs_validate_or_name_the_problem() {
    let mut invalid = Vec::new();
    for f in inputs() {
        let root = Element::parse(&std::fs::read_to_string(&f).unwrap()).unwrap();
        for e in validate(&root) {
            invalid.push(format!(
                "{}: {e}",
                f.parent().unwrap().file_name().unwrap().to_string_lossy()
            ));
        }
    }
    for l in &invalid {
        eprintln!("{l}");
    }
    assert!(invalid.is_empty(), "{} problems", invalid.len());
}

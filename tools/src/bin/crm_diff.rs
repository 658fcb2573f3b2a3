//! `crm_diff`: the format-2 XML difference between two CIBs (`-o OLD -n NEW`, or `-O`/`-N`
//! strings), or applying one (`-o OLD -p PATCH`). Exit 1 when the documents differ, like
//! Pacemaker's.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::{diff, exit, Element};

const TOOL: &str = "crm_diff";

const SPEC: &[cli::Opt] = &[
    opt(Some('o'), "original", Takes::Value),
    opt(Some('n'), "new", Takes::Value),
    opt(Some('O'), "original-string", Takes::Value),
    opt(Some('N'), "new-string", Takes::Value),
    opt(Some('p'), "patch", Takes::Value),
    opt(Some('u'), "unified", Takes::No),
    opt(Some('c'), "cib", Takes::No),
    opt(Some('s'), "stdin", Takes::No),
    opt(None, "no-version", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
];

fn main() {
    cli::run(body)
}

fn read(file: Option<&str>, text: Option<&str>, what: &str) -> Result<Element, Failure> {
    let t = match (file, text) {
        (Some(f), _) => std::fs::read_to_string(f).map_err(|e| {
            Failure::new(exit::NOINPUT, format!("{TOOL}: Couldn't parse {what} file {f}: {e}"))
        })?,
        (None, Some(t)) => t.to_string(),
        (None, None) => {
            return Err(Failure::new(
                exit::USAGE,
                format!("{TOOL}: Both original and new XML must be specified"),
            ))
        }
    };
    Element::parse(&t)
        .map_err(|e| Failure::new(exit::DATAERR, format!("{TOOL}: Couldn't parse {what} XML: {e}")))
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_diff (-o FILE | -O STRING) (-n FILE | -N STRING | -p PATCHFILE) [-u]");
        return Ok(());
    }
    let old = read(p.value("original"), p.value("original-string"), "original")?;
    if let Some(pf) = p.value("patch") {
        let patch = read(Some(pf), None, "patch")?;
        let mut doc = old;
        diff::apply(&mut doc, &patch).map_err(|e| {
            Failure::new(exit::DATAERR, format!("{TOOL}: Could not apply patch: {e}"))
        })?;
        print!("{}", doc.to_pretty_string());
        return Ok(());
    }
    let new = read(p.value("new"), p.value("new-string"), "new")?;
    match diff::diff(&old, &new) {
        None => Ok(()),
        Some(d) => {
            print!("{}", d.to_pretty_string());
            Err(Failure::new(exit::ERROR, ""))
        }
    }
}

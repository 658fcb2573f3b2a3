//! `crm_verify`: checks a CIB (`-x FILE`, `-X STRING`, `-p` stdin, or `-L` the CIB named by
//! `CIB_file` / `CIB_shadow`) the way Pacemaker's does: schema-level validity, cluster option
//! values, the STONITH rule; with `-V`, each problem is printed. Agent meta-data (run from
//! `/usr/lib/ocf/resource.d`) adds warnings for required parameters left unset.

use std::io::Read as _;

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::verify::{ocf_meta_data, verify, Level};
use cluster_core::cib::{exit, Element};

const TOOL: &str = "crm_verify";

const SPEC: &[cli::Opt] = &[
    opt(Some('L'), "live-check", Takes::No),
    opt(Some('x'), "xml-file", Takes::Value),
    opt(Some('X'), "xml-text", Takes::Value),
    opt(Some('p'), "xml-pipe", Takes::No),
    opt(Some('S'), "save-xml", Takes::Value),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('q'), "quiet", Takes::No),
    opt(Some('h'), "help", Takes::No),
    opt(Some('$'), "version", Takes::No),
];

fn main() {
    cli::run(body)
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_verify (-L | -x FILE | -X STRING | -p) [-V]");
        return Ok(());
    }
    let text = if let Some(f) = p.value("xml-file") {
        std::fs::read_to_string(f).map_err(|_| {
            Failure::new(exit::ERROR, format!("{TOOL}: Couldn't parse input file: {f}"))
        })?
    } else if let Some(t) = p.value("xml-text") {
        t.to_string()
    } else if p.has("xml-pipe") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| Failure::new(exit::ERROR, format!("{TOOL}: {e}")))?;
        s
    } else if p.has("live-check") {
        let src =
            cli::offline_source(&format!("{TOOL}: CIB query failed: Input file not available"))
                .map_err(|f| Failure::new(exit::NOINPUT, f.message))?;
        let unavailable = || {
            Failure::new(
                exit::NOINPUT,
                format!("{TOOL}: CIB query failed: Input file not available"),
            )
        };
        if let cluster_core::cib::store::CibSource::Live(_) = src {
            // The running daemon's copy, through its socket.
            cli::load(TOOL, &src).map_err(|_| unavailable())?.to_pretty_string()
        } else {
            std::fs::read_to_string(src.path()).map_err(|_| unavailable())?
        }
    } else {
        return Err(Failure::new(
            exit::ERROR,
            format!(
                "{TOOL}: No configuration source specified.  Use --help for usage information."
            ),
        ));
    };
    let root = Element::parse(&text)
        .map_err(|e| Failure::new(exit::ERROR, format!("{TOOL}: Couldn't parse input: {e}")))?;
    if root.name != "cib" {
        return Err(Failure::new(exit::CONFIG, format!("{TOOL}: The root element is <{}>, not <cib>\n{TOOL}: Errors found during check: config not valid", root.name)));
    }
    let findings = verify(&root, &ocf_meta_data);
    let verbose = p.has("verbose");
    let errors = findings.iter().any(|f| f.level == Level::Error);
    let mut msg = String::new();
    for f in &findings {
        let schema = f.origin == "validate";
        if verbose || schema {
            msg.push_str(&if schema { format!("{TOOL}: {}", f.message) } else { f.line() });
            msg.push('\n');
        }
    }
    if errors {
        msg.push_str(&format!("{TOOL}: Errors found during check: config not valid"));
        if !verbose {
            msg.push_str("\n-V may provide more details");
        }
        return Err(Failure::new(exit::CONFIG, msg));
    }
    if !msg.is_empty() {
        eprint!("{msg}");
    }
    Ok(())
}

//! `crm_failcount`: query (`-G`) or reset (`-D`) a resource's fail count on a node, from the
//! `fail-count-RSC#OP_INTERVAL` transient attributes of `CIB_file` / `CIB_shadow`.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::ops;
use cluster_core::cib::score::score_to_string;

const TOOL: &str = "crm_failcount";

const SPEC: &[cli::Opt] = &[
    opt(Some('G'), "query", Takes::No),
    opt(Some('D'), "delete", Takes::No),
    opt(Some('r'), "resource", Takes::Value),
    opt(Some('N'), "node", Takes::Value),
    opt(Some('n'), "operation", Takes::Value),
    opt(Some('I'), "interval", Takes::Value),
    opt(Some('q'), "quiet", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
];

const USAGE: &str = "Usage: crm_failcount <command> [<options>]\nCommands:\n -G, --query            Query the current value of the resource's fail count\n -D, --delete           Delete resource's recorded failures\nAdditional Options:\n -r, --resource=value   Name of the resource to use (required)\n -n, --operation=value  Name of operation to use (instead of all operations)\n -I, --interval=value   If operation is specified, its interval\n -N, --node=value       Use failcount on named node (instead of local node)";

fn main() {
    cli::run(body)
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("{USAGE}");
        return Ok(());
    }
    let rsc = p.value("resource").ok_or_else(|| {
        Failure::new(exit::USAGE, format!("error: resource name required\n\n{USAGE}"))
    })?;
    let node = p.value("node").ok_or_else(|| {
        Failure::new(exit::USAGE, format!("error: node name required\n\n{USAGE}"))
    })?;
    let src = cli::offline_source(
        "error: Could not connect to the CIB: Transport endpoint is not connected",
    )?;
    let mut cib = cli::load(TOOL, &src)?;
    let fail = |e: ops::OpError| Failure::new(e.exit_code(), format!("{TOOL}: {e}"));
    if p.has("delete") {
        ops::cleanup(&mut cib, Some(rsc), Some(node)).map_err(fail)?;
        cli::save(TOOL, &src, &cib)?;
        println!("Cleaned up {rsc} on {node}");
        return Ok(());
    }
    let v = ops::failcount(&cib, rsc, node).map_err(fail)?;
    if p.has("quiet") {
        println!("{}", score_to_string(v));
    } else {
        println!("scope=status  name=fail-count-{rsc} value={}", score_to_string(v));
    }
    Ok(())
}

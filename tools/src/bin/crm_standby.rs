//! `crm_standby`: query, set or delete a node's `standby` attribute (permanent by default,
//! `-l reboot` for the status section), on `CIB_file` / `CIB_shadow`.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::ops::{self, Scope};

const TOOL: &str = "crm_standby";

const SPEC: &[cli::Opt] = &[
    opt(Some('N'), "node", Takes::Value),
    opt(Some('v'), "update", Takes::Value),
    opt(Some('G'), "query", Takes::No),
    opt(Some('D'), "delete", Takes::No),
    opt(Some('l'), "lifetime", Takes::Value),
    opt(Some('q'), "quiet", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
];

fn main() {
    cli::run(body)
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_standby [-N NODE] (-G | -v on|off | -D) [-l reboot|forever] [-q]");
        return Ok(());
    }
    let lifetime = match p.value("lifetime") {
        None => None,
        Some("reboot") => Some(Scope::Status),
        Some("forever") => Some(Scope::Nodes),
        Some(l) => {
            return Err(Failure::new(
                exit::INVALID_PARAM,
                format!("{TOOL}: Invalid value '{l}' for -l/--lifetime"),
            ))
        }
    };
    let node = p.value("node").map(str::to_string).unwrap_or_else(ops::local_node_name);
    let src = cli::offline_source(&format!(
        "{TOOL}: Could not connect to the CIB: Transport endpoint is not connected"
    ))?;
    let mut cib = cli::load(TOOL, &src)?;
    let fail = |e: ops::OpError| Failure::new(e.exit_code(), format!("{TOOL}: {e}"));
    if let Some(v) = p.value("update") {
        ops::set_attr(&mut cib, lifetime.unwrap_or(Scope::Nodes), Some(&node), None, "standby", v)
            .map_err(fail)?;
        return cli::save(TOOL, &src, &cib);
    }
    if p.has("delete") {
        let scope = lifetime.unwrap_or(Scope::Nodes);
        if let Some(gone) =
            ops::delete_attr(&mut cib, scope, Some(&node), "standby").map_err(fail)?
        {
            cli::save(TOOL, &src, &cib)?;
            println!("Deleted {} attribute: id={} name=standby", scope.name(), gone.id);
        }
        return Ok(());
    }
    let scopes = match lifetime {
        Some(s) => vec![s],
        None => vec![Scope::Nodes, Scope::Status],
    };
    let mut found = None;
    for s in &scopes {
        if let Some(a) = ops::get_attr(&cib, *s, Some(&node), "standby").map_err(fail)? {
            found = Some((*s, a.value));
            break;
        }
    }
    let (scope, value) = found.unwrap_or((lifetime.unwrap_or(Scope::Status), "off".into()));
    if p.has("quiet") {
        println!("{value}");
    } else {
        println!("scope={}  name=standby value={value}", scope.name());
    }
    Ok(())
}

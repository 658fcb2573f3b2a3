//! `attrd_updater`: set, query or delete transient node attributes. There is no attribute
//! daemon in this build: with `CIB_file` / `CIB_shadow` set the status section's transient
//! attributes are edited directly (dampening `-d` is accepted and ignored); with neither set
//! it fails like Pacemaker's with attrd down (exit 102).

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::model::Cib;
use cluster_core::cib::ops::{self, Scope};

const TOOL: &str = "attrd_updater";

const SPEC: &[cli::Opt] = &[
    opt(Some('n'), "name", Takes::Value),
    opt(Some('U'), "update", Takes::Value),
    opt(Some('v'), "value", Takes::Value),
    opt(Some('B'), "update-both", Takes::Value),
    opt(Some('Y'), "update-delay", Takes::No),
    opt(Some('Q'), "query", Takes::No),
    opt(Some('D'), "delete", Takes::No),
    opt(Some('R'), "refresh", Takes::No),
    opt(Some('A'), "all", Takes::No),
    opt(Some('N'), "node", Takes::Value),
    opt(Some('d'), "delay", Takes::Value),
    opt(Some('s'), "set", Takes::Value),
    opt(Some('p'), "private", Takes::No),
    opt(Some('l'), "lifetime", Takes::Value),
    opt(Some('S'), "section", Takes::Value),
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
        println!("Usage: attrd_updater -n NAME (-U VALUE | -Q [-A] | -D) [-N NODE] [-d DAMPEN]");
        return Ok(());
    }
    if p.has("refresh") {
        return Ok(());
    }
    let name = p
        .value("name")
        .ok_or_else(|| Failure::new(exit::USAGE, format!("{TOOL}: -n/--name is required")))?;
    let value = p.value("update").or(p.value("value")).or(p.value("update-both"));
    let down = match (value, p.has("query"), p.has("delete")) {
        (Some(v), _, _) => format!("Could not update {name}={v}: Connection refused (111)"),
        (None, true, _) => format!("Could not query value of {name}: Connection refused (111)"),
        _ => format!("Could not delete {name}: Connection refused (111)"),
    };
    let src = cli::offline_source(&down)?;
    let mut cib = cli::load(TOOL, &src)?;
    let node = p.value("node").map(str::to_string).unwrap_or_else(ops::local_node_name);
    let fail = |e: ops::OpError| Failure::new(e.exit_code(), format!("{TOOL}: {e}"));
    if let Some(v) = value {
        ops::set_attr(&mut cib, Scope::Status, Some(&node), p.value("set"), name, v)
            .map_err(fail)?;
        return cli::save(TOOL, &src, &cib);
    }
    if p.has("delete") {
        if ops::delete_attr(&mut cib, Scope::Status, Some(&node), name).map_err(fail)?.is_some() {
            cli::save(TOOL, &src, &cib)?;
        }
        return Ok(());
    }
    if p.has("query") {
        let nodes: Vec<String> = if p.has("all") {
            Cib::from_element(&cib).status.iter().filter_map(|s| s.uname.clone()).collect()
        } else {
            vec![node]
        };
        let mut any = false;
        for n in nodes {
            if let Some(a) = ops::get_attr(&cib, Scope::Status, Some(&n), name).map_err(fail)? {
                any = true;
                println!("name=\"{name}\" host=\"{n}\" value=\"{}\"", a.value);
            }
        }
        if !any {
            return Err(Failure::new(
                exit::NOSUCH,
                format!("Could not query value of {name}: attribute does not exist"),
            ));
        }
        return Ok(());
    }
    Err(Failure::new(
        exit::USAGE,
        format!("{TOOL}: No command given. Use --help for usage information."),
    ))
}

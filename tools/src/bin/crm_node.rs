//! `crm_node`: node names, ids, membership and quorum. Without a controller this build answers
//! from the CIB named by `CIB_file` / `CIB_shadow` (configured nodes, `node_state` for
//! membership, `have-quorum` for quorum); with neither set it fails like Pacemaker's with no
//! controller running (exit 102).

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::model::Cib;
use cluster_core::cib::ops;

const TOOL: &str = "crm_node";

const SPEC: &[cli::Opt] = &[
    opt(Some('n'), "name", Takes::No),
    opt(Some('N'), "name-for-id", Takes::Value),
    opt(Some('i'), "cluster-id", Takes::No),
    opt(Some('l'), "list", Takes::No),
    opt(Some('p'), "partition", Takes::No),
    opt(Some('q'), "quorum", Takes::No),
    opt(Some('R'), "remove", Takes::Value),
    opt(Some('f'), "force", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
    opt(Some('$'), "version", Takes::No),
];

fn main() {
    cli::run(body)
}

fn online(ns: &cluster_core::cib::model::NodeState) -> bool {
    let get = |k: &str| ns.extra.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    get("crmd") == Some("online")
        || get("in_ccm").is_some_and(|v| v == "true" || v.parse::<u64>().is_ok_and(|n| n > 0))
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_node (-n | -N ID | -i | -l | -p | -q | -R NODE --force)");
        return Ok(());
    }
    if p.has("version") {
        println!("Pacemaker 2.1.5");
        return Ok(());
    }
    let src = cli::offline_source("error: Could not connect to controller: Connection refused")?;
    let mut root = cli::load(TOOL, &src)?;
    let cib = Cib::from_element(&root);
    let state = |uname: &str| cib.status.iter().find(|s| s.uname.as_deref() == Some(uname));
    if p.has("name") {
        println!("{}", ops::local_node_name());
    } else if let Some(id) = p.value("name-for-id") {
        let n = cib.nodes.iter().find(|n| n.id == id).ok_or_else(|| {
            Failure::new(exit::NOSUCH, format!("{TOOL}: Could not map id={id} to a node name"))
        })?;
        println!("{}", n.uname);
    } else if p.has("cluster-id") {
        let me = ops::local_node_name();
        let n = cib.node(&me).ok_or_else(|| {
            Failure::new(exit::NOSUCH, format!("{TOOL}: Could not map name={me} to a UUID"))
        })?;
        println!("{}", n.id);
    } else if p.has("list") {
        for n in &cib.nodes {
            let st = if state(&n.uname).is_some_and(online) { "member" } else { "lost" };
            println!("{} {} {st}", n.id, n.uname);
        }
    } else if p.has("partition") {
        let up: Vec<&str> = cib
            .nodes
            .iter()
            .filter(|n| state(&n.uname).is_some_and(online))
            .map(|n| n.uname.as_str())
            .collect();
        println!("{}", up.join(" "));
    } else if p.has("quorum") {
        let q = cib.extra.iter().any(|(k, v)| k == "have-quorum" && (v == "1" || v == "true"));
        println!("{}", if q { 1 } else { 0 });
    } else if let Some(node) = p.value("remove") {
        let id = ops::node_id(&root, node).ok_or_else(|| {
            Failure::new(exit::NOSUCH, format!("{TOOL}: Could not map name={node} to a UUID"))
        })?;
        for sec in ["nodes", "status"] {
            if let Some(s) = ops::section_mut(&mut root, sec) {
                s.children.retain(|c| c.id() != Some(id.as_str()));
            }
        }
        cluster_core::cib::store::bump_epoch(&mut root);
        cli::save(TOOL, &src, &root)?;
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{TOOL}: No command given. Use --help for usage information."),
        ));
    }
    Ok(())
}

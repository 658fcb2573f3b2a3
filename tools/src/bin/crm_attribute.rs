//! `crm_attribute`: query, set or delete cluster properties, node attributes and transient
//! (status) attributes, Pacemaker-compatible. Works on `CIB_file` / `CIB_shadow`; transient
//! attributes are written straight into the file's status section.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::ops::{self, OpError, Scope};

const TOOL: &str = "crm_attribute";

const SPEC: &[cli::Opt] = &[
    opt(Some('n'), "name", Takes::Value),
    opt(Some('v'), "update", Takes::Value),
    opt(None, "attr-value", Takes::Value),
    opt(Some('G'), "query", Takes::No),
    opt(Some('D'), "delete", Takes::No),
    opt(Some('q'), "quiet", Takes::No),
    opt(Some('Q'), "quiet-update", Takes::No),
    opt(Some('t'), "type", Takes::Value),
    opt(Some('l'), "lifetime", Takes::Value),
    opt(Some('N'), "node", Takes::Value),
    opt(Some('p'), "promotion", Takes::Optional),
    opt(None, "master", Takes::Optional),
    opt(Some('d'), "default", Takes::Value),
    opt(Some('s'), "set-name", Takes::Value),
    opt(Some('i'), "id", Takes::Value),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
    opt(Some('$'), "version", Takes::No),
];

const USAGE: &str = "Usage: crm_attribute -n NAME [-v VALUE | -G | -D] [-t crm_config|nodes|status|rsc_defaults|op_defaults] [-l reboot|forever] [-N NODE] [-p [RSC]] [-d DEFAULT] [-q]";

/// Runs crm_attribute with `args`; also used by crm_master.
fn main() {
    cli::run(body)
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("{USAGE}");
        return Ok(());
    }
    if p.has("version") {
        println!("Pacemaker 2.1.5");
        return Ok(());
    }
    let promotion = p.has("promotion") || p.has("master");
    let mut name = p.value("name").map(str::to_string);
    if promotion {
        let rsc = p
            .value("promotion")
            .or(p.value("master"))
            .map(str::to_string)
            .or_else(|| std::env::var("OCF_RESOURCE_INSTANCE").ok().filter(|v| !v.is_empty()))
            .ok_or_else(|| {
                Failure::new(
                    exit::USAGE,
                    format!("{TOOL}: -p/--promotion must be called from an OCF resource agent or with a resource ID specified"),
                )
            })?;
        name = Some(format!("master-{rsc}"));
    }
    let scope = match (p.value("type"), p.value("lifetime")) {
        (Some(t), _) => Scope::parse(t).ok_or_else(|| {
            Failure::new(exit::INVALID_PARAM, format!("{TOOL}: Invalid value '{t}' for -t/--type"))
        })?,
        (None, Some(l)) => match l {
            "reboot" => Scope::Status,
            "forever" => Scope::Nodes,
            _ => {
                return Err(Failure::new(
                    exit::INVALID_PARAM,
                    format!("{TOOL}: Invalid value '{l}' for -l/--lifetime"),
                ))
            }
        },
        (None, None) if promotion => Scope::Status,
        (None, None) if p.has("node") => Scope::Nodes,
        _ => Scope::CrmConfig,
    };
    let name = name.ok_or_else(|| {
        Failure::new(exit::USAGE, format!("{TOOL}: -n/--name is required\n{USAGE}"))
    })?;
    let node = match p.value("node") {
        Some(n) if n != "auto" && n != "localhost" => Some(n.to_string()),
        _ if matches!(scope, Scope::Nodes | Scope::Status) => {
            Some(ops::attribute_target_node(|k| std::env::var(k).ok()))
        }
        _ => None,
    };
    let src = cli::offline_source(&format!(
        "{TOOL}: Could not connect to the CIB: Transport endpoint is not connected"
    ))?;
    let mut cib = cli::load(TOOL, &src)?;
    let fail = |e: OpError| {
        let msg = match &e {
            OpError::NoSuchNode(_) => format!("{TOOL}: {e}"),
            OpError::NoStatusEntry { .. } => {
                format!("{e}\n{TOOL}: Error performing operation: No such device or address")
            }
            _ => format!("{TOOL}: Error performing operation: {e}"),
        };
        Failure::new(e.exit_code(), msg)
    };
    let value = p.value("update").or(p.value("attr-value"));
    if let Some(v) = value {
        ops::set_attr(&mut cib, scope, node.as_deref(), p.value("set-name"), &name, v)
            .map_err(fail)?;
        return cli::save(TOOL, &src, &cib);
    }
    if p.has("delete") {
        if let Some(gone) =
            ops::delete_attr(&mut cib, scope, node.as_deref(), &name).map_err(fail)?
        {
            cli::save(TOOL, &src, &cib)?;
            let what = if scope == Scope::CrmConfig { "option" } else { "attribute" };
            if !p.has("quiet") && !p.has("quiet-update") {
                println!("Deleted {} {what}: id={} name={name}", scope.name(), gone.id);
            }
        }
        return Ok(());
    }
    let found = ops::get_attr(&cib, scope, node.as_deref(), &name).map_err(fail)?;
    let value = match (found, p.value("default")) {
        (Some(a), _) => a.value,
        (None, Some(d)) => d.to_string(),
        (None, None) => {
            return Err(Failure::new(
                exit::NOSUCH,
                format!("{TOOL}: Error performing operation: No such device or address"),
            ))
        }
    };
    if p.has("quiet") || p.has("quiet-update") {
        println!("{value}");
    } else {
        println!("scope={}  name={name} value={value}", scope.name());
    }
    Ok(())
}

//! `crm_resource`: locate, move, ban, clear, clean up and list resources, and read or write
//! their parameters, Pacemaker-compatible, on `CIB_file` / `CIB_shadow`. Clean-up edits the
//! file's status section directly (forgetting history and fail counts).
//!
//! `--force-start/-stop/-check/-promote/-demote -r RSC` run one action of the configured
//! primitive (a clone's primitive; groups are refused) through the executor on this node,
//! with the CIB's instance and meta attributes and the op's timeout (default 20 s), print
//! `Operation force-ACTION for RSC (class:provider:type) returned RC (name)` and the agent's
//! output, and exit with the action's OCF code. The CIB is only read, never written.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::exit;
use cluster_core::cib::model::Cib;
use cluster_core::cib::ops::{self, MoveOutcome, OpError};

const TOOL: &str = "crm_resource";

const SPEC: &[cli::Opt] = &[
    opt(Some('r'), "resource", Takes::Value),
    opt(Some('N'), "node", Takes::Value),
    opt(Some('W'), "locate", Takes::No),
    opt(Some('M'), "move", Takes::No),
    opt(Some('B'), "ban", Takes::No),
    opt(Some('U'), "clear", Takes::No),
    opt(None, "un-move", Takes::No),
    opt(Some('C'), "cleanup", Takes::No),
    opt(Some('R'), "refresh", Takes::No),
    opt(Some('l'), "list-raw", Takes::No),
    opt(Some('L'), "list", Takes::No),
    opt(Some('Q'), "quiet", Takes::No),
    opt(Some('q'), "query-xml", Takes::No),
    opt(Some('z'), "utilization", Takes::No),
    opt(Some('t'), "resource-type", Takes::Value),
    opt(Some('g'), "get-parameter", Takes::Value),
    opt(Some('p'), "set-parameter", Takes::Value),
    opt(Some('d'), "delete-parameter", Takes::Value),
    opt(Some('v'), "parameter-value", Takes::Value),
    opt(Some('m'), "meta", Takes::No),
    opt(None, "promoted", Takes::No),
    opt(None, "master", Takes::No),
    opt(Some('u'), "lifetime", Takes::Value),
    opt(Some('f'), "force", Takes::No),
    opt(None, "force-start", Takes::No),
    opt(None, "force-stop", Takes::No),
    opt(None, "force-check", Takes::No),
    opt(None, "force-promote", Takes::No),
    opt(None, "force-demote", Takes::No),
    opt(Some('n'), "operation", Takes::Value),
    opt(Some('I'), "interval", Takes::Value),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
    opt(Some('$'), "version", Takes::No),
];

fn main() {
    cli::run(body)
}

fn not_found(e: OpError) -> Failure {
    match e {
        OpError::NoSuchResource(_) | OpError::NodeNotFound(_) | OpError::NoSuchNode(_) => {
            let e = match e {
                OpError::NoSuchNode(n) => OpError::NodeNotFound(n),
                e => e,
            };
            Failure::new(exit::NOSUCH, format!("{TOOL}: {e}\nError performing operation: No such object"))
        }
        OpError::NotMovable { ref rsc, .. } => Failure::new(
            exit::USAGE,
            format!("{TOOL}: {e}\nTo prevent '{rsc}' from running on a specific location, specify a node."),
        ),
        e => Failure::new(e.exit_code(), format!("{TOOL}: {e}")),
    }
}

/// The `--force-*` options, each running one agent action on this node.
const FORCE: [&str; 5] =
    ["force-start", "force-stop", "force-check", "force-promote", "force-demote"];

/// The agent action behind a `--force-*` option (`check` is a one-shot monitor).
fn force_agent_action(option: &str) -> &'static str {
    match option {
        "force-start" => "start",
        "force-stop" => "stop",
        "force-promote" => "promote",
        "force-demote" => "demote",
        _ => "monitor",
    }
}

/// Pacemaker's text for an exit status, as printed after "Error performing operation:".
fn exit_text(code: i32) -> String {
    match code {
        1 => "Error occurred".into(),
        2 => "Invalid parameter".into(),
        3 => "Unimplemented".into(),
        4 => "Insufficient privileges".into(),
        5 => "Not installed".into(),
        6 => "Not configured".into(),
        7 => "Not running".into(),
        8 => "Promoted".into(),
        9 => "Failed in promoted role".into(),
        124 => "Timeout occurred".into(),
        c => format!("Unknown exit status {c}"),
    }
}

/// `--force-*`: runs one action of `rsc` (a primitive, or the primitive a clone holds) through
/// the executor here, prints the result line and the agent's output, and exits with the
/// action's OCF code, as Pacemaker's `crm_resource` does.
fn force_action(
    cib: &cluster_core::cib::xml::Element,
    rsc: &str,
    option: &str,
    verbose: bool,
) -> Result<(), Failure> {
    use cluster_core::cib::model::Resource;
    use cluster_core::exec::{AgentClass, AgentRequest, ExecConfig, ExecStatus, ProcessRunner};
    let model = Cib::from_element(cib);
    let found =
        model.resource(rsc).ok_or_else(|| not_found(OpError::NoSuchResource(rsc.into())))?;
    let unsupported = |what: &str| {
        Failure::new(
            exit::UNIMPLEMENT_FEATURE,
            format!("Sorry, the {option} option doesn't support {what} resources\n{TOOL}: Error performing operation: Unimplemented"),
        )
    };
    let prim = match found {
        Resource::Primitive(p) => p,
        Resource::Clone(c) => match c.child.as_deref() {
            Some(Resource::Primitive(p)) => p,
            Some(Resource::Group(_)) => return Err(unsupported("group")),
            _ => return Err(unsupported("clone")),
        },
        Resource::Group(_) => return Err(unsupported("group")),
        Resource::Other(_) => return Err(unsupported("bundle")),
    };
    let class_name = prim.class.as_deref().unwrap_or("");
    let agent = prim.agent_type.as_deref().unwrap_or("");
    let class = AgentClass::parse(class_name, prim.provider.as_deref()).ok_or_else(|| {
        Failure::new(
            exit::NOT_CONFIGURED,
            format!("{TOOL}: Resource '{rsc}' has an unknown agent class '{class_name}'\n{TOOL}: Error performing operation: Not configured"),
        )
    })?;
    let action = force_agent_action(option);
    let mut req = AgentRequest::new(rsc, class, agent, action);
    for set in &prim.sets {
        let target = match set.element.as_str() {
            "instance_attributes" => &mut req.params,
            "meta_attributes" => &mut req.meta,
            _ => continue,
        };
        for nv in &set.nvpairs {
            if let Some(v) = &nv.value {
                target.entry(nv.name.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    let timeout =
        prim.ops.iter().filter(|o| o.name == action).find_map(|o| {
            o.timeout.as_deref().and_then(cluster_core::cib::verify::parse_duration_ms)
        });
    if let Some(ms) = timeout {
        req.timeout_ms = ms;
    }
    let spec = match &req.class {
        AgentClass::Ocf { provider } => format!("ocf:{provider}:{agent}"),
        c => format!("{}:{agent}", c.name()),
    };
    if verbose {
        eprintln!(
            "Running {action} (interval 0, timeout {} ms) of {rsc} ({spec})",
            req.effective_timeout_ms()
        );
    }
    // The agent inherits the CIB location, so its own `crm_attribute` calls reach the same CIB.
    let mut cfg = ExecConfig::default();
    for var in ["CIB_file", "CIB_shadow", "CIB_shadow_dir"] {
        if let Ok(v) = std::env::var(var) {
            cfg.extra_env.push((var.to_string(), v));
        }
    }
    let res = ProcessRunner::new(cfg).run(req);
    if verbose {
        eprintln!("{action} of {rsc} took {} ms", res.duration_ms);
        if let Some(r) = &res.exit_reason {
            eprintln!("Exit reason: {r}");
        }
    }
    let code = if matches!(res.status, ExecStatus::Done | ExecStatus::NotInstalled) {
        let rc = res.rc.code();
        println!("Operation {option} for {rsc} ({spec}) returned {rc} ({})", res.rc.name());
        rc
    } else {
        let reason = res.exit_reason.clone().unwrap_or_else(|| format!("{:?}", res.status));
        println!("Operation {option} for {rsc} ({spec}) failed: '{reason}' ({})", res.rc.code());
        if res.status == ExecStatus::Timeout {
            exit::TIMEOUT
        } else {
            exit::ERROR
        }
    };
    if !res.stdout.trim().is_empty() {
        println!("{}", res.stdout);
    }
    if !res.stderr.trim().is_empty() {
        println!("{}", res.stderr);
    }
    if code == 0 {
        Ok(())
    } else {
        Err(Failure::new(code, format!("{TOOL}: Error performing operation: {}", exit_text(code))))
    }
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_resource [-r RSC] (-W | -M [-N NODE] | -B [-N NODE] | -U [-N NODE] | -C [-N NODE] | -l | -L | -g NAME | -p NAME -v VALUE | -d NAME) [--meta] [--promoted] [-q]\n       crm_resource -r RSC (--force-start | --force-stop | --force-check | --force-promote | --force-demote) [-V]");
        return Ok(());
    }
    if p.has("version") {
        println!("Pacemaker 2.1.5");
        return Ok(());
    }
    let until = match p.value("lifetime") {
        None => None,
        Some(l) => {
            let ms = cluster_core::cib::verify::parse_duration_ms(l).ok_or_else(|| {
                Failure::new(
                    exit::INVALID_PARAM,
                    format!("{TOOL}: Invalid duration '{l}' for -u/--lifetime"),
                )
            })?;
            // A command-line tool reads the wall clock once to date the constraint's end.
            #[allow(clippy::disallowed_methods)]
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            Some(ops::format_utc(now + ms / 1000))
        }
    };
    let src = cli::offline_source(&format!("{TOOL}: Could not connect to the CIB: Transport endpoint is not connected\nError performing operation: Could not connect to the CIB"))?;
    let mut cib = cli::load(TOOL, &src)?;
    let rsc = p.value("resource");
    let node = p.value("node");
    let promoted = p.has("promoted") || p.has("master");
    let need_rsc = |what: &str| {
        rsc.ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("{TOOL}: Must supply a resource id with -r for {what}"),
            )
        })
    };
    if let Some(action) = FORCE.iter().find(|f| p.has(f)) {
        let rsc = rsc.ok_or_else(|| {
            Failure::new(exit::USAGE, format!("{TOOL}: Must supply a resource id with -r"))
        })?;
        return force_action(&cib, rsc, action, p.has("verbose"));
    }
    let kind = if p.has("meta") {
        ops::AttrKind::Meta
    } else if p.has("utilization") {
        ops::AttrKind::Utilization
    } else {
        ops::AttrKind::Instance
    };
    if p.has("list-raw") {
        for id in ops::list_raw(&cib) {
            println!("{id}");
        }
    } else if p.has("list") {
        print!("{}", ops::resource_list(&cib));
    } else if p.has("locate") {
        let rsc = need_rsc("--locate")?;
        let locs = ops::locate(&cib, rsc).map_err(not_found)?;
        if p.has("quiet") {
            for l in &locs {
                println!("{}", l.node);
            }
        } else if locs.is_empty() {
            eprint!("{}", ops::locate_text(rsc, &locs));
        } else {
            print!("{}", ops::locate_text(rsc, &locs));
        }
    } else if p.has("move") {
        let rsc = need_rsc("--move")?;
        let out = ops::move_resource(&mut cib, rsc, node, promoted, until.as_deref())
            .map_err(not_found)?;
        cli::save(TOOL, &src, &cib)?;
        if let Some(u) = &until {
            println!("Migration will take effect until: {u}");
        }
        if let MoveOutcome::Banned(n) = out {
            print!("{}", ops::ban_warning(rsc, &n));
        }
    } else if p.has("ban") {
        let rsc = need_rsc("--ban")?;
        let MoveOutcome::Banned(n) =
            ops::ban(&mut cib, rsc, node, promoted, until.as_deref()).map_err(not_found)?
        else {
            unreachable!("ban only bans")
        };
        cli::save(TOOL, &src, &cib)?;
        if let Some(u) = &until {
            println!("Migration will take effect until: {u}");
        }
        print!("{}", ops::ban_warning(rsc, &n));
    } else if p.has("clear") || p.has("un-move") {
        let rsc = need_rsc("--clear")?;
        let removed = ops::clear(&mut cib, rsc, node).map_err(not_found)?;
        if !removed.is_empty() {
            cli::save(TOOL, &src, &cib)?;
        }
        for id in removed {
            println!("Removing constraint: {id}");
        }
    } else if p.has("cleanup") || p.has("refresh") {
        let nodes = ops::cleanup(&mut cib, rsc, node).map_err(not_found)?;
        cli::save(TOOL, &src, &cib)?;
        print!("{}", ops::cleanup_text(rsc, &nodes));
    } else if let Some(name) = p.value("get-parameter") {
        let rsc = need_rsc("--get-parameter")?;
        match ops::get_resource_attr(&cib, rsc, kind, name).map_err(not_found)? {
            Some(v) => println!("{v}"),
            None => eprintln!("Attribute '{name}' not found for '{rsc}'"),
        }
    } else if let Some(name) = p.value("set-parameter") {
        let rsc = need_rsc("--set-parameter")?;
        let value = p.value("parameter-value").ok_or_else(|| {
            Failure::new(
                exit::USAGE,
                format!("{TOOL}: You need to supply a value with the -v option"),
            )
        })?;
        let r = ops::set_resource_attr(&mut cib, rsc, kind, name, value).map_err(not_found)?;
        cli::save(TOOL, &src, &cib)?;
        match r.new_in_set {
            Some(set) => {
                println!("Set '{rsc}' option: id={} set={set} name={name} value={value}", r.id)
            }
            None => println!("Set '{rsc}' option: id={} name={name} value={value}", r.id),
        }
    } else if let Some(name) = p.value("delete-parameter") {
        let rsc = need_rsc("--delete-parameter")?;
        if let Some(id) = ops::delete_resource_attr(&mut cib, rsc, kind, name).map_err(not_found)? {
            cli::save(TOOL, &src, &cib)?;
            println!("Deleted '{rsc}' option: id={id} name={name}");
        }
    } else if p.has("query-xml") {
        let rsc = need_rsc("--query-xml")?;
        let model = Cib::from_element(&cib);
        let r =
            model.resource(rsc).ok_or_else(|| not_found(OpError::NoSuchResource(rsc.into())))?;
        print!("{}", r.to_element().to_pretty_string());
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{TOOL}: No command given. Use --help for usage information."),
        ));
    }
    Ok(())
}

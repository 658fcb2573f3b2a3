//! `cibadmin`: raw CIB access (query, create, modify, replace, delete, patch, empty), on
//! `CIB_file` / `CIB_shadow`. Edits are validated first; a rejected edit writes nothing.

use std::io::Read as _;

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::ops::{self, OpError};
use cluster_core::cib::xpath::{self, XPath};
use cluster_core::cib::{diff, exit, store, Element};

const TOOL: &str = "cibadmin";

const SPEC: &[cli::Opt] = &[
    opt(Some('Q'), "query", Takes::No),
    opt(Some('C'), "create", Takes::No),
    opt(Some('M'), "modify", Takes::No),
    opt(Some('R'), "replace", Takes::No),
    opt(Some('D'), "delete", Takes::No),
    opt(Some('E'), "erase", Takes::No),
    opt(Some('P'), "patch", Takes::No),
    opt(Some('B'), "bump", Takes::No),
    opt(Some('a'), "empty", Takes::Optional),
    opt(Some('o'), "scope", Takes::Value),
    opt(Some('X'), "xml-text", Takes::Value),
    opt(Some('x'), "xml-file", Takes::Value),
    opt(Some('p'), "xml-pipe", Takes::No),
    opt(Some('A'), "xpath", Takes::Value),
    opt(Some('l'), "local", Takes::No),
    opt(Some('s'), "sync-call", Takes::No),
    opt(Some('f'), "force", Takes::No),
    opt(Some('n'), "no-children", Takes::No),
    opt(Some('d'), "delete-all", Takes::No),
    opt(Some('e'), "node-path", Takes::No),
    opt(Some('c'), "allow-create", Takes::No),
    opt(Some('t'), "timeout", Takes::Value),
    opt(Some('U'), "user", Takes::Value),
    opt(Some('N'), "node", Takes::Value),
    opt(Some('u'), "upgrade", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
    opt(Some('$'), "version", Takes::No),
];

const DANGEROUS: &str = "The supplied command is considered dangerous.  To prevent accidental destruction of the cluster, the --force flag is required in order to proceed.";

fn main() {
    cli::run(body)
}

fn input(p: &cli::Parsed) -> Result<Element, Failure> {
    let text = if let Some(t) = p.value("xml-text") {
        t.to_string()
    } else if let Some(f) = p.value("xml-file") {
        std::fs::read_to_string(f).map_err(|e| {
            Failure::new(exit::NOINPUT, format!("{TOOL}: Couldn't parse input file: {f}: {e}"))
        })?
    } else if p.has("xml-pipe") {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Failure::new(exit::NOINPUT, format!("{TOOL}: Couldn't read stdin: {e}"))
        })?;
        s
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{TOOL}: This command requires XML data (-X, -x or -p)"),
        ));
    };
    Element::parse(&text).map_err(|e| {
        Failure::new(exit::DATAERR, format!("{TOOL}: Couldn't parse input string: {e}"))
    })
}

fn call_failed(e: OpError) -> Failure {
    match e {
        OpError::Invalid(v) => Failure::new(
            exit::CONFIG,
            format!("Call failed: Update does not conform to the configured schema\n{TOOL}: {v}"),
        ),
        e => Failure::new(e.exit_code(), format!("Call failed: {e}")),
    }
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: cibadmin (-Q [-o SECTION] | -C|-M|-R|-D (-X XML | -x FILE | -p) [-o SECTION] | -P (-x FILE | -X XML | -p) | -E --force | -B | --empty)");
        return Ok(());
    }
    if p.has("version") {
        println!("Pacemaker 2.1.5");
        return Ok(());
    }
    if p.has("empty") {
        print!("{}", ops::empty_cib().to_pretty_string());
        return Ok(());
    }
    let xpath = match p.value("xpath") {
        Some(x) => Some(
            XPath::parse(x)
                .map_err(|e| Failure::new(exit::INVALID_PARAM, format!("{TOOL}: {e}")))?,
        ),
        None => None,
    };
    let scope = p.value("scope");
    if let Some(s) = scope {
        if !ops::is_section(s) && !p.has("query") {
            return Err(Failure::new(exit::INVALID_PARAM, format!("{TOOL}: Invalid scope '{s}'")));
        }
    }
    let src = cli::offline_source("Could not connect to the CIB: Transport endpoint is not connected\nInit failed, could not perform requested operations: Transport endpoint is not connected")?;
    let mut cib = cli::load(TOOL, &src)?;
    if let Some(x) = &xpath {
        if p.has("query") || p.has("delete") || p.has("delete-all") {
            let found = x.select(&cib);
            if found.is_empty() {
                return Err(Failure::new(exit::NOSUCH, "Call failed: No such device or address"));
            }
            if p.has("query") {
                if p.has("node-path") {
                    for f in &found {
                        println!("{}", xpath::node_path(&cib, f));
                    }
                } else if found.len() == 1 {
                    print!("{}", xpath::at(&cib, &found[0]).to_pretty_string());
                } else {
                    let mut wrap = Element::new("xpath-query");
                    wrap.children = found.iter().map(|f| xpath::at(&cib, f).clone()).collect();
                    print!("{}", wrap.to_pretty_string());
                }
                return Ok(());
            }
            if p.has("delete-all") && !p.has("force") {
                return Err(Failure::new(exit::UNSAFE, DANGEROUS));
            }
            let victims = if p.has("delete-all") { found } else { found[..1].to_vec() };
            let mut work = cib.clone();
            xpath::remove(&mut work, &victims);
            if let Some(v) = cluster_core::cib::validate::validate(&work).into_iter().next() {
                return Err(call_failed(OpError::Invalid(v)));
            }
            let status_at = cib.children.iter().position(|c| c.name == "status");
            if victims.iter().all(|v| v.first().copied() == status_at) {
                ops::bump_updates(&mut work);
            } else {
                store::bump_epoch(&mut work);
            }
            return cli::save(TOOL, &src, &work);
        }
    }
    if p.has("upgrade") {
        return Ok(());
    }
    if p.has("query") {
        let e = scope.and_then(|s| ops::section(&cib, s)).unwrap_or(&cib);
        let mut e = e.clone();
        if p.has("no-children") {
            e.children.clear();
        }
        print!("{}", e.to_pretty_string());
        return Ok(());
    }
    if p.has("bump") {
        // Pacemaker's -B raises epoch and counts the write as an update too.
        let updates = cib.attr("num_updates").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        store::bump_epoch(&mut cib);
        cib.set_attr("num_updates", &(updates + 1).to_string());
        return cli::save(TOOL, &src, &cib);
    }
    if p.has("erase") {
        if !p.has("force") {
            return Err(Failure::new(exit::UNSAFE, DANGEROUS));
        }
        let mut fresh = ops::empty_cib();
        let epoch = cib.attr("epoch").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        fresh.set_attr("epoch", &(epoch + 1).to_string());
        return cli::save(TOOL, &src, &fresh);
    }
    let obj = input(&p)?;
    if p.has("create") {
        let id = obj.id().unwrap_or("").to_string();
        let name = obj.name.clone();
        if let Err(e) = ops::create_object(&mut cib, scope, obj.clone()) {
            if matches!(e, OpError::Exists(_)) {
                let failed = Element::new("failed").with_child(
                    Element::new("failed_update")
                        .with_attr("id", &id)
                        .with_attr("object_type", &name)
                        .with_attr("operation", "cib_create")
                        .with_attr("reason", "File exists")
                        .with_child(obj),
                );
                print!("{}", failed.to_pretty_string());
            }
            return Err(call_failed(e));
        }
    } else if p.has("modify") {
        ops::modify_object(&mut cib, &obj).map_err(call_failed)?;
    } else if p.has("replace") {
        ops::replace_object(&mut cib, &obj).map_err(call_failed)?;
    } else if p.has("delete") {
        if !ops::delete_object(&mut cib, &obj).map_err(call_failed)? {
            return Ok(());
        }
    } else if p.has("patch") {
        diff::apply(&mut cib, &obj)
            .map_err(|e| Failure::new(exit::DATAERR, format!("Call failed: {e}")))?;
        if let Some(v) = cluster_core::cib::validate::validate(&cib).into_iter().next() {
            return Err(call_failed(OpError::Invalid(v)));
        }
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{TOOL}: No command given. Use --help for usage information."),
        ));
    }
    cli::save(TOOL, &src, &cib)
}

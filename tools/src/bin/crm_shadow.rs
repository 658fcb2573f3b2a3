//! `crm_shadow`: shadow copies of the CIB in `CIB_shadow_dir` (default
//! `/var/lib/pacemaker/cib`), files `shadow.NAME`. The "live" CIB a shadow is made from or
//! committed to is `CIB_file` when set; with no cluster daemon and no `CIB_file`, those
//! commands fail with exit 102 like Pacemaker's.

use cluster_core::cib::cli::{self, opt, Failure, Takes};
use cluster_core::cib::store::{shadow_path, write_atomic, CibSource};
use cluster_core::cib::{diff, exit, ops, Element};

const TOOL: &str = "crm_shadow";

const SPEC: &[cli::Opt] = &[
    opt(Some('c'), "create", Takes::Value),
    opt(Some('e'), "create-empty", Takes::Value),
    opt(Some('C'), "commit", Takes::Optional),
    opt(Some('D'), "delete", Takes::Optional),
    opt(Some('r'), "reset", Takes::Optional),
    opt(Some('w'), "which", Takes::No),
    opt(Some('p'), "display", Takes::No),
    opt(Some('d'), "diff", Takes::No),
    opt(Some('F'), "file", Takes::No),
    opt(Some('b'), "batch", Takes::No),
    opt(Some('a'), "all", Takes::No),
    opt(Some('f'), "force", Takes::No),
    opt(Some('V'), "verbose", Takes::No),
    opt(Some('h'), "help", Takes::No),
];

fn main() {
    cli::run(body)
}

fn live() -> Result<CibSource, Failure> {
    match std::env::var("CIB_file").ok().filter(|v| !v.is_empty()) {
        Some(f) => Ok(CibSource::File(f.into())),
        None => Err(Failure::new(
            exit::DISCONNECT,
            "Could not connect to CIB: Transport endpoint is not connected",
        )),
    }
}

fn active() -> Result<String, Failure> {
    std::env::var("CIB_shadow")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Failure::new(exit::NOSUCH, "No active shadow configuration defined"))
}

fn hint(name: &str) {
    println!("A new shadow instance was created.  To begin using it paste the following into your shell:");
    println!("  CIB_shadow={name} ; export CIB_shadow");
}

fn body(args: &[String]) -> Result<(), Failure> {
    let p = cli::parse(TOOL, SPEC, args)?;
    if p.has("help") {
        println!("Usage: crm_shadow (--create NAME | --create-empty NAME | --commit NAME | --delete NAME | --reset NAME | --which | --display | --diff | --file) [--batch] [--force]");
        return Ok(());
    }
    let dir = cli::shadow_dir();
    let path_of = |n: &str| shadow_path(&dir, n);
    let force = p.has("force");
    let exists_fail = |n: &str| {
        Failure::new(
            exit::CANTCREAT,
            format!("A shadow instance '{n}' already exists.\n  To prevent accidental destruction of the cluster, the --force flag is required in order to proceed."),
        )
    };
    let write = |n: &str, cib: &Element| {
        write_atomic(&path_of(n), cib.to_pretty_string().as_bytes()).map_err(|e| {
            Failure::new(
                exit::CANTCREAT,
                format!("{TOOL}: Could not create the shadow instance '{n}': {e}"),
            )
        })
    };
    if let Some(name) = p.value("create-empty") {
        if path_of(name).exists() && !force {
            return Err(exists_fail(name));
        }
        let mut cib = ops::empty_cib();
        cib.set_attr("epoch", "0");
        println!("Created new pacemaker-3.9 configuration");
        write(name, &cib)?;
        println!("Setting up shadow instance");
        hint(name);
    } else if let Some(name) = p.value("create") {
        if path_of(name).exists() && !force {
            return Err(exists_fail(name));
        }
        let src = live()?;
        let cib = cli::load(TOOL, &src)?;
        write(name, &cib)?;
        println!("Setting up shadow instance");
        hint(name);
    } else if p.has("reset") {
        let name = p.value("reset").map(str::to_string).map_or_else(active, Ok)?;
        if !path_of(&name).exists() {
            return Err(Failure::new(
                exit::NOSUCH,
                format!("{TOOL}: No shadow instance named '{name}'"),
            ));
        }
        let cib = cli::load(TOOL, &live()?)?;
        write(&name, &cib)?;
        println!("Reset shadow instance '{name}' to the active configuration");
    } else if p.has("commit") {
        let name = p.value("commit").map(str::to_string).map_or_else(active, Ok)?;
        let shadow = cli::load(TOOL, &CibSource::File(path_of(&name)))?;
        if let Some(v) = cluster_core::cib::validate::validate(&shadow).into_iter().next() {
            return Err(Failure::new(
                exit::CONFIG,
                format!("Could not commit shadow instance '{name}' to the CIB: {v}"),
            ));
        }
        let src = live()?;
        cli::save(TOOL, &src, &shadow)?;
    } else if p.has("delete") {
        let name = p.value("delete").map(str::to_string).map_or_else(active, Ok)?;
        let _ = std::fs::remove_file(path_of(&name));
        println!("Please remember to unset the CIB_shadow variable by pasting the following into your shell:");
        println!("  unset CIB_shadow");
    } else if p.has("which") {
        println!("{}", active()?);
    } else if p.has("file") {
        println!("{}", path_of(&active()?).display());
    } else if p.has("display") {
        let name = active()?;
        let text = std::fs::read_to_string(path_of(&name)).map_err(|e| {
            Failure::new(
                exit::NOSUCH,
                format!("{TOOL}: Could not read shadow instance '{name}': {e}"),
            )
        })?;
        print!("{text}");
    } else if p.has("diff") {
        let name = active()?;
        let shadow = cli::load(TOOL, &CibSource::File(path_of(&name)))?;
        let cib = cli::load(TOOL, &live()?)?;
        if let Some(d) = diff::diff(&cib, &shadow) {
            print!("{}", d.to_pretty_string());
            return Err(Failure::new(exit::ERROR, ""));
        }
    } else {
        return Err(Failure::new(
            exit::USAGE,
            format!("{TOOL}: No command given. Use --help for usage information."),
        ));
    }
    Ok(())
}

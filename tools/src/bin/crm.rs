//! `crm`: a crmsh-compatible shell over the CIB.
//!
//! One-shot (`crm configure primitive ...`, `crm resource status X`), batch (`crm configure`
//! or `crm` with commands on a non-terminal stdin, `crm -f FILE`) and interactive (levels,
//! `crm(live)configure# ` prompts). It works on the CIB that `CIB_file` / `CIB_shadow` select
//! (shadow copies in `CIB_shadow_dir`, default `/var/lib/pacemaker/cib`, as `shadow.NAME`, the
//! files `crm_shadow` uses). Every configuration change bumps the CIB epoch; a failing command
//! writes nothing and makes the exit status 1.
//!
//! Commands given from another level (`configure primitive ...` at the top) are written at
//! once, as one-shot commands are. Inside the `configure` level edits are staged and written
//! by `commit`; leaving the level with staged edits asks on a terminal and commits in batch
//! mode (commands on a pipe or in a file), so a script need not end with `commit`.
//!
//! Without `CIB_file` or `CIB_shadow` the live CIB is `/var/lib/pacemaker/cib/cib.xml`; when
//! it is absent no cluster manager runs here and crm says it cannot reach the cluster.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use cluster_core::cib::cli;
use cluster_core::cib::ops::{self, MoveOutcome, OpError};
use cluster_core::cib::store::{self, CibSource, CIB_DIR_DEFAULT};
use cluster_core::cib::verify;
use cluster_core::cib::xml::Element;
use cluster_core::crmsh::admin::{self, Lifetime};
use cluster_core::crmsh::configure::{self, ConfigCommand};
use cluster_core::crmsh::lex::{needs_continuation, tokenize};
use cluster_core::crmsh::ra::{self, AgentDirs};
use cluster_core::crmsh::show::{self, ShowFilter};
use cluster_core::crmsh::{suggest, CrmError};

const LEVELS: &[&str] = &["configure", "cib", "resource", "node", "ra"];
const COMMON: &[&str] = &["help", "quit", "exit", "bye", "up", "end", "cd", "ls"];
const ROOT_CMDS: &[&str] = &["status", "verify"];
/// The configure level's own verbs, beside the ones `crmsh::configure` parses.
const CONFIGURE_SHELL_CMDS: &[&str] =
    &["commit", "verify", "erase", "refresh", "load", "edit", "rename"];
const CIB_CMDS: &[&str] = &["new", "use", "commit", "diff", "delete", "list", "reset"];
const RESOURCE_CMDS: &[&str] = &[
    "status",
    "show",
    "list",
    "locate",
    "start",
    "stop",
    "promote",
    "demote",
    "manage",
    "unmanage",
    "move",
    "migrate",
    "ban",
    "clear",
    "unmove",
    "unmigrate",
    "unban",
    "cleanup",
    "refresh",
    "failcount",
    "param",
    "meta",
    "constraints",
    "restart",
];
const NODE_CMDS: &[&str] = &[
    "show",
    "status",
    "standby",
    "online",
    "maintenance",
    "ready",
    "attribute",
    "status-attr",
    "delete",
    "clearstate",
];
const RA_CMDS: &[&str] = &["classes", "list", "providers", "info", "meta"];

const HELP: &str = "usage:
    crm [-D display_type] [-f file] [-c cib] [-F] [-h] [--version] [args]

    Use crm without arguments for an interactive session.
    Supply one or more arguments for a \"single-shot\" use.
    Supply '-f' and a file name to read commands from the file, or
    pipe commands on standard input.

    -F, --force      accept unknown property names and similar warnings
    -f, --file FILE  read commands from FILE ('-' for standard input)
    -c, --cib CIB    start the session using this shadow CIB
    -D, --display T  display type (only 'plain' is implemented)
    -w, --wait       accepted for compatibility (changes are written synchronously)
    -h, --help       this text

Levels and commands:
    configure   primitive ms clone group colocation order location property
                rsc_defaults op_defaults node monitor delete rename show [xml]
                commit verify erase load replace|update FILE edit refresh
    cib         new NAME [empty] [force] | use [NAME|live] | commit [NAME] | diff |
                delete NAME | list | reset NAME
    resource    status [RSC] | start/stop/promote/demote/manage/unmanage RSC... |
                move/migrate RSC [NODE] [LIFETIME] | ban RSC [NODE] [LIFETIME] |
                clear/unmove/unmigrate/unban RSC [NODE] | cleanup [RSC] [NODE] |
                failcount RSC set|delete|show NODE [VALUE] |
                param|meta RSC set|delete|show NAME [VALUE] | constraints RSC
    node        show [NODE] | standby [NODE|--all] [reboot|forever] | online [NODE|--all] |
                maintenance [NODE] | ready [NODE] |
                attribute|status-attr NODE set|delete|show NAME [VALUE] |
                clearstate NODE | delete NODE
    ra          classes | list CLASS [PROVIDER] | providers TYPE | info|meta AGENT
    status      cluster status
    verify      check the configuration

Examples:
    crm configure property stonith-enabled=false
    crm configure primitive ClusterIP ocf:heartbeat:IPaddr2 params ip=10.0.0.9 cidr_netmask=32 op monitor interval=30s
    crm resource move WebSite node1
    crm ra list ocf heartbeat
";

/// `cib new NAME empty`: crmsh runs `crm_shadow --create-empty`, which starts at epoch 0.
fn empty_cib() -> Element {
    let mut cib = ops::empty_cib();
    cib.set_attr("epoch", "0");
    cib
}

/// A CIB being edited at the configure level, written by `commit`.
struct Staged {
    cib: Element,
    dirty: bool,
}

struct Shell {
    level: Option<&'static str>,
    shadow: Option<String>,
    staged: Option<Staged>,
    force: bool,
    interactive: bool,
    failed: bool,
    done: bool,
}

/// The CIB underneath any shadow: `CIB_file`, else the live cluster's.
fn base_source() -> CibSource {
    match std::env::var("CIB_file").ok().filter(|v| !v.is_empty()) {
        Some(f) => CibSource::File(f.into()),
        None => {
            let sock = cluster_core::daemon::proto::socket_path();
            if sock.exists() {
                CibSource::Live(sock)
            } else {
                CibSource::Live(PathBuf::from(CIB_DIR_DEFAULT).join("cib.xml"))
            }
        }
    }
}

/// Whether `src` is the running cluster daemon's socket.
fn is_daemon(src: &CibSource) -> bool {
    matches!(src, CibSource::Live(p) if p.extension().is_some_and(|e| e == "sock"))
}

fn load(src: &CibSource) -> Result<Element> {
    if is_daemon(src) {
        return cli::load("crm", src).map_err(|f| anyhow::anyhow!(f.message));
    }
    if let CibSource::Live(p) = src {
        if !p.exists() {
            bail!(
                "cannot reach the cluster: no cluster manager is running on this node \
                 (no {}); set CIB_file=FILE or CIB_shadow=NAME to work on a CIB file",
                p.display()
            );
        }
    }
    Ok(src.load()?)
}

fn save(src: &CibSource, cib: &Element) -> Result<()> {
    if is_daemon(src) {
        return cli::save("crm", src, cib).map_err(|f| anyhow::anyhow!(f.message));
    }
    Ok(src.save(cib)?)
}

/// The version attributes a configure session leaves to its commit.
const VERSION_ATTRS: [&str; 2] = ["epoch", "num_updates"];

impl Shell {
    fn target(&self) -> CibSource {
        match &self.shadow {
            Some(name) => CibSource::Shadow {
                path: store::shadow_path(&cli::shadow_dir(), name),
                name: name.clone(),
            },
            None => base_source(),
        }
    }

    fn prompt(&self) -> String {
        let cib = self.shadow.as_deref().unwrap_or("live");
        format!("crm({cib}){}# ", self.level.unwrap_or(""))
    }

    /// Loads the target CIB, lets `f` change it, and writes it back with a new epoch (only
    /// when `f` succeeded and changed something).
    fn edit<T>(&mut self, f: impl FnOnce(&mut Element) -> Result<T>) -> Result<T> {
        if let Some(st) = self.staged.as_mut() {
            let mut copy = st.cib.clone();
            let r = f(&mut copy)?;
            // The commit bumps the version once for the whole session.
            for k in VERSION_ATTRS {
                match st.cib.attr(k) {
                    Some(v) => copy.set_attr(k, v),
                    None => drop(copy.remove_attr(k)),
                }
            }
            if copy != st.cib {
                st.cib = copy;
                st.dirty = true;
            }
            return Ok(r);
        }
        let src = self.target();
        let orig = load(&src)?;
        let mut cib = orig.clone();
        let r = f(&mut cib)?;
        if cib != orig {
            // Edits shared with Pacemaker's tools bump the epoch as those tools do (once per
            // update they make); the shell's own edits get one bump here.
            if cib.attr("epoch") == orig.attr("epoch") {
                store::bump_epoch(&mut cib);
            }
            save(&src, &cib)?;
        }
        Ok(r)
    }

    /// Like [`Shell::edit`] for status-section changes: `num_updates` + 1 instead of a new epoch.
    fn edit_status<T>(&mut self, f: impl FnOnce(&mut Element) -> Result<T>) -> Result<T> {
        let src = self.target();
        let orig = load(&src)?;
        let mut cib = orig.clone();
        let r = f(&mut cib)?;
        if cib != orig {
            if cib.attr("num_updates") == orig.attr("num_updates") {
                ops::bump_updates(&mut cib);
            }
            save(&src, &cib)?;
        }
        Ok(r)
    }

    fn read(&self) -> Result<Element> {
        match &self.staged {
            Some(st) => Ok(st.cib.clone()),
            None => load(&self.target()),
        }
    }

    fn commit_staged(&mut self) -> Result<()> {
        let src = self.target();
        let force = self.force;
        let Some(st) = self.staged.as_mut() else { return Ok(()) };
        if !st.dirty {
            return Ok(());
        }
        let mut cib = st.cib.clone();
        if let Ok(current) = load(&src) {
            let epoch = |c: &Element| c.attr("epoch").and_then(|e| e.parse::<u64>().ok());
            if epoch(&current) != epoch(&cib) && !force {
                bail!("the CIB changed since this session read it (epoch {} now); use 'commit force' or 'refresh'",
                    current.attr("epoch").unwrap_or("?"));
            }
        }
        store::bump_epoch(&mut cib);
        save(&src, &cib)?;
        st.cib = cib;
        st.dirty = false;
        Ok(())
    }

    fn leave_level(&mut self) -> Result<()> {
        if self.staged.as_ref().is_some_and(|s| s.dirty) {
            eprintln!("INFO: committing the pending changes");
            self.commit_staged()?;
        }
        self.staged = None;
        self.level = None;
        Ok(())
    }

    fn enter_level(&mut self, level: &'static str) -> Result<()> {
        if self.level == Some(level) {
            return Ok(());
        }
        self.leave_level()?;
        if level == "configure" {
            self.staged = Some(Staged { cib: load(&self.target())?, dirty: false });
        }
        self.level = Some(level);
        Ok(())
    }

    /// Runs one command line (already split into words) at the current level.
    fn run(&mut self, words: &[String]) -> Result<()> {
        let Some(first) = words.first() else { return Ok(()) };
        let rest = &words[1..];
        match first.as_str() {
            "quit" | "exit" | "bye" => {
                self.leave_level()?;
                self.done = true;
                return Ok(());
            }
            "up" | "end" => return self.leave_level(),
            "cd" => {
                return match rest.first().map(String::as_str) {
                    None | Some("..") | Some("/") => self.leave_level(),
                    Some(l) => match LEVELS.iter().find(|x| **x == l) {
                        Some(lv) => self.enter_level(lv),
                        None => Err(unknown(l, LEVELS)),
                    },
                }
            }
            "help" | "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "ls" => {
                let cmds = self.level_cmds();
                println!("{}", cmds.join(" "));
                return Ok(());
            }
            _ => {}
        }
        if let Some(level) = self.level {
            if self.level_cmds().contains(&first.as_str()) {
                return self.run_in(level, words);
            }
        }
        if let Some(lv) = LEVELS.iter().find(|l| **l == first.as_str()) {
            if rest.is_empty() {
                return self.enter_level(lv);
            }
            if self.level == Some(lv) {
                return self.run_in(lv, rest);
            }
            // A command of another level: run it there, outside any staged session.
            let saved_level = self.level;
            let staged = self.staged.take();
            self.level = None;
            let r = self.run_in(lv, rest);
            self.level = saved_level;
            self.staged = staged;
            return r;
        }
        match first.as_str() {
            "status" => return self.status(rest),
            "verify" => return self.verify(),
            _ => {}
        }
        let mut all: Vec<&str> = self.level_cmds();
        all.extend(LEVELS);
        all.extend(ROOT_CMDS);
        Err(unknown(first, &all))
    }

    fn level_cmds(&self) -> Vec<&'static str> {
        let mut v: Vec<&str> = match self.level {
            Some("configure") => {
                configure::VERBS.iter().chain(CONFIGURE_SHELL_CMDS).copied().collect()
            }
            Some("cib") => CIB_CMDS.to_vec(),
            Some("resource") => RESOURCE_CMDS.to_vec(),
            Some("node") => NODE_CMDS.to_vec(),
            Some("ra") => RA_CMDS.to_vec(),
            _ => {
                let mut v = LEVELS.to_vec();
                v.extend(ROOT_CMDS);
                v
            }
        };
        v.extend(COMMON);
        v
    }

    fn run_in(&mut self, level: &str, words: &[String]) -> Result<()> {
        match level {
            "configure" => self.configure(words),
            "cib" => self.cib(words),
            "resource" => self.resource(words),
            "node" => self.node(words),
            "ra" => ra_cmd(words),
            _ => Err(anyhow!("unknown level {level}")),
        }
    }

    // ----- configure -------------------------------------------------------------------

    fn configure(&mut self, words: &[String]) -> Result<()> {
        match words[0].as_str() {
            "commit" => {
                if words.iter().any(|w| w == "force") {
                    self.force = true;
                }
                return self.commit_staged();
            }
            "verify" => return self.verify(),
            "refresh" => {
                let fresh = load(&self.target())?;
                if let Some(st) = self.staged.as_mut() {
                    st.cib = fresh;
                    st.dirty = false;
                }
                return Ok(());
            }
            "load" => {
                let (Some(mode), Some(file)) = (words.get(1), words.get(2)) else {
                    bail!("usage: load replace|update|push FILE");
                };
                if !matches!(mode.as_str(), "replace" | "update" | "push") {
                    return Err(unknown(mode, &["replace", "update", "push"]));
                }
                let text =
                    std::fs::read_to_string(file).with_context(|| format!("load: {file}"))?;
                let force = self.force;
                let info = if text.trim_start().starts_with('<') {
                    if mode == "update" {
                        bail!("load update of an XML file is not supported; use load replace");
                    }
                    let root = Element::parse(&text).with_context(|| format!("load: {file}"))?;
                    let conf = match root.name.as_str() {
                        "cib" => root.child("configuration").cloned(),
                        "configuration" => Some(root),
                        _ => None,
                    };
                    let conf =
                        conf.ok_or_else(|| anyhow!("load: {file}: no <configuration> in it"))?;
                    self.edit(|cib| {
                        match cib.children.iter().position(|c| c.name == "configuration") {
                            Some(p) => cib.children[p] = conf,
                            None => cib.children.insert(0, conf),
                        }
                        Ok(Vec::new())
                    })?
                } else if mode == "update" {
                    self.edit(|cib| Ok(configure::apply_script(cib, &text, force)?))?
                } else {
                    self.edit(|cib| Ok(configure::replace_config(cib, &text, force)?))?
                };
                for i in info {
                    eprintln!("INFO: {i}");
                }
                return Ok(());
            }
            "edit" => {
                if words.len() > 1 {
                    bail!("edit: editing single objects is not supported; use 'edit' for the whole configuration");
                }
                let before = show::show_config(&self.read()?, &ShowFilter::All);
                let tmp = std::env::temp_dir().join(format!("crm-edit-{}.crm", std::process::id()));
                std::fs::write(&tmp, &before)?;
                let editor = std::env::var("EDITOR")
                    .or_else(|_| std::env::var("VISUAL"))
                    .unwrap_or_else(|_| "vi".to_string());
                let status = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(format!("{editor} \"$1\""))
                    .arg("sh")
                    .arg(&tmp)
                    .status();
                let after = std::fs::read_to_string(&tmp);
                let _ = std::fs::remove_file(&tmp);
                let status = status.context("edit: cannot run the editor")?;
                if !status.success() {
                    bail!("edit: the editor ({editor}) failed; nothing changed");
                }
                let after = after?;
                if after == before {
                    return Ok(());
                }
                let force = self.force;
                self.edit(|cib| Ok(configure::replace_config(cib, &after, force)?))?;
                return Ok(());
            }
            "rename" => {
                let (Some(old), Some(new)) = (words.get(1), words.get(2)) else {
                    bail!("usage: rename OLD_ID NEW_ID");
                };
                return self.edit(|cib| Ok(configure::rename(cib, old, new)?));
            }
            "erase" => {
                return self.edit(|cib| {
                    let conf = cib.child_or_insert("configuration");
                    for sec in ["resources", "constraints"] {
                        if let Some(s) = conf.child_mut(sec) {
                            s.children.clear();
                        }
                    }
                    Ok(())
                })
            }
            _ => {}
        }
        let cmd = configure::parse_configure(words)?;
        if let ConfigCommand::Show { xml, filter } = &cmd {
            let cib = self.read()?;
            let missing = show::missing_ids(&cib, filter);
            if let Some(m) = missing.first() {
                return Err(CrmError::NoSuchObject(m.clone()).into());
            }
            let text =
                if *xml { show::show_xml(&cib, filter) } else { show::show_config(&cib, filter) };
            print!("{text}");
            return Ok(());
        }
        if let ConfigCommand::Primitive(p) = &cmd {
            check_agent_params(p, self.force)?;
        }
        if let ConfigCommand::Delete(ids) = &cmd {
            if !self.force {
                let cib = self.read()?;
                for id in ids {
                    if configure::resource_exists(&cib, id) && !admin::locate(&cib, id).is_empty() {
                        bail!("resource '{id}' is running, can't delete it (stop it first, or use --force)");
                    }
                }
            }
        }
        let force = self.force;
        let info = self.edit(|cib| Ok(configure::apply(cib, &cmd, force)?))?;
        for i in info {
            eprintln!("INFO: {i}");
        }
        Ok(())
    }

    /// `configure verify`: crmsh hands the configuration to crm_verify and relays what it
    /// says, so this is [`verify::verify`] with crmsh's line layout.
    fn verify(&mut self) -> Result<()> {
        let cib = self.read()?;
        let findings = verify::verify(&cib, &verify::ocf_meta_data);
        let mut failed = false;
        for f in &findings {
            let level = match f.level {
                verify::Level::Error => {
                    failed = true;
                    "error"
                }
                verify::Level::Warning => "warning",
            };
            eprintln!("   {level}: {}", f.message);
        }
        if failed {
            bail!("Errors found during check: config not valid")
        }
        Ok(())
    }

    // ----- cib -------------------------------------------------------------------------

    fn cib(&mut self, words: &[String]) -> Result<()> {
        let arg = |i: usize| words.get(i).map(String::as_str);
        let opts: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
        match words[0].as_str() {
            "new" => {
                let name = arg(1).ok_or_else(|| anyhow!("cib new: expected a shadow name"))?;
                if !cluster_core::crmsh::valid_id(name) {
                    bail!("cib new: invalid shadow name '{name}'");
                }
                let path = store::shadow_path(&cli::shadow_dir(), name);
                if path.exists() && !opts.contains(&"force") {
                    bail!(
                        "cib new: shadow CIB '{name}' already exists (use 'force' to replace it)"
                    );
                }
                let mut cib =
                    if opts.contains(&"empty") { empty_cib() } else { load(&base_source())? };
                if !opts.contains(&"withstatus") && !opts.contains(&"empty") {
                    if let Some(s) = cib.child_mut("status") {
                        s.children.clear();
                    }
                }
                if cib.child("status").is_none() {
                    cib.children.push(Element::new("status"));
                }
                std::fs::create_dir_all(cli::shadow_dir()).ok();
                store::write_atomic(&path, cib.to_pretty_string().as_bytes())?;
                eprintln!("INFO: cib.new: {name} shadow CIB created");
                self.switch_to(Some(name.to_string()))
            }
            "use" => match arg(1) {
                None | Some("live") => self.switch_to(None),
                Some(name) => {
                    if !store::shadow_path(&cli::shadow_dir(), name).exists() {
                        bail!("cib use: {name}: no such shadow CIB");
                    }
                    self.switch_to(Some(name.to_string()))
                }
            },
            "list" => {
                let mut names: Vec<String> = std::fs::read_dir(cli::shadow_dir())
                    .map(|rd| {
                        rd.filter_map(|e| e.ok())
                            .filter_map(|e| e.file_name().into_string().ok())
                            .filter_map(|n| n.strip_prefix("shadow.").map(str::to_string))
                            .filter(|n| !n.contains(".tmp"))
                            .collect()
                    })
                    .unwrap_or_default();
                names.sort();
                for n in names {
                    println!("{n}");
                }
                Ok(())
            }
            "delete" => {
                let name = arg(1).ok_or_else(|| anyhow!("cib delete: expected a shadow name"))?;
                if self.shadow.as_deref() == Some(name) {
                    bail!("cib delete: {name} is the CIB in use; 'cib use live' first");
                }
                let path = store::shadow_path(&cli::shadow_dir(), name);
                std::fs::remove_file(&path)
                    .with_context(|| format!("cib delete: {name}: no such shadow CIB"))?;
                eprintln!("INFO: cib.delete: {name} shadow CIB deleted");
                Ok(())
            }
            "reset" => {
                let name = arg(1).or(self.shadow.as_deref()).map(str::to_string);
                let name = name.ok_or_else(|| anyhow!("cib reset: expected a shadow name"))?;
                let path = store::shadow_path(&cli::shadow_dir(), &name);
                if !path.exists() {
                    bail!("cib reset: {name}: no such shadow CIB");
                }
                let cib = load(&base_source())?;
                store::write_atomic(&path, cib.to_pretty_string().as_bytes())?;
                if self.shadow.as_deref() == Some(name.as_str()) {
                    if let Some(st) = self.staged.as_mut() {
                        st.cib = cib;
                        st.dirty = false;
                    }
                }
                Ok(())
            }
            "diff" => {
                let name = self
                    .shadow
                    .clone()
                    .ok_or_else(|| anyhow!("cib diff: not using a shadow CIB"))?;
                let live = load(&base_source())?;
                let shadow =
                    CibSource::Shadow { path: store::shadow_path(&cli::shadow_dir(), &name), name };
                let sh = load(&shadow)?;
                let a = show::show_config(&live, &ShowFilter::All);
                let b = show::show_config(&sh, &ShowFilter::All);
                print!("{}", line_diff(&a, &b));
                Ok(())
            }
            "commit" => {
                let name = arg(1).map(str::to_string).or_else(|| self.shadow.clone());
                let name = name.ok_or_else(|| anyhow!("cib commit: expected a shadow name"))?;
                if self.shadow.as_deref() == Some(name.as_str()) {
                    self.commit_staged()?;
                }
                let path = store::shadow_path(&cli::shadow_dir(), &name);
                if !path.exists() {
                    bail!("cib commit: {name}: no such shadow CIB");
                }
                let sh = load(&CibSource::Shadow { path, name: name.clone() })?;
                let base = base_source();
                let mut live = load(&base)?;
                let conf = sh
                    .child("configuration")
                    .cloned()
                    .unwrap_or_else(|| Element::new("configuration"));
                match live.children.iter().position(|c| c.name == "configuration") {
                    Some(p) => live.children[p] = conf,
                    None => live.children.insert(0, conf),
                }
                let epoch =
                    |c: &Element| c.attr("epoch").and_then(|e| e.parse::<u64>().ok()).unwrap_or(0);
                let new_epoch = (epoch(&live) + 1).max(epoch(&sh));
                live.set_attr("epoch", &new_epoch.to_string());
                live.set_attr("num_updates", "0");
                for k in ["validate-with", "crm_feature_set"] {
                    if let Some(v) = sh.attr(k) {
                        live.set_attr(k, v);
                    }
                }
                save(&base, &live)?;
                eprintln!("INFO: cib.commit: committed '{name}' shadow CIB to the cluster");
                Ok(())
            }
            other => Err(unknown(other, CIB_CMDS)),
        }
    }

    fn switch_to(&mut self, shadow: Option<String>) -> Result<()> {
        let level = self.level;
        if self.staged.is_some() {
            self.leave_level()?;
        }
        self.shadow = shadow;
        if let Some(l) = level {
            self.enter_level(LEVELS.iter().find(|x| **x == l).expect("a level"))?;
        }
        Ok(())
    }

    // ----- resource --------------------------------------------------------------------

    fn resource(&mut self, words: &[String]) -> Result<()> {
        let cmd = words[0].as_str();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let need_rsc = || -> Result<&str> {
            args.first().copied().ok_or_else(|| anyhow!("resource {cmd}: expected a resource id"))
        };
        match cmd {
            "status" | "show" | "list" | "locate" => {
                let cib = self.read()?;
                if args.is_empty() {
                    print!("{}", ops::resource_list(&cib));
                    return Ok(());
                }
                for r in &args {
                    if !configure::resource_exists(&cib, r) {
                        return Err(CrmError::NoSuchResource(r.to_string()).into());
                    }
                    // crmsh runs crm_resource --locate and relays its text.
                    let locs = ops::locate(&cib, r).map_err(CrmError::from)?;
                    print!("{}", ops::locate_text(r, &locs));
                }
                Ok(())
            }
            "start" | "stop" | "promote" | "demote" | "manage" | "unmanage" => {
                if args.is_empty() {
                    need_rsc()?;
                }
                let (name, value) = match cmd {
                    "start" => ("target-role", "Started"),
                    "stop" => ("target-role", "Stopped"),
                    "promote" => ("target-role", "Promoted"),
                    "demote" => ("target-role", "Unpromoted"),
                    "manage" => ("is-managed", "true"),
                    _ => ("is-managed", "false"),
                };
                self.edit(|cib| {
                    for r in &args {
                        admin::set_meta(cib, r, name, Some(value))?;
                    }
                    Ok(())
                })
            }
            "restart" => {
                let r = need_rsc()?.to_string();
                self.edit(|cib| Ok(admin::set_meta(cib, &r, "target-role", Some("Stopped"))?))?;
                self.edit(|cib| Ok(admin::set_meta(cib, &r, "target-role", Some("Started"))?))
            }
            "move" | "migrate" | "ban" => {
                let rsc = need_rsc()?.to_string();
                let cib = self.read()?;
                let nodes = admin::node_names(&cib);
                let mut node = None;
                let mut lifetime = None;
                let mut promoted = false;
                for a in &args[1..] {
                    match *a {
                        "force" | "--force" => {}
                        "--promoted" | "--master" => promoted = true,
                        l if l.starts_with('P') && !nodes.iter().any(|n| n == l) => {
                            lifetime = Some(admin::parse_duration(l)?)
                        }
                        n if node.is_none() => node = Some(n.to_string()),
                        other => bail!("resource {cmd}: unexpected argument '{other}'"),
                    }
                }
                if !configure::resource_exists(&cib, &rsc) {
                    return Err(CrmError::NoSuchResource(rsc).into());
                }
                let until = lifetime.map(|secs| {
                    // The shell is the outer layer that owns the clock; the library takes the time.
                    #[allow(clippy::disallowed_methods)]
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0);
                    ops::format_utc(now + secs)
                });
                let is_move = cmd != "ban";
                let outcome = self.edit(|cib| {
                    let r = if is_move {
                        ops::move_resource(cib, &rsc, node.as_deref(), promoted, until.as_deref())
                    } else {
                        ops::ban(cib, &rsc, node.as_deref(), promoted, until.as_deref())
                    };
                    match r {
                        Err(OpError::NotMovable { count, .. }) => bail!(
                            "Resource '{rsc}' not {}: active in {count} locations.\n\
                             To prevent '{rsc}' from running on a specific location, specify a node.",
                            if is_move { "moved" } else { "banned" }
                        ),
                        r => Ok(r.map_err(CrmError::from)?),
                    }
                })?;
                match outcome {
                    MoveOutcome::Banned(node) => eprint!("{}", ops::ban_warning(&rsc, &node)),
                    MoveOutcome::Preferred(node) => {
                        eprintln!("INFO: Move constraint created for {rsc} to {node}")
                    }
                }
                if let Some(u) = until {
                    println!("Migration will take effect until: {u}");
                }
                Ok(())
            }
            "clear" | "unmove" | "unmigrate" | "unban" => {
                let rsc = need_rsc()?.to_string();
                let node = args.get(1).map(|s| s.to_string());
                let removed = self.edit(|cib| {
                    Ok(ops::clear(cib, &rsc, node.as_deref()).map_err(CrmError::from)?)
                })?;
                if removed.is_empty() {
                    eprintln!("INFO: {rsc} has no migration constraints");
                } else {
                    eprintln!("INFO: Removed migration constraints for {rsc}");
                }
                Ok(())
            }
            "cleanup" | "refresh" => {
                let rsc = args.first().map(|s| s.to_string());
                let node = args.get(1).filter(|a| **a != "force").map(|s| s.to_string());
                let nodes = self.edit_status(|cib| {
                    Ok(ops::cleanup(cib, rsc.as_deref(), node.as_deref())
                        .map_err(CrmError::from)?)
                })?;
                if nodes.is_empty() {
                    // No node has a status entry: crmsh still reports the request done.
                    println!(
                        "Cleaned up {} on all nodes",
                        rsc.as_deref().unwrap_or("all resources")
                    );
                }
                print!("{}", ops::cleanup_text(rsc.as_deref(), &nodes));
                Ok(())
            }
            "failcount" => {
                let [rsc, op, node, rest @ ..] = args.as_slice() else {
                    bail!("usage: failcount RSC set|delete|show NODE [VALUE]");
                };
                match *op {
                    "show" => {
                        let n = admin::fail_count(&self.read()?, rsc, node)?;
                        println!("scope=status  name=fail-count-{rsc} value={n}");
                        Ok(())
                    }
                    "delete" => {
                        self.edit_status(|cib| Ok(admin::set_fail_count(cib, rsc, node, None)?))
                    }
                    "set" => {
                        let v = rest
                            .first()
                            .ok_or_else(|| anyhow!("failcount set: expected a value"))?;
                        let v: u64 = if v.eq_ignore_ascii_case("INFINITY") {
                            1_000_000
                        } else {
                            v.parse().map_err(|_| anyhow!("failcount set: invalid value '{v}'"))?
                        };
                        self.edit_status(|cib| Ok(admin::set_fail_count(cib, rsc, node, Some(v))?))
                    }
                    other => Err(unknown(other, &["set", "delete", "show"])),
                }
            }
            "param" | "meta" => {
                let [rsc, op, name, rest @ ..] = args.as_slice() else {
                    bail!("usage: {cmd} RSC set|delete|show NAME [VALUE]");
                };
                let meta = cmd == "meta";
                match *op {
                    "show" => {
                        match admin::get_rsc_attr(&self.read()?, rsc, name, meta)? {
                            Some(v) => println!("{v}"),
                            None => bail!("{cmd}: {rsc} has no attribute '{name}'"),
                        }
                        Ok(())
                    }
                    "delete" | "set" => {
                        let value = if *op == "set" {
                            Some(
                                rest.first()
                                    .ok_or_else(|| anyhow!("{cmd} set: expected a value"))?
                                    .to_string(),
                            )
                        } else {
                            None
                        };
                        self.edit(|cib| {
                            if meta {
                                admin::set_meta(cib, rsc, name, value.as_deref())?;
                            } else {
                                admin::set_param(cib, rsc, name, value.as_deref())?;
                            }
                            Ok(())
                        })
                    }
                    other => Err(unknown(other, &["set", "delete", "show"])),
                }
            }
            "constraints" => {
                let rsc = need_rsc()?;
                let cib = self.read()?;
                if !configure::resource_exists(&cib, rsc) {
                    return Err(CrmError::NoSuchResource(rsc.to_string()).into());
                }
                let ids: Vec<String> = cib
                    .path(&["configuration", "constraints"])
                    .map(|c| {
                        c.children
                            .iter()
                            .filter(|e| {
                                ["rsc", "with-rsc", "first", "then"]
                                    .iter()
                                    .any(|k| e.attr(k) == Some(rsc))
                            })
                            .filter_map(|e| e.id().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                if !ids.is_empty() {
                    print!("{}", show::show_config(&cib, &ShowFilter::Ids(ids)));
                }
                Ok(())
            }
            other => Err(unknown(other, RESOURCE_CMDS)),
        }
    }

    // ----- node ------------------------------------------------------------------------

    fn node(&mut self, words: &[String]) -> Result<()> {
        let cmd = words[0].as_str();
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        let targets = |cib: &Element, args: &[&str]| -> Vec<String> {
            let named: Vec<String> = args
                .iter()
                .filter(|a| {
                    !matches!(**a, "reboot" | "forever" | "lifetime=reboot" | "lifetime=forever")
                })
                .map(|s| s.to_string())
                .collect();
            if named.iter().any(|a| a == "--all" || a == "all") {
                admin::node_names(cib)
            } else if named.is_empty() {
                vec![ops::local_node_name()]
            } else {
                named
            }
        };
        let lifetime = if args.iter().any(|a| *a == "reboot" || *a == "lifetime=reboot") {
            Lifetime::Reboot
        } else {
            Lifetime::Forever
        };
        match cmd {
            "show" | "status" | "list" => {
                let cib = self.read()?;
                let nodes = cib.path(&["configuration", "nodes"]);
                for n in nodes.into_iter().flat_map(|n| n.children_named("node")) {
                    let uname = n.attr("uname").or(n.id()).unwrap_or_default();
                    if !args.is_empty() && !args.contains(&uname) {
                        continue;
                    }
                    println!(
                        "{uname}({}): {}",
                        n.id().unwrap_or_default(),
                        n.attr("type").unwrap_or("member")
                    );
                    for p in n.children_named("instance_attributes").flat_map(|s| s.children.iter())
                    {
                        println!(
                            "\t{}={}",
                            p.attr("name").unwrap_or_default(),
                            p.attr("value").unwrap_or_default()
                        );
                    }
                }
                Ok(())
            }
            "standby" | "online" | "maintenance" | "ready" => {
                let cib = self.read()?;
                let nodes = targets(&cib, &args);
                let (name, value) = match cmd {
                    "standby" => ("standby", "on"),
                    "online" => ("standby", "off"),
                    "maintenance" => ("maintenance", "true"),
                    _ => ("maintenance", "false"),
                };
                let reboot = lifetime == Lifetime::Reboot;
                let apply = |cib: &mut Element| -> Result<()> {
                    for n in &nodes {
                        if cmd == "online" {
                            admin::set_node_attr(cib, n, name, None, Lifetime::Reboot)?;
                            admin::set_node_attr(cib, n, name, Some(value), Lifetime::Forever)?;
                        } else {
                            admin::set_node_attr(cib, n, name, Some(value), lifetime)?;
                        }
                    }
                    Ok(())
                };
                if reboot {
                    self.edit_status(apply)
                } else {
                    self.edit(apply)
                }
            }
            "delete" | "clearstate" => {
                let node =
                    args.first().ok_or_else(|| anyhow!("node {cmd}: expected a node name"))?;
                if cmd == "delete" {
                    let cib = self.read()?;
                    let running = cib
                        .path(&["configuration", "resources"])
                        .map(|r| {
                            let mut ids = Vec::new();
                            r.walk(&mut |e| {
                                if e.name == "primitive" {
                                    ids.push(e.id().unwrap_or_default().to_string());
                                }
                            });
                            ids
                        })
                        .unwrap_or_default()
                        .into_iter()
                        .any(|r| admin::locate(&cib, &r).iter().any(|(n, _)| n == node));
                    if running && !self.force {
                        bail!("node '{node}' still runs resources; stop them first or use --force");
                    }
                    self.edit(|cib| Ok(admin::delete_node(cib, node)?))
                } else {
                    self.edit_status(|cib| Ok(admin::clear_node_state(cib, node)?))
                }
            }
            "attribute" | "status-attr" => {
                let [node, op, name, rest @ ..] = args.as_slice() else {
                    bail!("usage: {cmd} NODE set|delete|show NAME [VALUE]");
                };
                let lt = if cmd == "attribute" { Lifetime::Forever } else { Lifetime::Reboot };
                let scope = if cmd == "attribute" { "nodes" } else { "status" };
                match *op {
                    "show" => {
                        match admin::get_node_attr(&self.read()?, node, name, lt)? {
                            Some(v) => println!("scope={scope}  name={name} value={v}"),
                            None => {
                                bail!("scope={scope}  name={name} value=(null): no such attribute")
                            }
                        }
                        Ok(())
                    }
                    "set" | "delete" => {
                        let value = if *op == "set" {
                            Some(
                                rest.first()
                                    .ok_or_else(|| anyhow!("{cmd} set: expected a value"))?
                                    .to_string(),
                            )
                        } else {
                            None
                        };
                        let f = |cib: &mut Element| {
                            Ok(admin::set_node_attr(cib, node, name, value.as_deref(), lt)?)
                        };
                        if lt == Lifetime::Forever {
                            self.edit(f)
                        } else {
                            self.edit_status(f)
                        }
                    }
                    other => Err(unknown(other, &["set", "delete", "show"])),
                }
            }
            other => Err(unknown(other, NODE_CMDS)),
        }
    }

    /// `status [bynode] [inactive] [ops] [failcounts] [full]`: crm_mon's one-shot text; with
    /// no word, inactive resources are listed too (`crm_mon -1 -r`, as crmsh runs it).
    fn status(&mut self, args: &[String]) -> Result<()> {
        use cluster_core::monitor::{render_text, MonitorOptions};
        let mut o = MonitorOptions { inactive: args.is_empty(), ..Default::default() };
        for a in args {
            match a.as_str() {
                "bynode" => o.by_node = true,
                "inactive" => o.inactive = true,
                "ops" => o.operations = true,
                "failcounts" => o.failcounts = true,
                "full" => {
                    o = MonitorOptions { by_node: o.by_node, ..Default::default() };
                    o.inactive = true;
                    o.operations = true;
                    o.failcounts = true;
                    o.attrs = true;
                }
                other => {
                    return Err(unknown(
                        other,
                        &["bynode", "inactive", "ops", "failcounts", "full"],
                    ))
                }
            }
        }
        let cib = self.read()?;
        // The shell is the outer layer that owns the clock; the library takes the time.
        #[allow(clippy::disallowed_methods)]
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        print!("{}", render_text(&cib, &o, now)?);
        Ok(())
    }
}

/// Checks an OCF primitive's parameters against the installed agent's meta-data (skipped with
/// `--force`; a missing agent is only a warning, as in crmsh).
fn check_agent_params(p: &Element, force: bool) -> Result<()> {
    if force || p.attr("class") != Some("ocf") {
        return Ok(());
    }
    let agent = format!(
        "ocf:{}:{}",
        p.attr("provider").unwrap_or("heartbeat"),
        p.attr("type").unwrap_or_default()
    );
    let md = match AgentDirs::from_env().meta_data(&agent) {
        Ok((_, md)) => md,
        Err(e) => {
            eprintln!("WARNING: {}: {e}", p.id().unwrap_or_default());
            return Ok(());
        }
    };
    let params: Vec<(String, String)> = p
        .children_named("instance_attributes")
        .flat_map(|s| s.children.iter())
        .map(|n| {
            (
                n.attr("name").unwrap_or_default().to_string(),
                n.attr("value").unwrap_or_default().to_string(),
            )
        })
        .collect();
    ra::check_params(&agent, &md, &params)?;
    Ok(())
}

fn unknown(word: &str, cands: &[&str]) -> anyhow::Error {
    CrmError::UnknownCommand { word: word.to_string(), suggestion: suggest(word, cands) }.into()
}

/// A minimal line diff (longest common subsequence) in unified-diff style lines.
fn line_diff(a: &str, b: &str) -> String {
    let a: Vec<&str> = a.lines().collect();
    let b: Vec<&str> = b.lines().collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] =
                if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < m && (i == n || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

fn ra_cmd(words: &[String]) -> Result<()> {
    let dirs = AgentDirs::from_env();
    let arg = |i: usize| words.get(i).map(String::as_str);
    match words[0].as_str() {
        "classes" => {
            for c in dirs.classes() {
                println!("{c}");
            }
            Ok(())
        }
        "list" => {
            let class = arg(1).ok_or_else(|| anyhow!("ra list: expected a class"))?;
            let names = dirs.list(class, arg(2)).map_err(|e| anyhow!("ra.list: {e}"))?;
            print!("{}", ra::multicolumn(&names));
            Ok(())
        }
        "providers" => {
            let ty = arg(1).ok_or_else(|| anyhow!("ra providers: expected an agent type"))?;
            println!("{}", dirs.providers_of(ty).join(" "));
            Ok(())
        }
        "info" | "meta" => {
            let agent = arg(1).ok_or_else(|| anyhow!("ra info: expected an agent"))?;
            let (full, md) = dirs.meta_data(agent)?;
            print!("{}", ra::render_info(&full, &md));
            Ok(())
        }
        other => Err(unknown(other, RA_CMDS)),
    }
}

/// Reads commands line by line (joining `\` continuations), runs them, stops at `quit`.
fn run_lines(shell: &mut Shell, input: &mut dyn BufRead, prompt: bool) -> Result<()> {
    let mut pending = String::new();
    loop {
        if prompt {
            print!("{}", if pending.is_empty() { shell.prompt() } else { "> ".to_string() });
            std::io::stdout().flush().ok();
        }
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if needs_continuation(line) {
            pending.push_str(line.trim_end().trim_end_matches('\\'));
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let text = std::mem::take(&mut pending);
        match tokenize(&text) {
            Ok(words) => {
                let leaving = words.first().is_some_and(|w| {
                    matches!(w.as_str(), "up" | "end" | "quit" | "exit" | "bye" | "cd")
                });
                if prompt && leaving && shell.staged.as_ref().is_some_and(|s| s.dirty) {
                    // As crmsh does for a person at a terminal: ask before leaving.
                    print!("There are changes pending. Do you want to commit them (y/n)? ");
                    std::io::stdout().flush().ok();
                    let mut answer = String::new();
                    input.read_line(&mut answer)?;
                    if answer.trim().eq_ignore_ascii_case("y") {
                        let r = shell.commit_staged();
                        report(shell, r);
                    } else if let Some(st) = shell.staged.as_mut() {
                        st.dirty = false;
                    }
                }
                let r = shell.run(&words);
                report(shell, r);
            }
            Err(e) => report(shell, Err(e.into())),
        }
        if shell.done {
            break;
        }
    }
    if prompt && !shell.done {
        println!();
    }
    let r = shell.leave_level();
    report(shell, r);
    Ok(())
}

fn report(shell: &mut Shell, r: Result<()>) {
    if let Err(e) = r {
        shell.failed = true;
        eprintln!("crm: {e:#}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut force = false;
    let mut file: Option<String> = None;
    let mut cib_opt: Option<String> = None;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-h" | "--help" => {
                print!("{HELP}");
                return;
            }
            "--version" => {
                println!("crm {} (crmsh-compatible)", env!("CARGO_PKG_VERSION"));
                return;
            }
            "-F" | "--force" => force = true,
            "-w" | "--wait" | "-R" | "--regression-tests" => {}
            "-f" | "--file" | "-c" | "--cib" | "-D" | "--display" | "-H" | "--history" => {
                let Some(v) = args.get(i + 1) else {
                    eprintln!("crm: option {a} needs a value");
                    std::process::exit(1);
                };
                match a {
                    "-f" | "--file" => file = Some(v.clone()),
                    "-c" | "--cib" => cib_opt = Some(v.clone()),
                    _ => {}
                }
                i += 1;
            }
            s if s.starts_with('-') && s.len() > 1 => {
                eprintln!("crm: unknown option '{s}' (see crm --help)");
                std::process::exit(1);
            }
            _ => break,
        }
        i += 1;
    }
    let rest = &args[i..];
    let shadow = cib_opt.or_else(|| {
        if std::env::var("CIB_file").ok().filter(|v| !v.is_empty()).is_some() {
            None
        } else {
            std::env::var("CIB_shadow").ok().filter(|v| !v.is_empty())
        }
    });
    let stdin_tty = std::io::stdin().is_terminal();
    let mut shell = Shell {
        level: None,
        shadow,
        staged: None,
        force,
        interactive: stdin_tty,
        failed: false,
        done: false,
    };
    let result = if let Some(f) = file {
        if f == "-" {
            let stdin = std::io::stdin();
            run_lines(&mut shell, &mut stdin.lock(), false)
        } else {
            match std::fs::File::open(&f) {
                Ok(fh) => run_lines(&mut shell, &mut std::io::BufReader::new(fh), false),
                Err(e) => Err(anyhow!("{f}: {e}")),
            }
        }
    } else if rest.is_empty() || (rest.len() == 1 && LEVELS.contains(&rest[0].as_str())) {
        // Interactive (or batch from stdin), optionally starting in a level.
        let r =
            if let Some(l) = rest.first() { shell.run(std::slice::from_ref(l)) } else { Ok(()) };
        report(&mut shell, r);
        if shell.failed {
            std::process::exit(1);
        }
        let stdin = std::io::stdin();
        let interactive = shell.interactive;
        run_lines(&mut shell, &mut stdin.lock(), interactive)
    } else {
        // One shot: the words as given (already split by the calling shell).
        let r = shell.run(rest);
        report(&mut shell, r);
        let r = shell.leave_level();
        report(&mut shell, r);
        Ok(())
    };
    report(&mut shell, result);
    std::process::exit(i32::from(shell.failed));
}

//! `fence_netns`: a lab fence agent whose "nodes" are Linux network namespaces.
//!
//! It speaks the fence-agent API (§6.2): with no arguments it reads `name=value` lines on
//! stdin (`#` comments ignored, last occurrence wins, unknown names warned about and ignored);
//! with arguments it takes `-o/--action`, `-n/--plug` (or `--port`), `--nodename`,
//! `--netns-prefix`. The target namespace is `plug` (or `port`, or `nodename` when neither is
//! given), prefixed with `netns_prefix` if set.
//!
//! Fencing a node (`off`) kills every process in its namespace (`ip netns pids`, SIGKILL,
//! repeated until none is left, bounded) and sets every veth link in it down; `on` sets them up
//! again; `reboot` is off then on and succeeds when the off part did. `status` prints
//! `Status: ON` (rc 0) if any veth link is up (or, without veth links, any process runs), else
//! `Status: OFF` (rc 2); rc 1 on errors such as a missing namespace. All system access goes
//! through [`NetnsOps`] so the decision logic is testable without root.

use std::io::Write;
use std::process::Command;

/// Fence actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceAction {
    /// Power on (links up).
    On,
    /// Power off (kill processes, links down).
    Off,
    /// Off, then on.
    Reboot,
    /// Report on/off of the target.
    Status,
    /// Check the device works.
    Monitor,
    /// List fenceable plugs.
    List,
    /// List plugs with their status.
    ListStatus,
    /// Print the XML meta-data.
    Metadata,
    /// Check the options.
    ValidateAll,
}

impl FenceAction {
    /// Parses an action name (`metadata` and `meta-data` both accepted).
    pub fn parse(s: &str) -> Option<FenceAction> {
        Some(match s {
            "on" => FenceAction::On,
            "off" => FenceAction::Off,
            "reboot" => FenceAction::Reboot,
            "status" => FenceAction::Status,
            "monitor" => FenceAction::Monitor,
            "list" => FenceAction::List,
            "list-status" => FenceAction::ListStatus,
            "metadata" | "meta-data" => FenceAction::Metadata,
            "validate-all" => FenceAction::ValidateAll,
            _ => return None,
        })
    }
}

/// Parsed options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceOptions {
    /// The action (default `reboot`, like fence-agents).
    pub action: String,
    /// `plug` / `port`.
    pub plug: Option<String>,
    /// `nodename` (the cluster node being fenced).
    pub nodename: Option<String>,
    /// Prefix added to the plug to form the namespace name.
    pub netns_prefix: String,
    /// Warnings produced while parsing (printed on stderr).
    pub warnings: Vec<String>,
}

impl Default for FenceOptions {
    fn default() -> FenceOptions {
        FenceOptions {
            action: "reboot".to_string(),
            plug: None,
            nodename: None,
            netns_prefix: String::new(),
            warnings: Vec::new(),
        }
    }
}

/// Errors of option parsing and of namespace operations.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FenceError {
    /// A command-line option is unknown or lacks its value.
    #[error("invalid argument '{0}'")]
    BadArgument(String),
    /// The action is not one of on/off/reboot/status/monitor/list/list-status/metadata.
    #[error("Unrecognised action '{0}'")]
    BadAction(String),
    /// No plug/port/nodename given for an action that needs a target.
    #[error("no plug (or port, nodename) given for action '{0}'")]
    NoPlug(String),
    /// The plug cannot be a namespace name.
    #[error("invalid namespace name '{0}'")]
    BadName(String),
    /// The namespace does not exist.
    #[error("network namespace '{0}' does not exist")]
    NoSuchNamespace(String),
    /// An `ip` command failed.
    #[error("{cmd} failed: {msg}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its stderr or spawn error.
        msg: String,
    },
    /// Processes kept appearing in the namespace.
    #[error("{count} processes still running in namespace '{ns}' after killing")]
    Survivors {
        /// Namespace.
        ns: String,
        /// How many were left.
        count: usize,
    },
}

fn set_opt(o: &mut FenceOptions, key: &str, value: &str) -> bool {
    match key {
        "action" | "option" => o.action = value.to_string(),
        "plug" | "port" => o.plug = Some(value.to_string()),
        "nodename" => o.nodename = Some(value.to_string()),
        "netns_prefix" => o.netns_prefix = value.to_string(),
        "verbose" | "debug" | "delay" | "power_timeout" | "power_wait" | "shell_timeout"
        | "login_timeout" | "retry_on" => {}
        _ => return false,
    }
    true
}

/// Parses the stdin form: `name=value` lines, `#` comments, last occurrence wins.
pub fn parse_stdin(text: &str) -> FenceOptions {
    let mut o = FenceOptions::default();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if set_opt(&mut o, k.trim(), v.trim()) => {}
            _ => o.warnings.push(format!("Ignoring unknown option '{line}'")),
        }
    }
    o
}

/// Parses the command-line form (`-o ACTION -n PLUG`, `--action=ACTION`, ...).
///
/// # Errors
/// [`FenceError::BadArgument`] for an unknown option or a missing value.
pub fn parse_args(args: &[String]) -> Result<FenceOptions, FenceError> {
    let mut o = FenceOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if a.starts_with("--") => (n, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let key = match name {
            "-o" | "--action" => "action",
            "-n" | "--plug" | "--port" => "plug",
            "--nodename" => "nodename",
            "--netns-prefix" => "netns_prefix",
            "-v" | "--verbose" => continue,
            _ => return Err(FenceError::BadArgument(a.clone())),
        };
        let value = match inline {
            Some(v) => v,
            None => it.next().cloned().ok_or_else(|| FenceError::BadArgument(a.clone()))?,
        };
        set_opt(&mut o, key, &value);
    }
    Ok(o)
}

/// A veth link inside a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Administratively up.
    pub up: bool,
}

/// What the agent needs from the system.
pub trait NetnsOps {
    /// Names of all network namespaces.
    ///
    /// # Errors
    /// The listing failed.
    fn list(&mut self) -> Result<Vec<String>, FenceError>;
    /// Pids of processes in `ns`.
    ///
    /// # Errors
    /// The query failed.
    fn pids(&mut self, ns: &str) -> Result<Vec<u32>, FenceError>;
    /// Sends SIGKILL to `pid` (errors ignored: it may be gone already).
    fn kill(&mut self, pid: u32);
    /// veth links of `ns`.
    ///
    /// # Errors
    /// The query failed.
    fn links(&mut self, ns: &str) -> Result<Vec<Link>, FenceError>;
    /// Sets a link of `ns` up or down.
    ///
    /// # Errors
    /// The change failed.
    fn set_link(&mut self, ns: &str, dev: &str, up: bool) -> Result<(), FenceError>;
}

/// [`NetnsOps`] through the `ip` command.
#[derive(Debug, Default)]
pub struct IpCommand;

fn ip(args: &[&str]) -> Result<String, FenceError> {
    let cmd = format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| FenceError::Command { cmd: cmd.clone(), msg: e.to_string() })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(FenceError::Command { cmd, msg });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl NetnsOps for IpCommand {
    fn list(&mut self) -> Result<Vec<String>, FenceError> {
        let out = ip(&["netns", "list"])?;
        Ok(out.lines().filter_map(|l| l.split_whitespace().next()).map(String::from).collect())
    }

    fn pids(&mut self, ns: &str) -> Result<Vec<u32>, FenceError> {
        let out = ip(&["netns", "pids", ns])?;
        Ok(out.split_whitespace().filter_map(|p| p.parse().ok()).collect())
    }

    fn kill(&mut self, pid: u32) {
        let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).output();
    }

    fn links(&mut self, ns: &str) -> Result<Vec<Link>, FenceError> {
        let out = ip(&["-n", ns, "-o", "link", "show", "type", "veth"])?;
        Ok(out.lines().filter_map(parse_link_line).collect())
    }

    fn set_link(&mut self, ns: &str, dev: &str, up: bool) -> Result<(), FenceError> {
        ip(&["-n", ns, "link", "set", dev, if up { "up" } else { "down" }]).map(|_| ())
    }
}

/// Parses one `ip -o link` line: `3: va@if2: <BROADCAST,UP,LOWER_UP> mtu ...`.
pub fn parse_link_line(line: &str) -> Option<Link> {
    let mut parts = line.splitn(3, ": ");
    parts.next()?;
    let name = parts.next()?.split('@').next()?.to_string();
    let rest = parts.next()?;
    let flags = rest.strip_prefix('<')?.split('>').next()?;
    let up = flags.split(',').any(|f| f == "UP");
    Some(Link { name, up })
}

/// The fence-agent meta-data XML.
pub fn metadata_xml() -> String {
    let params = [
        ("action", "1", "-o, --action=[action]", "reboot", "Fencing action"),
        ("plug", "1", "-n, --plug=[id]", "", "Network namespace (node) to fence"),
        ("port", "0", "--port=[id]", "", "Same as plug (deprecated name)"),
        ("nodename", "0", "--nodename=[name]", "", "Cluster node being fenced (used when no plug)"),
        ("netns_prefix", "0", "--netns-prefix=[prefix]", "", "Prefix added to the plug"),
        ("verbose", "0", "-v, --verbose", "", "Verbose mode (accepted, ignored)"),
    ];
    let mut x = String::from("<?xml version=\"1.0\" ?>\n");
    x.push_str("<resource-agent name=\"fence_netns\" shortdesc=\"Fence agent for network-namespace lab nodes\">\n");
    x.push_str("<longdesc>fence_netns fences a node that lives in a Linux network namespace: off kills every process in the namespace and sets its veth links down, on sets them up.</longdesc>\n");
    x.push_str("<parameters>\n");
    for (name, req, getopt, default, desc) in params {
        let dep = if name == "port" { " deprecated=\"1\"" } else { "" };
        x.push_str(&format!(
            "\t<parameter name=\"{name}\" unique=\"0\" required=\"{req}\"{dep}>\n"
        ));
        x.push_str(&format!("\t\t<getopt mixed=\"{getopt}\" />\n"));
        if default.is_empty() {
            x.push_str("\t\t<content type=\"string\" />\n");
        } else {
            x.push_str(&format!("\t\t<content type=\"string\" default=\"{default}\" />\n"));
        }
        x.push_str(&format!("\t\t<shortdesc lang=\"en\">{desc}</shortdesc>\n\t</parameter>\n"));
    }
    x.push_str("</parameters>\n<actions>\n\t<action name=\"on\" automatic=\"0\"/>\n");
    for a in
        ["off", "reboot", "status", "list", "list-status", "monitor", "metadata", "validate-all"]
    {
        x.push_str(&format!("\t<action name=\"{a}\" />\n"));
    }
    x.push_str("</actions>\n</resource-agent>\n");
    x
}

fn target(o: &FenceOptions) -> Result<String, FenceError> {
    let plug = o.plug.as_ref().or(o.nodename.as_ref());
    let Some(plug) = plug else { return Err(FenceError::NoPlug(o.action.clone())) };
    let ns = format!("{}{}", o.netns_prefix, plug);
    if ns.is_empty() || ns.contains('/') || ns == "." || ns == ".." {
        return Err(FenceError::BadName(ns));
    }
    Ok(ns)
}

fn existing(ops: &mut dyn NetnsOps, o: &FenceOptions) -> Result<String, FenceError> {
    let ns = target(o)?;
    if !ops.list()?.contains(&ns) {
        return Err(FenceError::NoSuchNamespace(ns));
    }
    Ok(ns)
}

/// Upper bound of kill rounds (processes may fork while being killed).
pub const KILL_ROUNDS_MAX: usize = 100;

/// Fences `ns`: kills all its processes and sets its veth links down.
///
/// # Errors
/// Query failures, or processes that survive [`KILL_ROUNDS_MAX`] rounds.
pub fn power_off(ops: &mut dyn NetnsOps, ns: &str) -> Result<(), FenceError> {
    let me = std::process::id();
    // Links first: the node is cut off from the network before its processes die.
    for l in ops.links(ns)? {
        ops.set_link(ns, &l.name, false)?;
    }
    for _ in 0..KILL_ROUNDS_MAX {
        let pids: Vec<u32> = ops.pids(ns)?.into_iter().filter(|p| *p != me).collect();
        if pids.is_empty() {
            return Ok(());
        }
        for p in pids {
            ops.kill(p);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let count = ops.pids(ns)?.len();
    Err(FenceError::Survivors { ns: ns.to_string(), count })
}

/// Powers `ns` on: sets its veth links up.
///
/// # Errors
/// Query or link failures.
pub fn power_on(ops: &mut dyn NetnsOps, ns: &str) -> Result<(), FenceError> {
    for l in ops.links(ns)? {
        ops.set_link(ns, &l.name, true)?;
    }
    Ok(())
}

/// True when `ns` counts as powered on.
///
/// # Errors
/// Query failures.
pub fn is_on(ops: &mut dyn NetnsOps, ns: &str) -> Result<bool, FenceError> {
    let links = ops.links(ns)?;
    if links.is_empty() {
        return Ok(!ops.pids(ns)?.is_empty());
    }
    Ok(links.iter().any(|l| l.up))
}

/// Runs the agent: returns the exit code (0 ok, 1 failure, 2 = status off).
pub fn run(
    o: &FenceOptions,
    ops: &mut dyn NetnsOps,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    for w in &o.warnings {
        let _ = writeln!(err, "WARNING: {w}");
    }
    match run_inner(o, ops, out) {
        Ok(rc) => rc,
        Err(e) => {
            let _ = writeln!(err, "Failed: {e}");
            1
        }
    }
}

fn run_inner(
    o: &FenceOptions,
    ops: &mut dyn NetnsOps,
    out: &mut dyn Write,
) -> Result<i32, FenceError> {
    let action =
        FenceAction::parse(&o.action).ok_or_else(|| FenceError::BadAction(o.action.clone()))?;
    let mut say = |s: String| {
        let _ = writeln!(out, "{s}");
    };
    match action {
        FenceAction::Metadata => say(metadata_xml().trim_end().to_string()),
        FenceAction::Monitor => {
            ops.list()?;
        }
        FenceAction::ValidateAll => {
            target(o)?;
        }
        FenceAction::List | FenceAction::ListStatus => {
            for ns in ops.list()? {
                let Some(plug) = ns.strip_prefix(o.netns_prefix.as_str()) else { continue };
                if action == FenceAction::List {
                    say(format!("{plug},"));
                } else {
                    let st = if is_on(ops, &ns)? { "ON" } else { "OFF" };
                    say(format!("{plug},,{st}"));
                }
            }
        }
        FenceAction::Status => {
            let ns = existing(ops, o)?;
            let on = is_on(ops, &ns)?;
            say(format!("Status: {}", if on { "ON" } else { "OFF" }));
            return Ok(if on { 0 } else { 2 });
        }
        FenceAction::Off => {
            let ns = existing(ops, o)?;
            power_off(ops, &ns)?;
            say("Success: Powered OFF".to_string());
        }
        FenceAction::On => {
            let ns = existing(ops, o)?;
            power_on(ops, &ns)?;
            say("Success: Powered ON".to_string());
        }
        FenceAction::Reboot => {
            let ns = existing(ops, o)?;
            power_off(ops, &ns)?;
            // Reboot succeeds with the off part; a failed power-on is only reported.
            if let Err(e) = power_on(ops, &ns) {
                say(format!("WARNING: power on after off failed: {e}"));
            }
            say("Success: Rebooted".to_string());
        }
    }
    Ok(0)
}

/// Entry point of the binary: arguments (without `argv[0]`) or, if none, options from stdin.
pub fn main_with(args: &[String], stdin: &mut dyn std::io::Read) -> i32 {
    let opts = if args.is_empty() {
        let mut text = String::new();
        if stdin.read_to_string(&mut text).is_err() {
            eprintln!("Failed: cannot read options from stdin");
            return 1;
        }
        parse_stdin(&text)
    } else if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("usage: fence_netns [-o ACTION] [-n PLUG] [--nodename NODE] [--netns-prefix P]\n       (no arguments: name=value options on stdin)");
        return 0;
    } else {
        match parse_args(args) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("Failed: {e}");
                return 1;
            }
        }
    };
    run(&opts, &mut IpCommand, &mut std::io::stdout(), &mut std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Fake {
        ns: BTreeMap<String, (Vec<u32>, Vec<Link>)>,
    }

    impl NetnsOps for Fake {
        fn list(&mut self) -> Result<Vec<String>, FenceError> {
            Ok(self.ns.keys().cloned().collect())
        }
        fn pids(&mut self, ns: &str) -> Result<Vec<u32>, FenceError> {
            Ok(self.ns[ns].0.clone())
        }
        fn kill(&mut self, pid: u32) {
            for (p, _) in self.ns.values_mut() {
                p.retain(|x| *x != pid);
            }
        }
        fn links(&mut self, ns: &str) -> Result<Vec<Link>, FenceError> {
            Ok(self.ns[ns].1.clone())
        }
        fn set_link(&mut self, ns: &str, dev: &str, up: bool) -> Result<(), FenceError> {
            let l = self.ns.get_mut(ns).unwrap().1.iter_mut().find(|l| l.name == dev).unwrap();
            l.up = up;
            Ok(())
        }
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        let link = Link { name: "va".into(), up: true };
        f.ns.insert("lab-n1".into(), (vec![100, 101], vec![link]));
        f
    }

    fn go(f: &mut Fake, stdin: &str) -> (i32, String, String) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let rc = run(&parse_stdin(stdin), f, &mut out, &mut err);
        (rc, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
    }

    #[test]
    fn stdin_parsing() {
        let o = parse_stdin("# comment\naction=status\nport=a\nplug=b\nnodename=n\nbogus=1\n");
        assert_eq!(o.action, "status");
        assert_eq!(o.plug.as_deref(), Some("b"), "last occurrence wins");
        assert_eq!(o.warnings, vec!["Ignoring unknown option 'bogus=1'".to_string()]);
        let a: Vec<String> =
            ["-o", "off", "--plug=x", "--nodename", "n"].map(String::from).to_vec();
        let o = parse_args(&a).unwrap();
        assert_eq!((o.action.as_str(), o.plug.as_deref()), ("off", Some("x")));
        assert!(parse_args(&["-o".to_string()]).is_err());
        assert!(parse_args(&["--frob".to_string()]).is_err());
    }

    #[test]
    fn off_status_on_with_fake() {
        let mut f = fake();
        let (rc, out, _) = go(&mut f, "action=status\nnodename=n1\nnetns_prefix=lab-\n");
        assert_eq!((rc, out.as_str()), (0, "Status: ON\n"));
        let (rc, out, _) = go(&mut f, "action=off\nplug=lab-n1\n");
        assert_eq!((rc, out.as_str()), (0, "Success: Powered OFF\n"));
        assert!(f.ns["lab-n1"].0.is_empty());
        assert_eq!(go(&mut f, "action=status\nplug=lab-n1\n").0, 2);
        assert_eq!(go(&mut f, "action=on\nplug=lab-n1\n").0, 0);
        assert_eq!(go(&mut f, "action=status\nplug=lab-n1\n").0, 0);
        let (rc, _, err) = go(&mut f, "action=off\nplug=lab-n9\n");
        assert_eq!(rc, 1);
        assert!(err.contains("does not exist"), "{err}");
        assert_eq!(go(&mut f, "action=frobnicate\nplug=lab-n1\n").0, 1);
        assert_eq!(go(&mut f, "action=off\n").0, 1);
        let (rc, out, _) = go(&mut f, "action=list\nnetns_prefix=lab-\n");
        assert_eq!((rc, out.as_str()), (0, "n1,\n"));
    }

    #[test]
    fn link_lines() {
        let l = parse_link_line("3: va@if2: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc");
        assert_eq!(l, Some(Link { name: "va".into(), up: true }));
        let l = parse_link_line("4: vb@va: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN");
        assert_eq!(l, Some(Link { name: "vb".into(), up: false }));
        assert!(metadata_xml().contains("<action name=\"on\" automatic=\"0\"/>"));
    }
}

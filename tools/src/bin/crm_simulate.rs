//! crm_simulate: run the policy engine on a CIB and show what it would do.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cluster_core::cib::xml::Element;
use cluster_core::scheduler::{schedule, schedule_with_scores, SchedulerInput};
use cluster_core::status;

struct Opts {
    xml: Option<String>,
    live: bool,
    /// `-R`: run the scheduler and show its transition summary.
    run: bool,
    /// `-S`: also simulate the execution and show the resulting cluster.
    simulate: bool,
    scores: bool,
    quiet: bool,
    graph: Option<String>,
    dot: Option<String>,
    up: Vec<String>,
    down: Vec<String>,
    inject: Vec<String>,
    date: Option<String>,
}

fn usage() -> &'static str {
    "Usage: crm_simulate [-x FILE | -L] [-S | -R] [-s] [-Q] [-G FILE] [-D FILE] [-u NODE] [-d NODE] [-i OP@NODE=RC] [-F OP@NODE=RC] [-t DATE]
  -R, --run          run the scheduler and show the transition summary
  -S, --simulate     also simulate the execution and show the revised cluster status
  -s, --show-scores  show allocation and promotion scores
  -Q, --quiet        show only essential output (no cluster status)"
}

fn parse_args() -> Result<Opts> {
    let mut o = Opts {
        xml: None,
        live: false,
        run: false,
        simulate: false,
        scores: false,
        quiet: false,
        graph: None,
        dot: None,
        up: vec![],
        down: vec![],
        inject: vec![],
        date: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].clone();
        let val = |i: &mut usize| -> Result<String> {
            *i += 1;
            args.get(*i).cloned().with_context(|| format!("option {a} needs a value"))
        };
        if a.starts_with('-')
            && !a.starts_with("--")
            && a.len() > 2
            && a[1..].chars().all(|c| "SsQRL".contains(c))
        {
            for c in a[1..].chars() {
                match c {
                    'S' => o.simulate = true,
                    'R' => o.run = true,
                    's' => o.scores = true,
                    'Q' => o.quiet = true,
                    'L' => o.live = true,
                    _ => {}
                }
            }
            i += 1;
            continue;
        }
        match a.as_str() {
            "-x" | "--xml-file" => o.xml = Some(val(&mut i)?),
            "-L" | "--live-check" => o.live = true,
            "-S" | "--simulate" => o.simulate = true,
            "-R" | "--run" => o.run = true,
            "-s" | "--show-scores" => o.scores = true,
            "-Q" | "--quiet" => o.quiet = true,
            "-G" | "--save-graph" => o.graph = Some(val(&mut i)?),
            "-D" | "--save-dotfile" => o.dot = Some(val(&mut i)?),
            "-u" | "--node-up" => o.up.push(val(&mut i)?),
            "-d" | "--node-down" => o.down.push(val(&mut i)?),
            "-i" | "--op-inject" | "-F" | "--op-fail" => o.inject.push(val(&mut i)?),
            "-t" | "--set-datetime" => o.date = Some(val(&mut i)?),
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            _ => {
                if let Some(v) = a.strip_prefix("--xml-file=") {
                    o.xml = Some(v.to_string());
                } else {
                    bail!("unknown option '{a}'\n{}", usage());
                }
            }
        }
        i += 1;
    }
    Ok(o)
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn parse_date(s: &str) -> Result<i64> {
    let t = s.trim().trim_end_matches('Z');
    let (date, time) = t.split_once([' ', 'T']).unwrap_or((t, "00:00:00"));
    let dp: Vec<i64> = date.split('-').map(|x| x.parse().unwrap_or(-1)).collect();
    let tp: Vec<i64> = time.split(':').map(|x| x.parse().unwrap_or(0)).collect();
    if dp.len() != 3 || dp.iter().any(|&x| x < 0) {
        bail!("invalid date '{s}' (expected YYYY-MM-DD[ HH:MM:SS])");
    }
    let secs =
        tp.first().unwrap_or(&0) * 3600 + tp.get(1).unwrap_or(&0) * 60 + tp.get(2).unwrap_or(&0);
    Ok(days_from_civil(dp[0], dp[1], dp[2]) * 86400 + secs)
}

fn set_node(cib: &mut Element, node: &str, up: bool) {
    let id = cib
        .path(&["configuration", "nodes"])
        .and_then(|ns| {
            ns.children_named("node")
                .find(|n| n.attr("uname") == Some(node))
                .and_then(|n| n.attr("id").map(|s| s.to_string()))
        })
        .unwrap_or_else(|| node.to_string());
    let st = cib.child_or_insert("status");
    let pos = st.children.iter().position(|c| {
        c.name == "node_state"
            && (c.attr("uname") == Some(node) || c.attr("id") == Some(id.as_str()))
    });
    let idx = match pos {
        Some(p) => p,
        None => {
            st.children
                .push(Element::new("node_state").with_attr("id", &id).with_attr("uname", node));
            st.children.len() - 1
        }
    };
    let ns = &mut st.children[idx];
    if up {
        for (k, v) in
            [("in_ccm", "true"), ("crmd", "online"), ("join", "member"), ("expected", "member")]
        {
            ns.set_attr(k, v);
        }
    } else {
        for (k, v) in
            [("in_ccm", "false"), ("crmd", "offline"), ("join", "down"), ("expected", "down")]
        {
            ns.set_attr(k, v);
        }
    }
}

fn inject_op(cib: &mut Element, spec: &str) -> Result<()> {
    let (key, rest) = spec
        .split_once('@')
        .with_context(|| format!("invalid injection '{spec}' (expected OP@NODE=RC)"))?;
    let (node, rc) = rest
        .split_once('=')
        .with_context(|| format!("invalid injection '{spec}' (expected OP@NODE=RC)"))?;
    let rc: i32 = rc.parse().with_context(|| format!("invalid rc in '{spec}'"))?;
    let parts: Vec<&str> = key.rsplitn(3, '_').collect();
    if parts.len() != 3 {
        bail!("invalid operation key '{key}' (expected RSC_OP_INTERVAL)");
    }
    let (interval, task, rsc) = (parts[0], parts[1], parts[2]);
    let st = cib.child_or_insert("status");
    let ns = st
        .children
        .iter_mut()
        .find(|c| c.name == "node_state" && c.attr("uname") == Some(node))
        .with_context(|| format!("node '{node}' has no status entry"))?;
    let lrs = ns.child_or_insert("lrm").child_or_insert("lrm_resources");
    let pos = lrs.children.iter().position(|c| c.attr("id") == Some(rsc));
    let lr = match pos {
        Some(p) => &mut lrs.children[p],
        None => {
            lrs.children.push(Element::new("lrm_resource").with_attr("id", rsc));
            lrs.children.last_mut().expect("just pushed")
        }
    };
    let max_call = lr
        .children
        .iter()
        .filter_map(|c| c.attr("call-id").and_then(|v| v.parse::<i64>().ok()))
        .max()
        .unwrap_or(0);
    let expected = if task == "monitor" && interval == "0" { "7" } else { "0" };
    lr.children.push(
        Element::new("lrm_rsc_op")
            .with_attr("id", &format!("{key}_injected"))
            .with_attr("operation", task)
            .with_attr("interval", interval)
            .with_attr("rc-code", &rc.to_string())
            .with_attr("op-status", "0")
            .with_attr("call-id", &(max_call + 1).to_string())
            .with_attr(
                "transition-key",
                &format!("0:0:{expected}:00000000-0000-0000-0000-000000000000"),
            ),
    );
    Ok(())
}

/// The tool's edge: without `execution-date` or `-t`, "now" is the wall clock, as in Pacemaker.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> std::time::SystemTime {
    std::time::SystemTime::now()
}

fn run() -> Result<u8> {
    let o = parse_args()?;
    let path = match (&o.xml, o.live) {
        (Some(p), _) => p.clone(),
        (None, _) => {
            std::env::var("CIB_file").context("no input: use -x FILE (or set CIB_file with -L)")?
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let mut cib = Element::parse(&text).with_context(|| format!("cannot parse {path}"))?;
    for n in &o.up {
        set_node(&mut cib, n, true);
    }
    for n in &o.down {
        set_node(&mut cib, n, false);
    }
    for s in &o.inject {
        inject_op(&mut cib, s)?;
    }
    let now = match &o.date {
        Some(d) => Some(parse_date(d)?),
        None if cib.attr("execution-date").is_some() => None,
        None => wall_clock().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64),
    };
    let input =
        SchedulerInput::from_cib(&cib, now).with_context(|| format!("invalid CIB {path}"))?;
    let t = if o.scores { schedule_with_scores(&input) } else { schedule(&input) };
    let mut out = String::new();
    if o.scores {
        for l in &t.scores {
            out.push_str(l);
            out.push('\n');
        }
        if o.quiet {
            print!("{out}");
            return Ok(0);
        }
    }
    if !o.quiet {
        out.push_str("Current cluster status:\n");
        out.push_str(&status::render(&t.before));
        out.push('\n');
    }
    // As Pacemaker's: without -R, -S or -s only the current status is shown.
    if !(o.run || o.simulate || o.scores) {
        print!("{out}");
        return write_graphs(&o, &t);
    }
    out.push_str("Transition Summary:\n");
    for l in &t.summary {
        out.push_str("  * ");
        out.push_str(l);
        out.push('\n');
    }
    if o.simulate {
        out.push('\n');
        out.push_str("Executing Cluster Transition:\n");
        for a in &t.actions {
            let node = a.node.clone().unwrap_or_default();
            if a.task == "fence" {
                out.push_str(&format!("  * Fencing {node} (reboot)\n"));
            } else if a.pseudo {
                out.push_str(&format!("  * Pseudo action:   {}\n", a.key()));
            } else {
                let task = match a.task.as_str() {
                    "monitor" | "cancel" => format!("monitor={}", a.interval),
                    t if t.contains("notify") => "notify".to_string(),
                    t => t.to_string(),
                };
                let cancel = if a.task == "cancel" { " (cancel)" } else { "" };
                out.push_str(&format!(
                    "  * Resource action: {:<15} {task} on {node}{cancel}\n",
                    a.rsc
                ));
            }
        }
        if !o.quiet {
            out.push('\n');
            out.push_str("Revised Cluster Status:\n");
            out.push_str(&status::render(&t.after));
        }
    }
    print!("{out}");
    write_graphs(&o, &t)
}

/// `-G` and `-D`: the transition graph as XML and as a dot file.
fn write_graphs(o: &Opts, t: &cluster_core::scheduler::Transition) -> Result<u8> {
    if let Some(g) = &o.graph {
        std::fs::write(g, graph_xml(t)).with_context(|| format!("cannot write {g}"))?;
    }
    if let Some(d) = &o.dot {
        let mut x = String::from("digraph \"g\" {\n");
        for a in &t.actions {
            x.push_str(&format!("\"{} {}\"\n", a.key(), a.node.clone().unwrap_or_default()));
        }
        for (a, b) in &t.edges {
            let (fa, fb) = (&t.actions[*a], &t.actions[*b]);
            x.push_str(&format!(
                "\"{} {}\" -> \"{} {}\"\n",
                fa.key(),
                fa.node.clone().unwrap_or_default(),
                fb.key(),
                fb.node.clone().unwrap_or_default()
            ));
        }
        x.push_str("}\n");
        std::fs::write(d, x).with_context(|| format!("cannot write {d}"))?;
    }
    Ok(0)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The transition graph in Pacemaker's format: one synapse per action, its inputs are the
/// actions ordered before it.
fn graph_xml(t: &cluster_core::scheduler::Transition) -> String {
    let mut x = String::from("<transition_graph cluster-delay=\"60s\" stonith-timeout=\"60s\" failed-stop-offset=\"INFINITY\" failed-start-offset=\"INFINITY\" batch-limit=\"0\" transition_id=\"0\">\n");
    let mut inputs: Vec<Vec<usize>> = vec![Vec::new(); t.actions.len()];
    for &(a, b) in &t.edges {
        inputs[b].push(a);
    }
    let event = |i: usize| -> String {
        let a = &t.actions[i];
        let key = xml_escape(&a.key());
        let node = xml_escape(a.node.as_deref().unwrap_or(""));
        let op = match a.task.as_str() {
            "fence" => "stonith".to_string(),
            "cancel" => "cancel".to_string(),
            s if s.starts_with("confirmed-") => "notified".to_string(),
            s if s.contains("notify") => "notify".to_string(),
            s => s.to_string(),
        };
        let rsc = xml_escape(&a.rsc);
        if a.task == "fence" {
            format!("<crm_event id=\"{i}\" operation=\"stonith\" operation_key=\"{key}\" on_node=\"{node}\"/>")
        } else if a.pseudo {
            format!("<pseudo_event id=\"{i}\" operation=\"{op}\" operation_key=\"{key}\"/>")
        } else {
            format!(
                "<rsc_op id=\"{i}\" operation=\"{op}\" operation_key=\"{key}\" on_node=\"{node}\"><primitive id=\"{rsc}\"/><attributes CRM_meta_interval=\"{}\"/></rsc_op>",
                a.interval
            )
        }
    };
    for (i, ins) in inputs.iter().enumerate() {
        x.push_str(&format!(
            "  <synapse id=\"{i}\">\n    <action_set>\n      {}\n    </action_set>\n    <inputs>\n",
            event(i)
        ));
        for &b in ins {
            x.push_str(&format!("      <trigger>\n        {}\n      </trigger>\n", event(b)));
        }
        x.push_str("    </inputs>\n  </synapse>\n");
    }
    x.push_str("</transition_graph>\n");
    x
}

fn main() -> ExitCode {
    match run() {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("crm_simulate: {e:#}");
            ExitCode::from(64)
        }
    }
}

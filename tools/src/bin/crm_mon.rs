//! crm_mon: show the cluster's state in crm_mon 2.1.5's text layout.
//!
//! The CIB comes from `CIB_file` / `CIB_shadow`, else from the running `clusterd` of this
//! node (its CIB socket); with neither, the tool fails as Pacemaker's does when the cluster is
//! down (exit 102). The text is `cluster_core::monitor::render_text`, shared with
//! `crm status`. Live mode redraws every `-i` seconds on a terminal and quits on `q` or
//! Ctrl-C; without a terminal it prints once.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use cluster_core::cib::store::CibSource;
use cluster_core::cib::xml::Element;
use cluster_core::monitor::{self, MonitorOptions};

const EX_USAGE: u8 = 64;
const EX_DISCONNECT: u8 = 102;

#[derive(Default)]
struct Opts {
    one_shot: bool,
    show: MonitorOptions,
    interval: u64,
}

fn usage() -> &'static str {
    "Usage: crm_mon [-1] [-r] [-f] [-A] [-n] [-o] [-i SECONDS] [--output-as=text]"
}

fn parse_interval(v: &str) -> Result<u64> {
    let v = v.trim();
    let (num, mult) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600)
    } else {
        (v, 1)
    };
    let n: u64 = num.parse().with_context(|| format!("invalid interval '{v}'"))?;
    Ok(if mult == 0 { n.div_ceil(1000).max(1) } else { (n * mult).max(1) })
}

fn parse_args(args: &[String]) -> Result<Opts> {
    let mut o = Opts { interval: 5, ..Default::default() };
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        let value = |i: &mut usize| -> Result<String> {
            *i += 1;
            args.get(*i).cloned().with_context(|| format!("option {a} needs a value"))
        };
        match a {
            "-1" | "--one-shot" => o.one_shot = true,
            "-r" | "--inactive" => o.show.inactive = true,
            "-f" | "--failcounts" => o.show.failcounts = true,
            "-A" | "--show-node-attributes" => o.show.attrs = true,
            "-n" | "--group-by-node" => o.show.by_node = true,
            "-o" | "--operations" => o.show.operations = true,
            "-i" | "--interval" => o.interval = parse_interval(&value(&mut i)?)?,
            "--output-as" => {
                let v = value(&mut i)?;
                if v != "text" {
                    bail!("unsupported output format '{v}' (only text)");
                }
            }
            "-h" | "--help" => {
                println!("{}", usage());
                std::process::exit(0);
            }
            _ => {
                if let Some(v) = a.strip_prefix("--output-as=") {
                    if v != "text" {
                        bail!("unsupported output format '{v}' (only text)");
                    }
                } else if let Some(v) = a.strip_prefix("--interval=") {
                    o.interval = parse_interval(v)?;
                } else if a.starts_with('-')
                    && !a.starts_with("--")
                    && a.len() > 2
                    && a[1..].chars().all(|c| "1rfAno".contains(c))
                {
                    for c in a[1..].chars() {
                        match c {
                            '1' => o.one_shot = true,
                            'r' => o.show.inactive = true,
                            'f' => o.show.failcounts = true,
                            'A' => o.show.attrs = true,
                            'n' => o.show.by_node = true,
                            _ => o.show.operations = true,
                        }
                    }
                } else {
                    bail!("unknown option '{a}'\n{}", usage());
                }
            }
        }
        i += 1;
    }
    Ok(o)
}

/// The tool's edge: "Last updated" and the scheduler's "now" come from the wall clock.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn load(src: &CibSource) -> Result<Element> {
    match src {
        CibSource::Live(_) => {
            cluster_core::cib::cli::load("crm_mon", src).map_err(|f| anyhow::anyhow!(f.message))
        }
        _ => src.load().map_err(|e| anyhow::anyhow!("{e}")),
    }
}

/// Puts the terminal in non-canonical, no-echo, no-signal mode and restores it on drop.
struct RawTty;

impl RawTty {
    fn enter() -> Option<Self> {
        let ok = std::process::Command::new("stty")
            .args(["-icanon", "-echo", "-isig", "min", "1"])
            .stdin(std::process::Stdio::inherit())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(RawTty)
    }
}

impl Drop for RawTty {
    fn drop(&mut self) {
        let _ = std::process::Command::new("stty")
            .arg("sane")
            .stdin(std::process::Stdio::inherit())
            .status();
    }
}

fn live(src: &CibSource, o: &Opts) -> Result<u8> {
    let _raw = RawTty::enter();
    let (tx, rx) = std::sync::mpsc::sync_channel::<u8>(16);
    std::thread::spawn(move || {
        let mut b = [0u8; 1];
        let mut stdin = std::io::stdin();
        while let Ok(1) = stdin.read(&mut b) {
            if tx.send(b[0]).is_err() {
                break;
            }
        }
    });
    loop {
        let text = match load(src).and_then(|cib| render_text(&cib, o, wall_clock())) {
            Ok(t) => t,
            Err(e) => format!("crm_mon: Error: {e:#}\n"),
        };
        let mut so = std::io::stdout().lock();
        // Home + clear screen, then the status (output post-processing stays on: \n -> \r\n).
        let _ = write!(so, "\x1b[H\x1b[2J{text}");
        let _ = so.flush();
        drop(so);
        match rx.recv_timeout(std::time::Duration::from_secs(o.interval)) {
            Ok(b'q') | Ok(b'Q') | Ok(3) => return Ok(0),
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                std::thread::sleep(std::time::Duration::from_secs(o.interval));
            }
        }
    }
}

fn run() -> Result<u8> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("crm_mon: {e:#}");
            return Ok(EX_USAGE);
        }
    };
    // CIB_file / CIB_shadow, else the running cluster daemon on this node.
    let Ok(src) = cluster_core::cib::cli::offline_source("") else {
        eprintln!("crm_mon: Error: cluster is not available on this node");
        return Ok(EX_DISCONNECT);
    };
    let interactive = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    if o.one_shot || !interactive {
        let cib = load(&src)?;
        print!("{}", render_text(&cib, &o, wall_clock())?);
        return Ok(0);
    }
    live(&src, &o)
}

fn main() -> ExitCode {
    match run() {
        Ok(c) => ExitCode::from(c),
        Err(e) => {
            eprintln!("crm_mon: Error: {e:#}");
            ExitCode::from(EX_DISCONNECT)
        }
    }
}

/// The text of one refresh.
fn render_text(cib: &Element, o: &Opts, now: i64) -> Result<String> {
    Ok(monitor::render_text(cib, &o.show, now)?)
}

//! Runs simulator seeds: `vopr --seed N` replays one, `vopr --seeds N [--time-budget SECS]`
//! runs many (fresh seeds derived from the time unless `--from S` is given); `--dual` counts
//! and runs only the seeds in dual-primary mode.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::time::Instant;
use tests::sim::cluster::{run_seed, Sim, SimConfig};

fn parse_u64(s: &str) -> Result<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x") {
        u64::from_str_radix(h, 16).with_context(|| format!("bad number {s:?}"))
    } else {
        s.parse().with_context(|| format!("bad number {s:?}"))
    }
}

#[allow(clippy::disallowed_methods)]
fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut seed = None;
    let mut seeds = None;
    let mut budget = None;
    let mut from = None;
    let mut verbose = false;
    let mut dual_only = false;
    let mut keep_going = false;
    let mut i = 0;
    while i < args.len() {
        let v = || args.get(i + 1).cloned().with_context(|| format!("{} needs a value", args[i]));
        match args[i].as_str() {
            "--seed" => {
                seed = Some(parse_u64(&v()?)?);
                i += 1;
            }
            "--seeds" => {
                seeds = Some(parse_u64(&v()?)?);
                i += 1;
            }
            "--time-budget" => {
                budget = Some(parse_u64(&v()?)?);
                i += 1;
            }
            "--from" => {
                from = Some(parse_u64(&v()?)?);
                i += 1;
            }
            "--verbose" | "-v" => verbose = true,
            "--dual" => dual_only = true,
            "--keep-going" => keep_going = true,
            "--help" | "-h" => {
                println!("usage: vopr --seed N [--verbose] | vopr --seeds N [--time-budget SECS] [--from S] [--dual] [--keep-going]");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (try --help)"),
        }
        i += 1;
    }
    if let Some(s) = seed {
        let mut cfg = SimConfig::from_seed(s);
        cfg.full_trace = verbose;
        println!(
            "seed={s} config: {:?} size={} sectors hot_extents={} dual={} write_through={}{}",
            cfg.protocol,
            cfg.size_sectors,
            cfg.hot_extents.len(),
            cfg.dual,
            cfg.write_through,
            if cfg.write_through && !cfg.repl.disk_drain { " (write ordering none)" } else { "" }
        );
        match Sim::new(cfg).run() {
            Ok(o) => {
                println!("seed={s} ok: {o:?}");
                return Ok(());
            }
            Err(f) => {
                // Ignore a closed pipe (`vopr ... | head`).
                let _ = writeln!(std::io::stdout(), "{f}");
                std::process::exit(1);
            }
        }
    }
    let n = seeds.unwrap_or(100);
    let start_seed = from.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let t0 = Instant::now();
    let mut ran = 0u64;
    let mut failed = 0u64;
    let mut k = 0u64;
    while ran < n {
        if budget.is_some_and(|b| t0.elapsed().as_secs() >= b) {
            break;
        }
        let s = start_seed.wrapping_add(k);
        k += 1;
        if dual_only && !SimConfig::from_seed(s).dual {
            continue;
        }
        ran += 1;
        if let Err(f) = run_seed(s) {
            println!("{f}");
            if !keep_going {
                std::process::exit(1);
            }
            failed += 1;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{} seeds passed, {failed} failed in {secs:.1} s ({:.1} seeds/s), first seed {start_seed}",
        ran - failed,
        ran as f64 / secs
    );
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

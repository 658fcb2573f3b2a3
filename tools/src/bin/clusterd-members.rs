//! clusterd-members: what the local corosync says about the cluster daemon's group.
//!
//! `clusterd-members [-g GROUP]` prints the group's members, the designated controller the
//! membership implies and votequorum's state, read without joining the group.
//! `clusterd-members --watch [-g GROUP] [-t SECONDS]` joins the group itself (under its own
//! name `GROUP-watch`, so it never counts as a daemon) and prints membership, quorum and
//! message events as they arrive, for SECONDS (default: until killed).
#![forbid(unsafe_code)]

use std::time::Duration;

use anyhow::{bail, Context, Result};
use cluster_core::membership::corosync::{snapshot, CorosyncMembership};
use cluster_core::membership::{
    choose_dc, Departure, Member, Membership, MembershipEvent, QuorumState,
};

const USAGE: &str = "usage: clusterd-members [-g|--group GROUP] [--watch [-t|--timeout SECONDS]]";

fn show_members(m: &[Member]) -> String {
    let v: Vec<String> =
        m.iter().map(|x| format!("{} {} (pid {})", x.node_id, x.name, x.pid)).collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn show_departures(d: &[Departure]) -> String {
    let v: Vec<String> = d
        .iter()
        .map(|x| {
            format!("{} {} (pid {}, {:?})", x.member.node_id, x.member.name, x.member.pid, x.reason)
        })
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

fn show_quorum(q: &QuorumState) -> String {
    let nodes: Vec<String> = q.nodes.iter().map(|n| n.to_string()).collect();
    format!(
        "quorate={} votes={} expected={} quorum={}{}{} nodes={}",
        if q.quorate { "yes" } else { "no" },
        q.votes,
        q.expected,
        q.quorum,
        if q.two_node { " two_node" } else { "" },
        if q.wait_for_all { " wait_for_all" } else { "" },
        nodes.join(",")
    )
}

fn main() -> Result<()> {
    let mut group = "clusterd".to_string();
    let mut watch = false;
    let mut timeout: Option<Duration> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-g" | "--group" => group = args.next().context("--group needs a name")?,
            "--watch" | "-w" => watch = true,
            "-t" | "--timeout" => {
                let v = args.next().context("--timeout needs seconds")?;
                let secs: u64 = v.parse().with_context(|| format!("bad --timeout {v:?}"))?;
                timeout = Some(Duration::from_secs(secs));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    if !watch {
        let s = snapshot(&group).with_context(|| format!("reading group {group:?}"))?;
        println!("local node: {}", s.local);
        println!("group {group}: {}", show_members(&s.members));
        match choose_dc(&s.members) {
            Some(dc) => println!("dc: {dc}"),
            None => println!("dc: none (no daemon in the group)"),
        }
        println!("quorum: {}", show_quorum(&s.quorum));
        return Ok(());
    }
    let watch_group = format!("{group}-watch");
    let mut m = CorosyncMembership::connect(&watch_group)
        .with_context(|| format!("joining group {watch_group:?}"))?;
    println!("local node: {}; watching group {watch_group}", m.local_node_id());
    let step = Duration::from_millis(200);
    let mut waited = Duration::ZERO;
    loop {
        if let Some(t) = timeout {
            if waited >= t {
                break;
            }
        }
        match m.next_event(step)? {
            Some(MembershipEvent::MembersChanged { members, joined, left }) => println!(
                "members: {} | joined: {} | left: {}",
                show_members(&members),
                show_members(&joined),
                show_departures(&left)
            ),
            Some(MembershipEvent::QuorumChanged(q)) => println!("quorum: {}", show_quorum(&q)),
            Some(MembershipEvent::Message { from, pid, data }) => {
                println!("message from {from} (pid {pid}): {} bytes", data.len())
            }
            Some(MembershipEvent::Disconnected { reason }) => {
                bail!("corosync connection lost: {reason}")
            }
            None => waited += step,
        }
    }
    m.shutdown()?;
    Ok(())
}

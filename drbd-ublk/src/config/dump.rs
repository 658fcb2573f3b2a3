//! `drbdadm dump` output: the configuration re-printed in drbdadm's normalised layout.
//!
//! Only explicitly written options are printed (section order net, disk, startup, options,
//! handlers; options in the order written), as `key<pad> value;` with a 16-column key, values
//! quoted only when they need it. Hosts get an explicit minor and address family.

use std::fmt::Write;

use super::{Config, Host, MetaDisk, Resource, Sections, Setting};

const INDENT: &str = "    ";

fn needs_quotes(v: &str) -> bool {
    v.is_empty() || v.chars().any(|c| c.is_whitespace() || matches!(c, ';' | '{' | '}' | '#' | '"'))
}

fn quote(v: &str) -> String {
    if needs_quotes(v) {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

fn line(out: &mut String, depth: usize, key: &str, value: &str) {
    let _ = writeln!(out, "{}{key:<16} {value};", INDENT.repeat(depth));
}

fn settings(out: &mut String, depth: usize, list: &[Setting]) {
    for s in list {
        let v = s.value.as_deref().map(quote).unwrap_or_else(|| "yes".into());
        line(out, depth, &s.key, &v);
    }
}

fn sections(out: &mut String, depth: usize, s: &Sections) {
    let groups: [(&str, &[Setting]); 5] = [
        ("net", &s.net),
        ("disk", &s.disk),
        ("startup", &s.startup),
        ("options", &s.options),
        ("handlers", &s.handlers),
    ];
    let pad = INDENT.repeat(depth);
    for (name, list) in groups {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "{pad}{name} {{");
        settings(out, depth + 1, list);
        let _ = writeln!(out, "{pad}}}");
    }
}

fn host(out: &mut String, h: &Host) {
    let pad = INDENT;
    if h.floating {
        let _ = writeln!(out, "{pad}floating {} {{", h.address);
    } else {
        let _ = writeln!(out, "{pad}on {} {{", h.names.join(" "));
    }
    for v in &h.volumes {
        let depth = if v.explicit { 3 } else { 2 };
        if v.explicit {
            let _ = writeln!(out, "{pad}{pad}volume {} {{", v.number);
        }
        line(out, depth, "device", &format!("{} minor {}", quote(&v.device), v.minor));
        line(out, depth, "disk", &v.disk.as_deref().map(quote).unwrap_or_else(|| "none".into()));
        let md = match &v.meta_disk {
            MetaDisk::Internal => "internal".to_string(),
            MetaDisk::External { path, index: Some(i) } => format!("{} [{i}]", quote(path)),
            MetaDisk::External { path, index: None } => quote(path),
        };
        line(out, depth, "meta-disk", &md);
        if v.explicit {
            let _ = writeln!(out, "{pad}{pad}}}");
        }
    }
    if !h.floating {
        line(out, 2, "address", &h.address.to_string());
    }
    if let Some(id) = h.node_id {
        line(out, 2, "node-id", &id.to_string());
    }
    let _ = writeln!(out, "{pad}}}");
}

pub(super) fn resource(out: &mut String, r: &Resource) {
    let _ = writeln!(
        out,
        "# resource {} on {}: not ignored, not stacked",
        r.name,
        r.local().display_name()
    );
    let _ = writeln!(out, "# defined at {}:{}", r.file.display(), r.line);
    let _ = writeln!(out, "resource {} {{", quote(&r.name));
    for h in &r.hosts {
        host(out, h);
    }
    sections(out, 1, &r.settings);
    let _ = writeln!(out, "}}");
}

pub(super) fn config(c: &Config) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}", c.path.display());
    let _ = writeln!(out, "global {{");
    settings(&mut out, 1, &c.global.settings);
    let _ = writeln!(out, "}}\n");
    let _ = writeln!(out, "common {{");
    sections(&mut out, 1, &c.common);
    let _ = writeln!(out, "}}");
    for r in &c.resources {
        out.push('\n');
        resource(&mut out, r);
    }
    out
}

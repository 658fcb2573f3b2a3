//! XML differences in Pacemaker's patch format 2 (`<diff format="2">`), as `crm_diff`
//! prints them and `cibadmin --patch` applies them.
//!
//! Children are matched by element name and `id` (by name and position among same-named
//! siblings when they have none). Deletions are listed first, then, in document order,
//! attribute modifications of an element followed by what changed below it and the children
//! created under it (with their position). Moves are not detected: a reordered child shows as
//! nothing (matching is by id), which is what the CIB's semantics need.

use super::xml::Element;

fn key(e: &Element, nth: usize) -> String {
    match e.id() {
        Some(id) => format!("{}[@id='{id}']", e.name),
        None if nth == 0 => e.name.clone(),
        None => format!("{}[{}]", e.name, nth + 1),
    }
}

/// Keys of `e`'s children, in order.
fn keys(e: &Element) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in e.children.iter().enumerate() {
        let nth = if c.id().is_some() {
            0
        } else {
            e.children[..i].iter().filter(|x| x.name == c.name && x.id().is_none()).count()
        };
        out.push(key(c, nth));
    }
    out
}

fn shallow(e: &Element) -> Element {
    Element {
        name: e.name.clone(),
        attrs: e.attrs.clone(),
        children: Vec::new(),
        text: e.text.clone(),
    }
}

fn deletes(old: &Element, new: &Element, path: &str, out: &mut Vec<Element>) {
    let (ok, nk) = (keys(old), keys(new));
    for (i, k) in ok.iter().enumerate() {
        let p = format!("{path}/{k}");
        match nk.iter().position(|x| x == k) {
            None => out.push(
                Element::new("change")
                    .with_attr("operation", "delete")
                    .with_attr("path", &p)
                    .with_attr("position", &i.to_string()),
            ),
            Some(j) => deletes(&old.children[i], &new.children[j], &p, out),
        }
    }
}

fn updates(old: &Element, new: &Element, path: &str, out: &mut Vec<Element>) {
    if old.attrs != new.attrs {
        let mut list = Element::new("change-list");
        for (k, v) in &new.attrs {
            if old.attr(k) != Some(v.as_str()) {
                list.children.push(
                    Element::new("change-attr")
                        .with_attr("name", k)
                        .with_attr("operation", "set")
                        .with_attr("value", v),
                );
            }
        }
        for (k, _) in &old.attrs {
            if new.attr(k).is_none() {
                list.children.push(
                    Element::new("change-attr")
                        .with_attr("name", k)
                        .with_attr("operation", "unset"),
                );
            }
        }
        out.push(
            Element::new("change")
                .with_attr("operation", "modify")
                .with_attr("path", path)
                .with_child(list)
                .with_child(Element::new("change-result").with_child(shallow(new))),
        );
    }
    let (ok, nk) = (keys(old), keys(new));
    let mut created = Vec::new();
    for (j, k) in nk.iter().enumerate() {
        match ok.iter().position(|x| x == k) {
            Some(i) => updates(&old.children[i], &new.children[j], &format!("{path}/{k}"), out),
            None => created.push(
                Element::new("change")
                    .with_attr("operation", "create")
                    .with_attr("path", path)
                    .with_attr("position", &j.to_string())
                    .with_child(new.children[j].clone()),
            ),
        }
    }
    out.extend(created);
}

fn version(e: &Element, name: &str) -> Element {
    let mut v = Element::new(name);
    for k in ["admin_epoch", "epoch", "num_updates"] {
        v.set_attr(k, e.attr(k).unwrap_or("0"));
    }
    v
}

/// The format-2 diff turning `old` into `new`; `None` when they are the same.
pub fn diff(old: &Element, new: &Element) -> Option<Element> {
    let mut changes = Vec::new();
    let root = format!("/{}", old.name);
    deletes(old, new, &root, &mut changes);
    updates(old, new, &root, &mut changes);
    if changes.is_empty() {
        return None;
    }
    let mut d = Element::new("diff").with_attr("format", "2");
    d.children.push(
        Element::new("version")
            .with_child(version(old, "source"))
            .with_child(version(new, "target")),
    );
    d.children.extend(changes);
    Some(d)
}

/// Why a patch does not apply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// Not a `<diff format="2">`.
    #[error("not a format 2 diff")]
    Format,
    /// A change's path names nothing in the document.
    #[error("no element at {0}")]
    NoPath(String),
}

fn split_path(path: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut in_pred = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_pred = true;
                cur.push(c)
            }
            ']' => {
                in_pred = false;
                cur.push(c)
            }
            '/' if !in_pred => {
                if !cur.is_empty() {
                    parts.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        parts.push(cur);
    }
    parts
}

fn step_matches(e: &Element, step: &str, nth_seen: usize) -> bool {
    match step.split_once('[') {
        None => e.name == step,
        Some((name, pred)) => {
            let pred = pred.trim_end_matches(']');
            if let Some(id) = pred.strip_prefix("@id='").and_then(|s| s.strip_suffix('\'')) {
                e.name == name && e.id() == Some(id)
            } else {
                e.name == name && pred.parse::<usize>().ok() == Some(nth_seen + 1)
            }
        }
    }
}

fn resolve<'a>(root: &'a mut Element, path: &str) -> Option<&'a mut Element> {
    let steps = split_path(path);
    let (first, rest) = steps.split_first()?;
    if !step_matches(root, first, 0) {
        return None;
    }
    let mut cur = root;
    for s in rest {
        let mut seen = 0;
        let mut idx = None;
        for (i, c) in cur.children.iter().enumerate() {
            if step_matches(c, s, seen) {
                idx = Some(i);
                break;
            }
            if s.split_once('[').is_some_and(|(n, _)| c.name == n && c.id().is_none()) {
                seen += 1;
            }
        }
        cur = &mut cur.children[idx?];
    }
    Some(cur)
}

/// Applies a format-2 diff to `doc`. On error `doc` is unchanged.
///
/// # Errors
/// [`PatchError`] naming the first change that does not apply.
pub fn apply(doc: &mut Element, patch: &Element) -> Result<(), PatchError> {
    if patch.name != "diff" || patch.attr("format") != Some("2") {
        return Err(PatchError::Format);
    }
    let mut work = doc.clone();
    for c in patch.children_named("change") {
        let path = c.attr("path").unwrap_or("");
        let no = || PatchError::NoPath(path.to_string());
        match c.attr("operation") {
            Some("delete") => {
                let steps = split_path(path);
                let (last, parent) = steps.split_last().ok_or_else(no)?;
                let parent_path = format!("/{}", parent.join("/"));
                let p = resolve(&mut work, &parent_path).ok_or_else(no)?;
                let mut seen = 0;
                let pos = p
                    .children
                    .iter()
                    .position(|ch| {
                        let m = step_matches(ch, last, seen);
                        if !m && ch.id().is_none() && last.starts_with(&format!("{}[", ch.name)) {
                            seen += 1;
                        }
                        m
                    })
                    .ok_or_else(no)?;
                p.children.remove(pos);
            }
            Some("create") => {
                let p = resolve(&mut work, path).ok_or_else(no)?;
                let child = c.children.first().ok_or_else(no)?.clone();
                let pos =
                    c.attr("position").and_then(|v| v.parse().ok()).unwrap_or(p.children.len());
                p.children.insert(pos.min(p.children.len()), child);
            }
            Some("modify") => {
                let e = resolve(&mut work, path).ok_or_else(no)?;
                for a in
                    c.child("change-list").into_iter().flat_map(|l| l.children_named("change-attr"))
                {
                    let name = a.attr("name").unwrap_or("");
                    match a.attr("operation") {
                        Some("unset") => {
                            e.remove_attr(name);
                        }
                        _ => e.set_attr(name, a.attr("value").unwrap_or("")),
                    }
                }
            }
            _ => {}
        }
    }
    *doc = work;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_then_apply_gives_new() {
        let old = Element::parse(
            r#"<cib epoch="1" num_updates="0" admin_epoch="0"><configuration><resources>
            <primitive id="a" class="ocf" type="x"/><primitive id="b" class="lsb" type="y"/></resources></configuration></cib>"#,
        )
        .unwrap();
        let new = Element::parse(
            r#"<cib epoch="2" num_updates="0" admin_epoch="0"><configuration><resources>
            <primitive id="a" class="ocf" type="z"/><primitive id="c" class="lsb" type="y"/></resources></configuration></cib>"#,
        )
        .unwrap();
        let d = diff(&old, &new).unwrap();
        let ops: Vec<_> =
            d.children_named("change").map(|c| c.attr("operation").unwrap()).collect();
        assert_eq!(ops, ["delete", "modify", "modify", "create"]);
        let mut x = old.clone();
        apply(&mut x, &d).unwrap();
        assert_eq!(x, new);
        assert!(diff(&new, &new).is_none());
    }
}

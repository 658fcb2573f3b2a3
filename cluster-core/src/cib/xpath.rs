//! The XPath subset agents and admins pass to `cibadmin --xpath`: absolute location paths with
//! child (`/`) and descendant (`//`) steps, name tests (`name` or `*`), and predicates
//! `[@attr]`, `[@attr='value']` (either quote), `[N]` (position among the step's matches under
//! one parent), combined with `and`.
//!
//! Matches are index paths from the root (document order, no duplicates), so callers can both
//! read and remove them without parent pointers.

use super::xml::Element;

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported or malformed XPath expression \"{expr}\": {why}")]
pub struct XPathError {
    /// The expression.
    pub expr: String,
    /// What is wrong.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pred {
    Has(String),
    Eq(String, String),
    Pos(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Step {
    descendant: bool,
    name: String,
    preds: Vec<Pred>,
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XPath {
    steps: Vec<Step>,
}

fn parse_pred(expr: &str, body: &str) -> Result<Vec<Pred>, XPathError> {
    let err = |why: &str| XPathError { expr: expr.into(), why: why.into() };
    let mut out = Vec::new();
    for part in body.split(" and ") {
        let part = part.trim();
        if let Ok(n) = part.parse::<usize>() {
            out.push(Pred::Pos(n));
            continue;
        }
        let Some(rest) = part.strip_prefix('@') else {
            return Err(err("predicate must test an attribute"));
        };
        match rest.split_once('=') {
            None => out.push(Pred::Has(rest.trim().into())),
            Some((a, v)) => {
                let v = v.trim();
                let unq = v
                    .strip_prefix('\'')
                    .and_then(|x| x.strip_suffix('\''))
                    .or_else(|| v.strip_prefix('"').and_then(|x| x.strip_suffix('"')))
                    .ok_or_else(|| err("value must be quoted"))?;
                out.push(Pred::Eq(a.trim().into(), unq.into()));
            }
        }
    }
    Ok(out)
}

impl XPath {
    /// Compiles `expr`.
    ///
    /// # Errors
    /// Relative paths, axes, functions or other syntax outside the subset.
    pub fn parse(expr: &str) -> Result<XPath, XPathError> {
        let err = |why: &str| XPathError { expr: expr.into(), why: why.into() };
        if !expr.starts_with('/') {
            return Err(err("path must start with /"));
        }
        let b = expr.as_bytes();
        let mut i = 0;
        let mut steps = Vec::new();
        while i < b.len() {
            if b[i] != b'/' {
                return Err(err("expected /"));
            }
            let descendant = b.get(i + 1) == Some(&b'/');
            i += if descendant { 2 } else { 1 };
            let start = i;
            while i < b.len() && b[i] != b'/' && b[i] != b'[' {
                i += 1;
            }
            let name = &expr[start..i];
            if name.is_empty() || name.contains(':') || name.contains('(') {
                return Err(err("unsupported step"));
            }
            let mut preds = Vec::new();
            while i < b.len() && b[i] == b'[' {
                let mut depth = 0;
                let mut quote: Option<u8> = None;
                let pstart = i + 1;
                loop {
                    let c = *b.get(i).ok_or_else(|| err("unclosed ["))?;
                    match (quote, c) {
                        (Some(q), c) if c == q => quote = None,
                        (Some(_), _) => {}
                        (None, b'\'' | b'"') => quote = Some(c),
                        (None, b'[') => depth += 1,
                        (None, b']') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                preds.extend(parse_pred(expr, &expr[pstart..i])?);
                i += 1;
            }
            steps.push(Step { descendant, name: name.into(), preds });
        }
        Ok(XPath { steps })
    }

    /// Index paths (from `root`) of the matching elements, in document order.
    pub fn select(&self, root: &Element) -> Vec<Vec<usize>> {
        // `None` stands for the document node above the root element.
        let mut ctx: Vec<Option<Vec<usize>>> = vec![None];
        for step in &self.steps {
            let mut next: Vec<Vec<usize>> = Vec::new();
            for c in &ctx {
                let mut cands: Vec<Vec<usize>> = Vec::new();
                match c {
                    None => {
                        cands.push(Vec::new());
                        if step.descendant {
                            descendants(root, &mut Vec::new(), &mut cands);
                        }
                    }
                    Some(p) => {
                        let e = at(root, p);
                        if step.descendant {
                            descendants(e, &mut p.clone(), &mut cands);
                        } else {
                            cands.extend(
                                (0..e.children.len()).map(|i| [p.as_slice(), &[i]].concat()),
                            );
                        }
                    }
                }
                let mut pos = 0;
                for cand in cands {
                    let e = at(root, &cand);
                    if step.name != "*" && e.name != step.name {
                        continue;
                    }
                    let attrs_ok = step.preds.iter().all(|p| match p {
                        Pred::Has(a) => e.attr(a).is_some(),
                        Pred::Eq(a, v) => e.attr(a) == Some(v.as_str()),
                        Pred::Pos(_) => true,
                    });
                    if !attrs_ok {
                        continue;
                    }
                    pos += 1;
                    if step.preds.iter().all(|p| !matches!(p, Pred::Pos(n) if *n != pos)) {
                        next.push(cand);
                    }
                }
            }
            next.sort();
            next.dedup();
            ctx = next.into_iter().map(Some).collect();
        }
        ctx.into_iter().flatten().collect()
    }
}

fn descendants(e: &Element, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    for (i, c) in e.children.iter().enumerate() {
        path.push(i);
        out.push(path.clone());
        descendants(c, path, out);
        path.pop();
    }
}

/// The element at index path `p` under `root`.
pub fn at<'a>(root: &'a Element, p: &[usize]) -> &'a Element {
    p.iter().fold(root, |e, &i| &e.children[i])
}

/// The `/cib/configuration/...[@id='x']` path of the element at `p` (cibadmin `--node-path`).
pub fn node_path(root: &Element, p: &[usize]) -> String {
    let mut out = format!("/{}", root.name);
    let mut e = root;
    for &i in p {
        e = &e.children[i];
        out.push('/');
        out.push_str(&e.name);
        if let Some(id) = e.id() {
            out.push_str(&format!("[@id='{id}']"));
        }
    }
    out
}

/// Removes the elements at the given paths (deepest and last first, so indices stay valid).
pub fn remove(root: &mut Element, paths: &[Vec<usize>]) {
    let mut ps: Vec<&Vec<usize>> = paths.iter().filter(|p| !p.is_empty()).collect();
    ps.sort();
    for p in ps.into_iter().rev() {
        let (last, parent) = p.split_last().expect("non-empty");
        let mut e = &mut *root;
        for &i in parent {
            e = &mut e.children[i];
        }
        if *last < e.children.len() {
            e.children.remove(*last);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset() {
        let doc = Element::parse(
            r#"<cib><status><node_state id="1" crmd="online"><t><nvpair id="a" name="x" value="1"/></t></node_state>
            <node_state id="2" crmd="offline"><t><nvpair id="b" name="x" value="2"/></t></node_state></status></cib>"#,
        )
        .unwrap();
        let ids = |x: &str| -> Vec<String> {
            XPath::parse(x)
                .unwrap()
                .select(&doc)
                .iter()
                .map(|p| at(&doc, p).id().unwrap_or("").to_string())
                .collect()
        };
        assert_eq!(ids("//node_state[@crmd='online']//nvpair[@name='x']"), ["a"]);
        assert_eq!(ids("//nvpair[@name=\"x\"]"), ["a", "b"]);
        assert_eq!(ids("/cib/status/node_state[2]"), ["2"]);
        assert_eq!(ids("/cib/status/*[@id and @crmd='offline']"), ["2"]);
        assert!(ids("//nvpair[@name='y']").is_empty());
        assert!(XPath::parse("nvpair").is_err());
        assert!(XPath::parse("//a[contains(@x,'y')]").is_err());
        let p = XPath::parse("//nvpair").unwrap().select(&doc);
        assert_eq!(node_path(&doc, &p[1]), "/cib/status/node_state[@id='2']/t/nvpair[@id='b']");
        let mut d = doc.clone();
        remove(&mut d, &p);
        assert!(XPath::parse("//nvpair").unwrap().select(&d).is_empty());
    }
}

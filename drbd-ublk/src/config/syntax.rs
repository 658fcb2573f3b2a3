//! Lexer and generic statement tree for drbd.conf(5).
//!
//! The file is first cut into tokens (words, quoted strings, `{`, `}`, `;`), each carrying its
//! line number, and then into a tree of [`Stmt`]s: a keyword, its arguments and optionally a
//! `{ ... }` block of nested statements. `#` starts a comment to the end of the line (outside
//! quotes). Meaning is given to the tree by the semantic pass in the parent module, so that
//! every error there can still name file, line and token.

use std::path::{Path, PathBuf};

use super::ConfigError;

/// Maximum nesting depth of `{ }` blocks accepted (drbd.conf needs at most 4).
const MAX_DEPTH: usize = 16;

/// One lexical token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    /// An unquoted word.
    Word(String),
    /// A quoted string (quotes removed, escapes resolved).
    Str(String),
    /// `{`
    Open,
    /// `}`
    Close,
    /// `;`
    Semi,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Word(w) => w.clone(),
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Open => "{".into(),
            Tok::Close => "}".into(),
            Tok::Semi => ";".into(),
        }
    }
}

/// A word or string argument with its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Arg {
    /// The text (quotes removed).
    pub text: String,
    /// True when it was written in quotes.
    pub quoted: bool,
    /// Line where it appeared.
    pub line: u32,
}

/// A statement: `keyword args... ;` or `keyword args... { block }`.
#[derive(Debug, Clone)]
pub(crate) struct Stmt {
    /// The first word.
    pub keyword: String,
    /// Following words/strings.
    pub args: Vec<Arg>,
    /// The nested block, if the statement had one.
    pub block: Option<Vec<Stmt>>,
    /// File the statement comes from.
    pub file: PathBuf,
    /// Line of the keyword.
    pub line: u32,
}

fn lex(file: &Path, text: &str) -> Result<Vec<(Tok, u32)>, ConfigError> {
    let mut out = Vec::new();
    let mut line: u32 = 1;
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while let Some(&c) = chars.peek() {
                    if c == '\n' {
                        break;
                    }
                    chars.next();
                }
            }
            '{' | '}' | ';' => {
                chars.next();
                let t = match c {
                    '{' => Tok::Open,
                    '}' => Tok::Close,
                    _ => Tok::Semi,
                };
                out.push((t, line));
            }
            '"' => {
                chars.next();
                let start = line;
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => {
                            return Err(ConfigError::syntax(file, start, "unterminated string"))
                        }
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('n') => s.push('\n'),
                            Some(c) => {
                                if c == '\n' {
                                    line += 1;
                                }
                                s.push(c)
                            }
                            None => {
                                return Err(ConfigError::syntax(file, start, "unterminated string"))
                            }
                        },
                        Some('\n') => {
                            line += 1;
                            s.push('\n');
                        }
                        Some(c) => s.push(c),
                    }
                }
                out.push((Tok::Str(s), start));
            }
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '{' | '}' | ';' | '"' | '#') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push((Tok::Word(w), line));
            }
        }
    }
    Ok(out)
}

/// Lex and parse one file's text into its top-level statements.
pub(crate) fn parse_text(file: &Path, text: &str) -> Result<Vec<Stmt>, ConfigError> {
    let toks = lex(file, text)?;
    let mut pos = 0;
    let stmts = parse_block(file, &toks, &mut pos, 0)?;
    if let Some((t, line)) = toks.get(pos) {
        return Err(ConfigError::syntax(
            file,
            *line,
            &format!("unexpected '{}' at top level", t.describe()),
        ));
    }
    Ok(stmts)
}

fn parse_block(
    file: &Path,
    toks: &[(Tok, u32)],
    pos: &mut usize,
    depth: usize,
) -> Result<Vec<Stmt>, ConfigError> {
    let mut out = Vec::new();
    while let Some((tok, line)) = toks.get(*pos) {
        let keyword = match tok {
            Tok::Close if depth > 0 => return Ok(out),
            Tok::Word(w) => w.clone(),
            other => {
                return Err(ConfigError::syntax(
                    file,
                    *line,
                    &format!("expected a keyword, found '{}'", other.describe()),
                ))
            }
        };
        let kw_line = *line;
        *pos += 1;
        let mut args = Vec::new();
        loop {
            let Some((tok, line)) = toks.get(*pos) else {
                return Err(ConfigError::syntax(
                    file,
                    kw_line,
                    &format!("'{keyword}' is missing its terminating ';' or block"),
                ));
            };
            *pos += 1;
            match tok {
                Tok::Word(w) => args.push(Arg { text: w.clone(), quoted: false, line: *line }),
                Tok::Str(s) => args.push(Arg { text: s.clone(), quoted: true, line: *line }),
                Tok::Semi => {
                    out.push(Stmt {
                        keyword,
                        args,
                        block: None,
                        file: file.to_path_buf(),
                        line: kw_line,
                    });
                    break;
                }
                Tok::Open => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(ConfigError::syntax(file, *line, "sections nested too deeply"));
                    }
                    let block = parse_block(file, toks, pos, depth + 1)?;
                    match toks.get(*pos) {
                        Some((Tok::Close, _)) => *pos += 1,
                        _ => {
                            return Err(ConfigError::syntax(
                                file,
                                kw_line,
                                &format!("section '{keyword}' is not closed with '}}'"),
                            ))
                        }
                    }
                    // An optional ';' after a closing brace is tolerated.
                    if let Some((Tok::Semi, _)) = toks.get(*pos) {
                        *pos += 1;
                    }
                    out.push(Stmt {
                        keyword,
                        args,
                        block: Some(block),
                        file: file.to_path_buf(),
                        line: kw_line,
                    });
                    break;
                }
                Tok::Close => {
                    return Err(ConfigError::syntax(
                        file,
                        kw_line,
                        &format!("'{keyword}' is missing its terminating ';' before '}}'"),
                    ))
                }
            }
        }
    }
    // At depth > 0 the caller reports the missing '}'.
    Ok(out)
}

/// Shell-style match of one path component: `*`, `?` and `[...]` (with `!`/`^` negation and
/// ranges). A leading `.` is only matched by a literal `.`.
pub(crate) fn glob_match(pat: &str, name: &str) -> bool {
    if name.starts_with('.') && !pat.starts_with('.') {
        return false;
    }
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_rec(&p, &n)
}

fn glob_rec(p: &[char], n: &[char]) -> bool {
    // Iterative with backtracking on the last '*'.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((ok, len)) = class_match(&p[pi..], n[ni]) {
                        if ok {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    } else if n[ni] == '[' {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
                c if c == n[ni] => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Match a `[...]` class at the start of `p`; returns (matched, pattern length) or None if the
/// class is not closed.
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(1), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if p[i] <= c && c <= p[i + 2] {
                matched = true;
            }
            i += 3;
        } else {
            if p[i] == c {
                matched = true;
            }
            i += 1;
        }
    }
    None
}

fn has_magic(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expand an include pattern relative to `base_dir` into sorted existing paths. A pattern
/// without wildcards must name an existing file; a pattern with wildcards may match nothing.
pub(crate) fn expand_glob(
    base_dir: &Path,
    pattern: &str,
) -> Result<Vec<PathBuf>, (bool, std::io::Error)> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        base_dir.join(pattern)
    };
    if !has_magic(pattern) {
        return match std::fs::metadata(&full) {
            Ok(_) => Ok(vec![full]),
            Err(e) => Err((false, e)),
        };
    }
    let mut current: Vec<PathBuf> = vec![PathBuf::new()];
    for comp in full.components() {
        let s = comp.as_os_str().to_string_lossy().to_string();
        let mut next = Vec::new();
        for prefix in &current {
            if !has_magic(&s) {
                next.push(prefix.join(comp.as_os_str()));
                continue;
            }
            let Ok(rd) = std::fs::read_dir(if prefix.as_os_str().is_empty() {
                Path::new(".")
            } else {
                prefix.as_path()
            }) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().to_string())
                .filter(|n| glob_match(&s, n))
                .collect();
            names.sort();
            next.extend(names.into_iter().map(|n| prefix.join(n)));
        }
        current = next;
    }
    current.retain(|p| p.is_file());
    current.sort();
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_basics() {
        assert!(glob_match("*.res", "r0.res"));
        assert!(!glob_match("*.res", "r0.res~"));
        assert!(!glob_match("*.res", ".hidden.res"));
        assert!(glob_match("r?.res", "r1.res"));
        assert!(glob_match("r[0-3].res", "r2.res"));
        assert!(!glob_match("r[!0-3].res", "r2.res"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn lexer_comments_strings_lines() {
        let t = parse_text(
            Path::new("/x"),
            "# c\nglobal { usage-count no; } # tail\nresource \"r 0\" {\n on a { disk \"/d\\\"x\"; }\n}\n",
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].line, 2);
        assert_eq!(t[1].args[0].text, "r 0");
        let on = &t[1].block.as_ref().unwrap()[0];
        assert_eq!(on.line, 4);
        assert_eq!(on.block.as_ref().unwrap()[0].args[0].text, "/d\"x");
    }

    #[test]
    fn syntax_errors_name_line() {
        let e = parse_text(Path::new("/f"), "global {\n usage-count no\n}\n").unwrap_err();
        assert_eq!(e.to_string(), "/f:2: 'usage-count' is missing its terminating ';' before '}'");
        let e = parse_text(Path::new("/f"), "global {\n").unwrap_err();
        assert!(e.to_string().contains("not closed"), "{e}");
        let e = parse_text(Path::new("/f"), "}\n").unwrap_err();
        assert!(e.to_string().starts_with("/f:1: expected a keyword, found '}'"), "{e}");
        let e = parse_text(Path::new("/f"), "a \"x\n").unwrap_err();
        assert!(e.to_string().contains("unterminated string"), "{e}");
    }
}

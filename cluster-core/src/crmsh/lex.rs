//! Splitting a crm command line into shell words.
//!
//! Words are separated by blanks; `"..."` and `'...'` group (the quotes are removed, so
//! `device="/dev/drbd0"` becomes the word `device=/dev/drbd0`); a backslash escapes the next
//! character; a backslash at the end of a line continues it on the next one (the caller joins
//! lines, see [`needs_continuation`]). Typographic quotes (`“…”`) count as double quotes.
//! A `#` at the start of a word outside quotes begins a comment, unless it starts an attribute
//! name such as `#uname` in a rule (a comment only counts as the first word of a line).

use super::CrmError;

/// True when `line` ends with an unescaped backslash, i.e. the command goes on on the next line.
pub fn needs_continuation(line: &str) -> bool {
    let t = line.trim_end();
    let n = t.chars().rev().take_while(|&c| c == '\\').count();
    n % 2 == 1
}

/// Splits `line` into words.
///
/// # Errors
/// [`CrmError::UnterminatedQuote`] when a quote is not closed.
pub fn tokenize(line: &str) -> Result<Vec<String>, CrmError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word && words.is_empty() => break,
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(n) => cur.push(n),
                }
            }
            '"' | '\'' | '“' | '”' => {
                in_word = true;
                let close: &[char] = match c {
                    '"' => &['"'],
                    '\'' => &['\''],
                    _ => &['”', '“', '"'],
                };
                let mut closed = false;
                while let Some(q) = chars.next() {
                    if close.contains(&q) {
                        closed = true;
                        break;
                    }
                    if q == '\\' && c == '"' {
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                        continue;
                    }
                    cur.push(q);
                }
                if !closed {
                    return Err(CrmError::UnterminatedQuote { line: line.to_string() });
                }
            }
            _ => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Quotes a value for display the way `crm configure show` does: values holding blanks, `/`,
/// quotes or nothing at all are put in double quotes.
pub fn quote_value(v: &str) -> String {
    let needs = v.is_empty()
        || v.chars().any(|c| c.is_whitespace() || matches!(c, '/' | '"' | '\'' | '\\'));
    if !needs {
        return v.to_string();
    }
    let mut out = String::from("\"");
    for c in v.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_pairs() {
        let w = tokenize(r#"primitive fs Filesystem params device="/dev/drbd/by-res/x" d='a b'"#)
            .unwrap();
        assert_eq!(
            w,
            ["primitive", "fs", "Filesystem", "params", "device=/dev/drbd/by-res/x", "d=a b"]
        );
        assert_eq!(tokenize("p x=“a b” y").unwrap(), ["p", "x=a b", "y"]);
        assert_eq!(tokenize(r#"a\ b "q\"x""#).unwrap(), ["a b", "q\"x"]);
        assert_eq!(tokenize("rule 100: #uname eq n1").unwrap()[2], "#uname");
        assert!(tokenize("# comment").unwrap().is_empty());
        assert!(matches!(tokenize("p x=\"open"), Err(CrmError::UnterminatedQuote { .. })));
    }

    #[test]
    fn continuation_and_quoting() {
        assert!(needs_continuation("primitive x Dummy \\"));
        assert!(!needs_continuation("a \\\\"));
        assert_eq!(quote_value("/srv"), "\"/srv\"");
        assert_eq!(quote_value("ext4"), "ext4");
        assert_eq!(quote_value(""), "\"\"");
    }
}

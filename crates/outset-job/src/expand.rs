//! Shell-style `$VAR` expansion, as Upstart applies it to `instance` names and to the values
//! of `stop on` matches: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`. An unset variable without a default is an error ("Unknown parameter").
//!
//! A default may itself hold expansions (`${A:-${B:-x}}`); the expander recurses into them, so
//! nesting is bounded by [`MAX_EXPAND_DEPTH`] (job files are checked at load with
//! [`check_depth`], and the expander refuses deeper input by itself too).

/// The deepest nesting of `${…}` accepted.
pub const MAX_EXPAND_DEPTH: usize = 32;

/// Expands `s` with `lookup`. Errors name the unknown variable or the bad syntax.
pub fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let chars: Vec<char> = s.chars().collect();
    let (out, _) = expand_until(&chars, 0, None, 0, lookup)?;
    Ok(out)
}

/// Refuses `${…}` nested deeper than [`MAX_EXPAND_DEPTH`], in one pass without recursion.
/// Only the nesting is judged: other syntax is reported when the text is expanded.
pub fn check_depth(s: &str) -> Result<(), ExpandError> {
    let mut depth = 0usize;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'$') => {
                chars.next();
            }
            '$' if chars.peek() == Some(&'{') => {
                chars.next();
                depth += 1;
                if depth > MAX_EXPAND_DEPTH {
                    return Err(ExpandError::TooDeep);
                }
            }
            '}' if depth > 0 => depth -= 1,
            _ => {}
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("Unknown parameter: {0}")]
    Unknown(String),
    #[error("bad parameter expansion in `{0}`")]
    Syntax(String),
    #[error("parameter expansions nested too deep (more than {MAX_EXPAND_DEPTH})")]
    TooDeep,
}

fn is_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Expands from `i` up to `stop` (the `}` that closes an enclosing `${…}`); returns the text
/// and the index after it. `depth` is how many `${…}` enclose `i`.
fn expand_until(
    c: &[char],
    mut i: usize,
    stop: Option<char>,
    depth: usize,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, usize), ExpandError> {
    if depth > MAX_EXPAND_DEPTH {
        return Err(ExpandError::TooDeep);
    }
    let mut out = String::new();
    let whole = || c.iter().collect::<String>();
    while i < c.len() {
        let ch = c[i];
        if Some(ch) == stop {
            return Ok((out, i + 1));
        }
        if ch == '\\' && i + 1 < c.len() && c[i + 1] == '$' {
            out.push('$');
            i += 2;
            continue;
        }
        if ch != '$' {
            out.push(ch);
            i += 1;
            continue;
        }
        // `$` at the end or before a non-name character is literal.
        match c.get(i + 1) {
            Some('{') => {
                let start = i + 2;
                let mut j = start;
                while j < c.len() && is_name(c[j]) {
                    j += 1;
                }
                let name: String = c[start..j].iter().collect();
                if name.is_empty() {
                    return Err(ExpandError::Syntax(whole()));
                }
                let value = lookup(&name);
                match c.get(j) {
                    Some('}') => {
                        out.push_str(&value.ok_or(ExpandError::Unknown(name))?);
                        i = j + 1;
                    }
                    Some(':') | Some('-') | Some('+') => {
                        let colon = c[j] == ':';
                        let op_at = if colon { j + 1 } else { j };
                        let op = match c.get(op_at) {
                            Some(&o @ ('-' | '+')) => o,
                            _ => return Err(ExpandError::Syntax(whole())),
                        };
                        let (word, next) =
                            expand_until(c, op_at + 1, Some('}'), depth + 1, lookup)?;
                        if next > c.len() || c.get(next - 1) != Some(&'}') {
                            return Err(ExpandError::Syntax(whole()));
                        }
                        // With `:`, an empty value counts as unset.
                        let set = match &value {
                            Some(v) => !(colon && v.is_empty()),
                            None => false,
                        };
                        match (op, set) {
                            ('-', true) => out.push_str(value.as_deref().unwrap_or("")),
                            ('-', false) | ('+', true) => out.push_str(&word),
                            _ => {}
                        }
                        i = next;
                    }
                    _ => return Err(ExpandError::Syntax(whole())),
                }
            }
            Some(&n) if n.is_ascii_alphabetic() || n == '_' => {
                let start = i + 1;
                let mut j = start;
                while j < c.len() && is_name(c[j]) {
                    j += 1;
                }
                let name: String = c[start..j].iter().collect();
                out.push_str(&lookup(&name).ok_or(ExpandError::Unknown(name))?);
                i = j;
            }
            _ => {
                out.push('$');
                i += 1;
            }
        }
    }
    if stop.is_some() {
        return Err(ExpandError::Syntax(whole()));
    }
    Ok((out, i))
}

/// Expands against `KEY=VALUE` pairs (the last one of a key wins).
pub fn expand_env(s: &str, env: &[(String, String)]) -> Result<String, ExpandError> {
    expand(s, &|name| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "1".into()),
            ("E".into(), "".into()),
            ("JOB".into(), "net".into()),
        ]
    }

    fn x(s: &str) -> Result<String, ExpandError> {
        expand_env(s, &env())
    }

    #[test]
    fn forms() {
        assert_eq!(x("plain").unwrap(), "plain");
        assert_eq!(x("$A-${A}").unwrap(), "1-1");
        assert_eq!(x("${B:-d}").unwrap(), "d");
        assert_eq!(x("${E:-d}").unwrap(), "d");
        assert_eq!(x("${E-d}").unwrap(), "");
        assert_eq!(x("${A:+y}").unwrap(), "y");
        assert_eq!(x("${E:+y}").unwrap(), "");
        assert_eq!(x("${E+y}").unwrap(), "y");
        assert_eq!(x("$JOB${I:+/}${I:-}").unwrap(), "net");
        assert_eq!(x("${B:-$A}").unwrap(), "1");
        assert_eq!(x("[!$A]").unwrap(), "[!1]");
        assert_eq!(x("cost $").unwrap(), "cost $");
        assert_eq!(x("\\$A").unwrap(), "$A");
    }

    #[test]
    fn errors() {
        assert_eq!(x("$NOPE"), Err(ExpandError::Unknown("NOPE".into())));
        assert_eq!(x("${NOPE}"), Err(ExpandError::Unknown("NOPE".into())));
        assert!(matches!(x("${A"), Err(ExpandError::Syntax(_))));
        assert!(matches!(x("${}"), Err(ExpandError::Syntax(_))));
        assert!(matches!(x("${A:-x"), Err(ExpandError::Syntax(_))));
        assert!(matches!(x("${A?x}"), Err(ExpandError::Syntax(_))));
    }

    fn nested(n: usize) -> String {
        format!("{}x{}", "${A:-".repeat(n), "}".repeat(n))
    }

    // Issue 10 item 10: a 100,000-deep `${A:-…}` overflowed the stack.
    #[test]
    fn issue10_item10_deep_nesting_is_refused_not_recursed() {
        assert_eq!(x(&nested(MAX_EXPAND_DEPTH)).unwrap(), "1");
        assert_eq!(check_depth(&nested(MAX_EXPAND_DEPTH)), Ok(()));
        assert_eq!(x(&nested(MAX_EXPAND_DEPTH + 1)), Err(ExpandError::TooDeep));
        assert_eq!(
            check_depth(&nested(MAX_EXPAND_DEPTH + 1)),
            Err(ExpandError::TooDeep)
        );
        let deep = nested(100_000);
        assert_eq!(x(&deep), Err(ExpandError::TooDeep));
        assert_eq!(check_depth(&deep), Err(ExpandError::TooDeep));
        // Siblings are not nesting.
        assert_eq!(check_depth(&"${A}".repeat(1000)), Ok(()));
        assert_eq!(check_depth(&"\\${".repeat(1000)), Ok(()));
    }
}

//! `fnmatch(3)` with no flags: the matching Upstart uses for event arguments.
//!
//! `*` and `?` match any characters (`/` and leading dots included), `[...]` is a class with
//! `!` or `^` negation and ranges, and a backslash makes the next character literal.

/// Whether `text` matches `pattern`.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

fn matches(p: &[char], t: &[char]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear in practice, never
    // exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match class(p, pi, t[ti]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // An unclosed `[` is a literal.
                None => (t[ti] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
            Some(&c) => (c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `p[start] == '['`: (matched, index after `]`),
/// or `None` when the class is not closed.
fn class(p: &[char], start: usize, c: char) -> Option<(bool, usize)> {
    let mut i = start + 1;
    let negate = matches!(p.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let mut lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if lo == '\\' {
            i += 1;
            lo = *p.get(i)?;
        }
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&h| h != ']') {
            let mut hi = *p.get(i + 2)?;
            let mut skip = 3;
            if hi == '\\' {
                hi = *p.get(i + 3)?;
                skip = 4;
            }
            if lo <= c && c <= hi {
                found = true;
            }
            i += skip;
        } else {
            if lo == c {
                found = true;
            }
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn globs_and_classes() {
        assert!(fnmatch("foo", "foo"));
        assert!(!fnmatch("foo", "fo"));
        assert!(fnmatch("*", ""));
        assert!(fnmatch("lo*", "lo0"));
        assert!(fnmatch("*-device-added", "net-device-added"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[2345]", "3"));
        assert!(!fnmatch("[2345]", "6"));
        assert!(fnmatch("[!06]", "2"));
        assert!(!fnmatch("[!06]", "0"));
        assert!(fnmatch("[^06]", "5"));
        assert!(fnmatch("[a-c]x", "bx"));
        assert!(fnmatch("[]]", "]"));
        assert!(fnmatch("[!]]", "a"));
        assert!(fnmatch("\\*", "*"));
        assert!(!fnmatch("\\*", "a"));
        assert!(fnmatch("[", "["));
        assert!(fnmatch("/12[9a][0-9a-f]/*", "/12a3/x/y"));
        assert!(fnmatch("~/.config/*.url", "~/.config/a/b.url"));
        assert!(fnmatch("a*b*c", "axxbyyc"));
        assert!(!fnmatch("a*b*c", "axxbyy"));
        assert!(fnmatch("", ""));
        assert!(!fnmatch("", "a"));
    }
}

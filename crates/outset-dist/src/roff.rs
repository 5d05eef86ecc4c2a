//! Just enough roff for the hand-made parts of the pages.

/// `text` as roff: backslashes and hyphens escaped, `code` in bold, and a line that would
/// start with a control character guarded.
pub fn text(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        let escaped = escape(part);
        if i % 2 == 1 {
            out.push_str(&format!("\\fB{escaped}\\fR"));
        } else {
            out.push_str(&escaped);
        }
    }
    out.lines()
        .map(|l| {
            if l.starts_with('.') || l.starts_with('\'') {
                format!("\\&{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Escapes roff's backslash and makes `-` a real minus (options stay searchable).
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\e").replace('-', "\\-")
}

/// A literal block (`.nf`/`.fi`), each line escaped.
pub fn literal(s: &str) -> String {
    let mut out = String::from(".PP\n.RS 4\n.nf\n");
    for line in s.lines() {
        let l = escape(line);
        if l.starts_with('.') || l.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str(".fi\n.RE\n");
    out
}

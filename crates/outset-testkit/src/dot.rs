//! A strict reader of the subset of Graphviz's DOT language that tests meet: one `digraph`
//! of node, edge and attribute statements (no subgraphs, ports or HTML labels). A text it
//! accepts is DOT by the grammar of <https://graphviz.org/doc/info/lang.html>; anything
//! outside the subset is an error, so the tests notice a writer that strays.

use std::collections::BTreeMap;

pub type Attrs = BTreeMap<String, String>;

/// What a DOT text holds: nodes with their attributes (declared or only used by an edge),
/// edges in order, and the graph's own attributes.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dot {
    pub name: Option<String>,
    pub graph_attrs: Attrs,
    /// Nodes declared by a node statement.
    pub nodes: BTreeMap<String, Attrs>,
    pub edges: Vec<(String, String, Attrs)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Id(String),
    Punct(&'static str),
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut line_start = true;
    while i < b.len() {
        let c = b[i];
        if c == '\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' && line_start {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        line_start = false;
        if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if c == '/' && b.get(i + 1) == Some(&'*') {
            let end = (i + 2..b.len().saturating_sub(1))
                .find(|&j| b[j] == '*' && b[j + 1] == '/')
                .ok_or("unterminated comment")?;
            i = end + 2;
            continue;
        }
        if c == '-' && (b.get(i + 1) == Some(&'>') || b.get(i + 1) == Some(&'-')) {
            out.push(Tok::Punct(if b[i + 1] == '>' { "->" } else { "--" }));
            i += 2;
            continue;
        }
        if let Some(p) = ["{", "}", "[", "]", ";", ",", "=", ":"]
            .into_iter()
            .find(|p| p.starts_with(c))
        {
            out.push(Tok::Punct(p));
            i += 1;
            continue;
        }
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err("unterminated quoted string".into()),
                    Some('"') => break,
                    Some('\\') if matches!(b.get(i + 1), Some('"') | Some('\\')) => {
                        s.push(b[i + 1]);
                        i += 2;
                    }
                    Some('\\') if b.get(i + 1) == Some(&'\n') => i += 2,
                    Some(&ch) => {
                        s.push(ch);
                        i += 1;
                    }
                }
            }
            i += 1;
            out.push(Tok::Id(s));
            continue;
        }
        if c == '<' {
            return Err("HTML strings are outside the subset".into());
        }
        if c.is_alphabetic() || c == '_' || (c as u32) >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_alphanumeric() || b[i] == '_' || (b[i] as u32) >= 0x80) {
                i += 1;
            }
            out.push(Tok::Id(b[start..i].iter().collect()));
            continue;
        }
        if c.is_ascii_digit()
            || c == '.'
            || (c == '-'
                && b.get(i + 1)
                    .is_some_and(|d| d.is_ascii_digit() || *d == '.'))
        {
            let start = i;
            i += 1;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == '.') {
                i += 1;
            }
            let num: String = b[start..i].iter().collect();
            if num.matches('.').count() > 1 || num == "." || num == "-." {
                return Err(format!("bad numeral {num}"));
            }
            out.push(Tok::Id(num));
            continue;
        }
        return Err(format!("unexpected character {c:?}"));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn punct(&mut self, p: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Punct(q)) if *q == p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, p: &str) -> Result<(), String> {
        if self.punct(p) {
            Ok(())
        } else {
            Err(format!(
                "expected {p} at token {}: {:?}",
                self.pos,
                self.peek()
            ))
        }
    }

    fn id(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Id(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            t => Err(format!("expected an ID at token {}: {t:?}", self.pos)),
        }
    }

    fn attr_lists(&mut self) -> Result<Attrs, String> {
        let mut attrs = Attrs::new();
        while self.punct("[") {
            while !self.punct("]") {
                let k = self.id()?;
                self.expect("=")?;
                let v = self.id()?;
                attrs.insert(k, v);
                let _ = self.punct(",") || self.punct(";");
            }
        }
        Ok(attrs)
    }
}

/// Parses `text` as one `digraph`.
pub fn parse(text: &str) -> Result<Dot, String> {
    let mut p = Parser {
        toks: lex(text)?,
        pos: 0,
    };
    let mut dot = Dot::default();
    let kw = |s: &str, want: &str| s.eq_ignore_ascii_case(want);
    let first = p.id()?;
    let first = if kw(&first, "strict") { p.id()? } else { first };
    if !kw(&first, "digraph") {
        return Err(format!("expected digraph, found {first}"));
    }
    if let Some(Tok::Id(_)) = p.peek() {
        dot.name = Some(p.id()?);
    }
    p.expect("{")?;
    loop {
        if p.punct("}") {
            break;
        }
        if p.punct(";") {
            continue;
        }
        let id = p.id()?;
        if kw(&id, "subgraph") {
            return Err("subgraphs are outside the subset".into());
        }
        if kw(&id, "graph") || kw(&id, "node") || kw(&id, "edge") {
            let attrs = p.attr_lists()?;
            if kw(&id, "graph") {
                dot.graph_attrs.extend(attrs);
            }
        } else if p.punct("=") {
            let v = p.id()?;
            dot.graph_attrs.insert(id, v);
        } else if p.peek() == Some(&Tok::Punct(":")) {
            return Err("ports are outside the subset".into());
        } else if p.peek() == Some(&Tok::Punct("--")) {
            return Err("-- in a digraph".into());
        } else if p.punct("->") {
            let mut chain = vec![id, p.id()?];
            while p.punct("->") {
                chain.push(p.id()?);
            }
            let attrs = p.attr_lists()?;
            for w in chain.windows(2) {
                dot.edges.push((w[0].clone(), w[1].clone(), attrs.clone()));
            }
        } else {
            let attrs = p.attr_lists()?;
            dot.nodes.entry(id).or_default().extend(attrs);
        }
        let _ = p.punct(";");
    }
    if p.pos != p.toks.len() {
        return Err(format!("text after the graph at token {}", p.pos));
    }
    Ok(dot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_subset() {
        let d = parse(
            "// c\ndigraph g {\n  rankdir=LR;\n  node [shape=box];\n  \"a b\" [label=\"say \\\"hi\\\"\", width=1.5];\n  x -> \"a b\" -> y [color=red];\n  /* c */ label=\"l\";\n}\n",
        )
        .unwrap();
        assert_eq!(d.name.as_deref(), Some("g"));
        assert_eq!(d.nodes["a b"]["label"], "say \"hi\"");
        assert_eq!(d.edges.len(), 2);
        assert_eq!(d.edges[1].0, "a b");
        assert_eq!(d.graph_attrs["rankdir"], "LR");
    }

    #[test]
    fn rejects_what_is_not_dot() {
        for bad in [
            "digraph { a -> }",
            "digraph { a [label=\"x] }",
            "digraph { a -- b }",
            "graph { a }",
            "digraph { a } b",
            "digraph { a [label=x }",
            "digraph { a; ",
            "digraph { a -> b [label=\"x\" color] }",
            "digraph { a.b.c }",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}

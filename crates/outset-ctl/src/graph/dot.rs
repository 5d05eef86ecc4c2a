//! The graph in Graphviz's DOT language, drawn as `initctl2dot` drew Upstart's: jobs as
//! boxes, events as ellipses (a job's own state events as hexagons), `start on` edges blue,
//! `stop on` red, `emits` green.

use std::fmt::Write as _;

use super::model::{EdgeKind, Graph, NodeKind, Origin};

/// `s` as a DOT quoted string: quotes and backslashes escaped, line breaks as `\n`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The colour of an edge of `kind`, shared with the SVG renderer.
pub fn edge_colour(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::StartOn => "#1f5fbf",
        EdgeKind::StopOn => "#c62828",
        EdgeKind::Emits => "#2e7d32",
        EdgeKind::State => "#808080",
    }
}

/// What an edge of `kind` means, for legends and tooltips.
pub fn edge_meaning(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::StartOn => "start on",
        EdgeKind::StopOn => "stop on",
        EdgeKind::Emits => "emits",
        EdgeKind::State => "job event",
    }
}

/// The fill colour of a node, shared with the SVG renderer.
pub fn node_fill(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Job { .. } => "#dcdcdc",
        NodeKind::Event {
            origin: Origin::Daemon,
            ..
        } => "#cfe3f7",
        NodeKind::Event {
            origin: Origin::State,
            ..
        } => "#f3e9f3",
        NodeKind::Event { .. } => "#d8bfd8",
    }
}

/// The graph as a DOT `digraph`.
pub fn write(g: &Graph) -> String {
    let mut out = String::from("digraph outset {\n");
    out.push_str("  rankdir=LR;\n");
    out.push_str("  node [fontname=\"monospace\", fontsize=11, style=filled];\n");
    out.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
    for n in &g.nodes {
        let fill = node_fill(&n.kind);
        let (shape, style) = match n.kind {
            NodeKind::Job { defined: true } => ("box", "filled"),
            NodeKind::Job { defined: false } => ("box", "filled,dashed"),
            NodeKind::Event { glob: true, .. } => ("ellipse", "filled,dotted"),
            NodeKind::Event {
                origin: Origin::Unknown,
                ..
            } => ("ellipse", "filled,dashed"),
            NodeKind::Event {
                origin: Origin::State,
                ..
            } => ("hexagon", "filled"),
            NodeKind::Event { .. } => ("ellipse", "filled"),
        };
        let _ = writeln!(
            out,
            "  {} [label={}, shape={shape}, style={}, fillcolor={}];",
            quote(&n.id),
            quote(&n.label),
            quote(style),
            quote(fill)
        );
    }
    for e in &g.edges {
        let mut attrs = format!(
            "color={}, tooltip={}",
            quote(edge_colour(e.kind)),
            quote(edge_meaning(e.kind))
        );
        if !e.label.is_empty() {
            let _ = write!(attrs, ", label={}", quote(&e.label));
        }
        if e.kind == EdgeKind::State {
            attrs.push_str(", style=dashed");
        }
        let _ = writeln!(
            out,
            "  {} -> {} [{attrs}];",
            quote(&g.nodes[e.from].id),
            quote(&g.nodes[e.to].id)
        );
    }
    // The legend, as initctl2dot's graph label.
    out.push_str(
        "  fontname=\"monospace\";\n  fontsize=10;\n  label=\"boxes: jobs (dashed: no job file); hexagons: job events\\n\
         ellipses: events (blue: the daemon's; dashed: nothing emits it; dotted: an emits pattern)\\n\
         edges: blue start on, red stop on, green emits, grey dashed a job's own event\";\n",
    );
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_item3_quote_escapes() {
        assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
        assert_eq!(quote("started db"), "\"started db\"");
    }

    /// Issue 18 item 3: every node and edge of the model is in the DOT text, with the shape
    /// and colour of its kind.
    #[test]
    fn issue18_item3_dot_names_nodes_and_edges() {
        let jobs = [
            outset_job::parse_job("db", "emits db-up\nexec /bin/db\n").unwrap(),
            outset_job::parse_job(
                "web",
                "start on started db and db-up\nstop on runlevel [!2345]\nexec /bin/w\n",
            )
            .unwrap(),
        ];
        let text = write(&super::super::model::build(&jobs));
        assert!(text.starts_with("digraph outset {\n"), "{text}");
        assert!(text.ends_with("}\n"));
        for line in [
            "\"job:db\" [label=\"db\", shape=box",
            "\"event:started db\" [label=\"started db\", shape=hexagon",
            "\"job:db\" -> \"event:started db\" [color=\"#808080\"",
            "\"event:db-up\" -> \"job:web\" [color=\"#1f5fbf\"",
            "\"event:runlevel\" -> \"job:web\" [color=\"#c62828\", tooltip=\"stop on\", label=\"[!2345]\"]",
            "\"job:db\" -> \"event:db-up\" [color=\"#2e7d32\"",
        ] {
            assert!(text.contains(line), "no {line} in\n{text}");
        }
    }
}

//! outset's own SVG rendering of the graph, on the layered layout of [`super::layout`]:
//! jobs as boxes, job events as pointed boxes, other events as ellipses, edges as coloured
//! polylines with arrowheads (the colours of the DOT output), a legend above.
//!
//! Text is monospace so its width is known without fonts: each node is sized to its label,
//! and the layout keeps nodes apart, so labels never overlap.

use std::fmt::Write as _;

use super::dot::{edge_colour, edge_meaning, node_fill};
use super::layout::layout;
use super::model::{EdgeKind, Graph, NodeKind, Origin};

/// The first line after the XML declaration, saying who drew the picture.
pub const RENDERED_BY: &str = "<!-- rendered by outset -->";

const FONT_SIZE: f64 = 12.0;
/// A monospace advance is 0.6em (DejaVu Sans Mono, Liberation Mono, Courier); a little more
/// so that a wider fallback font still fits.
const CHAR_WIDTH: f64 = FONT_SIZE * 0.62;
const MARGIN: f64 = 20.0;
const LEGEND_HEIGHT: f64 = 64.0;
const BOX_HEIGHT: f64 = 26.0;
const ELLIPSE_HEIGHT: f64 = 30.0;
/// How far a job event's ends point out beyond its text box.
const POINT: f64 = 12.0;

/// `s` with XML's special characters escaped, for text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && c != '\t' && c != '\n' => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn text_width(s: &str) -> f64 {
    s.chars().count() as f64 * CHAR_WIDTH
}

/// A node's drawn size, from its label.
pub fn node_size(kind: &NodeKind, label: &str) -> (f64, f64) {
    let tw = text_width(label);
    match kind {
        NodeKind::Job { .. } => (tw + 20.0, BOX_HEIGHT),
        NodeKind::Event {
            origin: Origin::State,
            ..
        } => (tw + 2.0 * POINT + 12.0, BOX_HEIGHT),
        // The text's box fits inside: (0.8)² + (6/15)² < 1.
        NodeKind::Event { .. } => (tw * 1.25 + 20.0, ELLIPSE_HEIGHT),
    }
}

fn marker_id(kind: EdgeKind) -> &'static str {
    match kind {
        EdgeKind::StartOn => "arrow-start-on",
        EdgeKind::StopOn => "arrow-stop-on",
        EdgeKind::Emits => "arrow-emits",
        EdgeKind::State => "arrow-state",
    }
}

const KINDS: [EdgeKind; 4] = [
    EdgeKind::StartOn,
    EdgeKind::StopOn,
    EdgeKind::Emits,
    EdgeKind::State,
];

/// The dash pattern of a node's outline, if any.
fn outline_dash(kind: &NodeKind) -> Option<&'static str> {
    match kind {
        NodeKind::Job { defined: false }
        | NodeKind::Event {
            origin: Origin::Unknown,
            ..
        } => Some("5,3"),
        NodeKind::Event { glob: true, .. } => Some("2,2"),
        _ => None,
    }
}

/// Draws one node's shape centred on (x, y) with size (w, h).
fn shape(out: &mut String, kind: &NodeKind, (x, y): (f64, f64), (w, h): (f64, f64)) {
    let fill = node_fill(kind);
    let dash = outline_dash(kind)
        .map(|d| format!(" stroke-dasharray=\"{d}\""))
        .unwrap_or_default();
    let stroke = format!("fill=\"{fill}\" stroke=\"#333333\" stroke-width=\"1\"{dash}");
    match kind {
        NodeKind::Job { .. } => {
            let _ = writeln!(
                out,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" rx=\"3\" {stroke}/>",
                x - w / 2.0,
                y - h / 2.0
            );
        }
        NodeKind::Event {
            origin: Origin::State,
            ..
        } => {
            let (l, r, t, b) = (x - w / 2.0, x + w / 2.0, y - h / 2.0, y + h / 2.0);
            let _ = writeln!(
                out,
                "<polygon points=\"{l:.1},{y:.1} {:.1},{t:.1} {:.1},{t:.1} {r:.1},{y:.1} {:.1},{b:.1} {:.1},{b:.1}\" {stroke}/>",
                l + POINT,
                r - POINT,
                r - POINT,
                l + POINT
            );
        }
        NodeKind::Event { .. } => {
            let _ = writeln!(
                out,
                "<ellipse cx=\"{x:.1}\" cy=\"{y:.1}\" rx=\"{:.1}\" ry=\"{:.1}\" {stroke}/>",
                w / 2.0,
                h / 2.0
            );
        }
    }
}

fn label(out: &mut String, (x, y): (f64, f64), text: &str) {
    let _ = writeln!(
        out,
        "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        y + FONT_SIZE * 0.35,
        escape(text)
    );
}

/// The legend: one sample of each node and edge kind, in a row above the graph.
fn legend(out: &mut String) -> f64 {
    let y = MARGIN + 14.0;
    let mut x = MARGIN;
    out.push_str("<g class=\"legend\">\n");
    let samples = [
        (NodeKind::Job { defined: true }, "job"),
        (NodeKind::Job { defined: false }, "no job file"),
        (
            NodeKind::Event {
                origin: Origin::State,
                glob: false,
            },
            "job event",
        ),
        (
            NodeKind::Event {
                origin: Origin::Daemon,
                glob: false,
            },
            "daemon's event",
        ),
        (
            NodeKind::Event {
                origin: Origin::Jobs,
                glob: false,
            },
            "event",
        ),
        (
            NodeKind::Event {
                origin: Origin::Unknown,
                glob: false,
            },
            "nothing emits it",
        ),
    ];
    for (kind, text) in samples {
        let size = node_size(&kind, text);
        shape(out, &kind, (x + size.0 / 2.0, y), size);
        label(out, (x + size.0 / 2.0, y), text);
        x += size.0 + 12.0;
    }
    let width = x;
    let (mut x, y) = (MARGIN, y + 32.0);
    for kind in KINDS {
        let dash = if kind == EdgeKind::State {
            " stroke-dasharray=\"4,3\""
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<line x1=\"{x:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"{}\" stroke-width=\"1.3\"{dash} marker-end=\"url(#{})\"/>",
            x + 36.0,
            edge_colour(kind),
            marker_id(kind)
        );
        let text = edge_meaning(kind);
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x + 44.0,
            y + FONT_SIZE * 0.35,
            escape(text)
        );
        x += 44.0 + text_width(text) + 24.0;
    }
    out.push_str("</g>\n");
    width.max(x)
}

/// Half a shape's width at `dy` from its centre line: where an edge meets its outline.
fn half_width(kind: &NodeKind, (w, h): (f64, f64), dy: f64) -> f64 {
    let t = (dy.abs() / (h / 2.0)).min(1.0);
    match kind {
        NodeKind::Job { .. } => w / 2.0,
        NodeKind::Event {
            origin: Origin::State,
            ..
        } => w / 2.0 - POINT * t,
        NodeKind::Event { .. } => w / 2.0 * (1.0 - t * t).sqrt(),
    }
}

/// Edges meeting a node on one side are spread along it, in the order of where they come
/// from, so their arrowheads do not pile up on one point.
fn spread_ends(g: &Graph, sizes: &[(f64, f64)], l: &mut super::layout::Layout) {
    // Per node and side (right or not): (edge, whether its first point, the y of the next
    // point along).
    type End = (usize, bool, f64);
    let mut ends: std::collections::BTreeMap<(usize, bool), Vec<End>> = Default::default();
    for (i, e) in g.edges.iter().enumerate() {
        let p = &l.paths[i];
        if e.from == e.to || p.len() < 2 {
            continue;
        }
        for (node, first) in [(e.from, true), (e.to, false)] {
            let (end, next) = if first {
                (p[0], p[1])
            } else {
                (p[p.len() - 1], p[p.len() - 2])
            };
            let right = end.0 > l.centres[node].0;
            ends.entry((node, right))
                .or_default()
                .push((i, first, next.1));
        }
    }
    for ((node, right), mut list) in ends {
        if list.len() < 2 {
            continue;
        }
        list.sort_by(|a, b| a.2.total_cmp(&b.2));
        let (w, h) = sizes[node];
        let step = (h * 0.6 / (list.len() - 1) as f64).min(6.0);
        let mid = (list.len() - 1) as f64 / 2.0;
        let (cx, cy) = l.centres[node];
        for (k, (e, first, _)) in list.into_iter().enumerate() {
            let dy = (k as f64 - mid) * step;
            let hw = half_width(&g.nodes[node].kind, (w, h), dy);
            let pt = (if right { cx + hw } else { cx - hw }, cy + dy);
            let path = &mut l.paths[e];
            let at = if first { 0 } else { path.len() - 1 };
            path[at] = pt;
        }
    }
}

/// Each edge's ends run straight out to their node's column side before the edge bends
/// (see [`super::layout::Layout::columns`]).
fn stubs(g: &Graph, l: &mut super::layout::Layout) {
    for (i, e) in g.edges.iter().enumerate() {
        if e.from == e.to || l.paths[i].len() < 2 {
            continue;
        }
        for (node, first) in [(e.from, true), (e.to, false)] {
            let path = &mut l.paths[i];
            let end = if first { path[0] } else { path[path.len() - 1] };
            let (left, right) = l.columns[node];
            let side = if end.0 > l.centres[node].0 {
                right
            } else {
                left
            };
            if (side - end.0).abs() < 0.5 {
                continue;
            }
            if first {
                path.insert(1, (side, end.1));
            } else {
                path.insert(path.len() - 1, (side, end.1));
            }
        }
    }
}

/// The graph as an SVG document, laid out and drawn by outset.
pub fn write(g: &Graph) -> String {
    let sizes: Vec<(f64, f64)> = g
        .nodes
        .iter()
        .map(|n| node_size(&n.kind, &n.label))
        .collect();
    let edges: Vec<(usize, usize)> = g.edges.iter().map(|e| (e.from, e.to)).collect();
    let mut l = layout(&sizes, &edges);
    spread_ends(g, &sizes, &mut l);
    stubs(g, &mut l);
    let (ox, oy) = (MARGIN, MARGIN + LEGEND_HEIGHT);

    let mut body = String::new();
    let legend_width = legend(&mut body);
    let width = (l.width + 2.0 * MARGIN).max(legend_width + MARGIN).ceil();
    let height = (l.height + oy + MARGIN).ceil();

    body.push_str("<g class=\"edges\" fill=\"none\" stroke-width=\"1.3\">\n");
    for (e, path) in g.edges.iter().zip(&l.paths) {
        let points: Vec<String> = path
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", x + ox, y + oy))
            .collect();
        let dash = if e.kind == EdgeKind::State {
            " stroke-dasharray=\"4,3\""
        } else {
            ""
        };
        let args = if e.label.is_empty() {
            String::new()
        } else {
            format!(" {}", e.label)
        };
        let _ = writeln!(
            body,
            "<polyline points=\"{}\" stroke=\"{}\"{dash} marker-end=\"url(#{})\"><title>{} \u{2192} {}: {}{}</title></polyline>",
            points.join(" "),
            edge_colour(e.kind),
            marker_id(e.kind),
            escape(&g.nodes[e.from].label),
            escape(&g.nodes[e.to].label),
            edge_meaning(e.kind),
            escape(&args)
        );
    }
    body.push_str("</g>\n<g class=\"nodes\">\n");
    for (i, n) in g.nodes.iter().enumerate() {
        let c = (l.centres[i].0 + ox, l.centres[i].1 + oy);
        let _ = writeln!(body, "<g><title>{}</title>", escape(&n.id));
        shape(&mut body, &n.kind, c, sizes[i]);
        label(&mut body, c, &n.label);
        body.push_str("</g>\n");
    }
    body.push_str("</g>\n");

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(RENDERED_BY);
    out.push('\n');
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"DejaVu Sans Mono, Liberation Mono, monospace\" font-size=\"{FONT_SIZE}\">"
    );
    out.push_str("<defs>\n");
    for kind in KINDS {
        let _ = writeln!(
            out,
            "<marker id=\"{}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            marker_id(kind),
            edge_colour(kind)
        );
    }
    out.push_str("</defs>\n");
    let _ = writeln!(
        out,
        "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>"
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue18_item3_escape() {
        assert_eq!(
            escape("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;?"
        );
    }

    /// Issue 18 item 3: the SVG names every node, says who rendered it, draws one polyline
    /// per edge with an arrowhead, and escapes text.
    #[test]
    fn issue18_item3_svg_nodes_edges_and_text() {
        let jobs = [
            outset_job::parse_job("a&b", "emits x<y\nexec /bin/a\n").unwrap(),
            outset_job::parse_job("web", "start on started a&b or x<y\nexec /bin/w\n").unwrap(),
        ];
        let g = super::super::model::build(&jobs);
        let svg = write(&g);
        assert!(svg.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- rendered by outset -->\n<svg "
        ));
        assert!(svg.ends_with("</svg>\n"));
        for text in [
            ">a&amp;b</text>",
            ">x&lt;y</text>",
            ">web</text>",
            ">started a&amp;b</text>",
        ] {
            assert!(svg.contains(text), "no {text}");
        }
        assert_eq!(svg.matches("<polyline ").count(), g.edges.len());
        assert_eq!(svg.matches("marker-end=").count(), g.edges.len() + 4);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    /// Labels fit their shapes: each node is at least as wide as its text.
    #[test]
    fn issue18_item3_nodes_fit_labels() {
        for kind in [
            NodeKind::Job { defined: true },
            NodeKind::Event {
                origin: Origin::State,
                glob: false,
            },
            NodeKind::Event {
                origin: Origin::Jobs,
                glob: false,
            },
        ] {
            let (w, _) = node_size(&kind, "a-rather-long-label");
            assert!(w > text_width("a-rather-long-label") + 10.0, "{kind:?}");
        }
    }
}

//! The page around each rendered body: sidebar navigation from SUMMARY.md, prev/next links,
//! one stylesheet. No JavaScript.

use crate::summary::{Entry, Summary};

pub struct PageLayout<'a> {
    pub site_title: &'a str,
    pub page_title: &'a str,
    /// The page's own path in the site (`engine.html`, `guides/x.html`).
    pub html_path: &'a str,
    pub body: &'a str,
    /// (title, html path) of the chapters before and after, in SUMMARY order.
    pub prev: Option<(&'a str, &'a str)>,
    pub next: Option<(&'a str, &'a str)>,
}

/// `index.html` → "", `a/b.html` → "../": how a page reaches the site's root.
pub fn root_of(html_path: &str) -> String {
    "../".repeat(html_path.matches('/').count())
}

pub fn html_path(md_path: &str) -> String {
    match md_path.strip_suffix(".md") {
        Some(stem) => format!("{stem}.html"),
        None => md_path.to_string(),
    }
}

pub fn page(summary: &Summary, p: &PageLayout) -> String {
    let root = root_of(p.html_path);
    let nav = nav(summary, p.html_path, &root);
    let mut pager = String::new();
    if let Some((title, path)) = p.prev {
        pager.push_str(&format!(
            "<a class=\"prev\" rel=\"prev\" href=\"{root}{}\">← {}</a>",
            escape(path),
            escape(title)
        ));
    }
    if let Some((title, path)) = p.next {
        pager.push_str(&format!(
            "<a class=\"next\" rel=\"next\" href=\"{root}{}\">{} →</a>",
            escape(path),
            escape(title)
        ));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{page} — {site}</title>\n<link rel=\"stylesheet\" href=\"{root}style.css\">\n\
         </head>\n<body>\n<nav class=\"sidebar\" aria-label=\"Contents\">\n\
         <a class=\"site-title\" href=\"{root}index.html\">{site}</a>\n{nav}</nav>\n\
         <main>\n<article>\n{body}</article>\n<nav class=\"pager\">{pager}</nav>\n</main>\n\
         </body>\n</html>\n",
        page = escape(p.page_title),
        site = escape(p.site_title),
        body = p.body,
    )
}

/// A front page that sends the reader to `target` (no script: a meta refresh and a link).
pub fn redirect(target: &str) -> String {
    let t = escape(target);
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"refresh\" content=\"0; url={t}\">\n<title>Documentation</title>\n\
         </head>\n<body><p><a href=\"{t}\">{t}</a></p></body>\n</html>\n"
    )
}

/// Nested lists from the chapters' depths (a sub-list inside its parent's `<li>`); part
/// titles as headings between them.
fn nav(summary: &Summary, current: &str, root: &str) -> String {
    let mut out = String::new();
    let mut lists = Lists::default();
    for entry in &summary.entries {
        match entry {
            Entry::Chapter {
                title, path, depth, ..
            } => {
                lists.item_at(&mut out, depth + 1);
                let href = html_path(path);
                let class = if href == current {
                    " class=\"current\" aria-current=\"page\""
                } else {
                    ""
                };
                out.push_str(&format!(
                    "<li><a{class} href=\"{root}{}\">{}</a>",
                    escape(&href),
                    escape(title)
                ));
                lists.item_open = true;
            }
            Entry::Part { title } => {
                lists.close_all(&mut out);
                out.push_str(&format!("<h2 class=\"part\">{}</h2>\n", escape(title)));
            }
            Entry::Separator => {
                lists.close_all(&mut out);
                out.push_str("<hr>\n");
            }
        }
    }
    lists.close_all(&mut out);
    out
}

/// The open `<ul>`s of the navigation, and whether the innermost has an `<li>` open.
#[derive(Default)]
struct Lists {
    open: usize,
    item_open: bool,
}

impl Lists {
    /// Gets ready for an item `level` lists deep (1 = top level).
    fn item_at(&mut self, out: &mut String, level: usize) {
        if level > self.open {
            // Deeper: new lists inside the open item.
            while self.open < level {
                out.push_str(if self.open == 0 { "<ul>\n" } else { "\n<ul>\n" });
                self.open += 1;
            }
        } else {
            self.end_item(out);
            while self.open > level {
                out.push_str("</ul>");
                self.open -= 1;
                out.push_str("</li>\n");
            }
        }
        self.item_open = false;
    }

    fn end_item(&mut self, out: &mut String) {
        if self.item_open {
            out.push_str("</li>\n");
            self.item_open = false;
        }
    }

    fn close_all(&mut self, out: &mut String) {
        self.end_item(out);
        while self.open > 0 {
            out.push_str("</ul>\n");
            self.open -= 1;
            if self.open > 0 {
                out.push_str("</li>\n");
            }
        }
    }
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub const STYLE: &str = r#"/* outset documentation: one readable column, a contents sidebar, no scripts. */
:root {
  --text: #1d2127;
  --muted: #5b6472;
  --accent: #1f5fa8;
  --rule: #d9dee5;
  --code-bg: #f3f5f8;
  --side-bg: #f7f8fa;
}
* { box-sizing: border-box; }
html { font-size: 17px; }
body {
  margin: 0;
  color: var(--text);
  background: #fff;
  font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Noto Sans", sans-serif;
  line-height: 1.6;
}
.sidebar {
  position: fixed;
  top: 0; bottom: 0; left: 0;
  width: 17rem;
  overflow-y: auto;
  padding: 1.2rem 1rem 2rem 1.2rem;
  background: var(--side-bg);
  border-right: 1px solid var(--rule);
  font-size: 0.9rem;
  line-height: 1.4;
}
.sidebar .site-title {
  display: block;
  font-size: 1.3rem;
  font-weight: 700;
  color: var(--text);
  text-decoration: none;
  margin-bottom: 0.8rem;
}
.sidebar ul { list-style: none; margin: 0; padding-left: 0; }
.sidebar ul ul { padding-left: 1rem; }
.sidebar li { margin: 0.15rem 0; }
.sidebar a { color: var(--text); text-decoration: none; display: block; padding: 0.1rem 0.4rem; border-radius: 4px; }
.sidebar a:hover { background: #e8ecf1; }
.sidebar a.current { background: var(--accent); color: #fff; }
.sidebar h2.part {
  font-size: 0.75rem;
  text-transform: uppercase;
  letter-spacing: 0.06em;
  color: var(--muted);
  margin: 1.2rem 0 0.3rem 0.4rem;
}
.sidebar hr { border: 0; border-top: 1px solid var(--rule); margin: 1rem 0; }
main {
  margin-left: 17rem;
  padding: 1.5rem 2.5rem 3rem;
  max-width: calc(17rem + 52rem);
}
article { max-width: 50rem; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.8em 0 0.6em; }
h1 { font-size: 2rem; margin-top: 0.4em; }
h2 { font-size: 1.45rem; padding-bottom: 0.2em; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.15rem; }
a { color: var(--accent); }
code {
  font-family: "DejaVu Sans Mono", "Noto Sans Mono", ui-monospace, monospace;
  font-size: 0.88em;
  background: var(--code-bg);
  padding: 0.1em 0.3em;
  border-radius: 3px;
}
pre {
  background: var(--code-bg);
  border: 1px solid var(--rule);
  border-radius: 5px;
  padding: 0.8rem 1rem;
  overflow-x: auto;
  line-height: 1.45;
}
pre code { background: none; padding: 0; font-size: 0.85em; }
table { border-collapse: collapse; margin: 1rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--rule); padding: 0.35rem 0.7rem; vertical-align: top; text-align: left; }
th { background: var(--side-bg); }
blockquote { margin: 1rem 0; padding: 0.2rem 1rem; border-left: 4px solid var(--rule); color: var(--muted); }
img { max-width: 100%; }
.pager {
  display: flex;
  justify-content: space-between;
  max-width: 50rem;
  margin-top: 3rem;
  padding-top: 1rem;
  border-top: 1px solid var(--rule);
}
.pager a { text-decoration: none; }
.pager .next { margin-left: auto; }
@media (max-width: 50rem) {
  .sidebar { position: static; width: auto; border-right: 0; border-bottom: 1px solid var(--rule); }
  main { margin-left: 0; padding: 1rem; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary;
    use std::path::Path;

    #[test]
    fn nav_nests_and_marks_the_current_page() {
        let s = summary::parse(
            Path::new("SUMMARY.md"),
            "# S\n- [A](a.md)\n  - [B](sub/b.md)\n# Part\n- [C](c.md)\n",
        )
        .unwrap();
        let html = nav(&s, "sub/b.html", "../");
        assert_eq!(
            html,
            "<ul>\n<li><a href=\"../a.html\">A</a>\n<ul>\n\
             <li><a class=\"current\" aria-current=\"page\" href=\"../sub/b.html\">B</a></li>\n\
             </ul>\n</li>\n</ul>\n<h2 class=\"part\">Part</h2>\n<ul>\n\
             <li><a href=\"../c.html\">C</a></li>\n</ul>\n"
        );
    }

    #[test]
    fn nav_lists_are_well_formed_when_levels_go_down_and_up() {
        let s = summary::parse(
            Path::new("SUMMARY.md"),
            "- [A](a.md)\n  - [A1](a1.md)\n    - [D](d.md)\n  - [A2](a2.md)\n- [B](b.md)\n---\n[C](c.md)\n",
        )
        .unwrap();
        let html = nav(&s, "x.html", "");
        let compact: String = html.split('\n').collect();
        assert_eq!(
            compact,
            "<ul><li><a href=\"a.html\">A</a>\
             <ul><li><a href=\"a1.html\">A1</a>\
             <ul><li><a href=\"d.html\">D</a></li></ul></li>\
             <li><a href=\"a2.html\">A2</a></li></ul></li>\
             <li><a href=\"b.html\">B</a></li></ul>\
             <hr><ul><li><a href=\"c.html\">C</a></li></ul>"
        );
    }

    #[test]
    fn root_depends_on_depth() {
        assert_eq!(root_of("index.html"), "");
        assert_eq!(root_of("a/b/c.html"), "../../");
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}

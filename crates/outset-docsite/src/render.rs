//! One Markdown page to HTML: heading ids as GitHub makes them (so links written for GitHub
//! work on the site), relative `.md` links rewritten to `.html`, and every link and image
//! recorded with its line for the checker.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

use crate::problem::Lines;

/// A link or image destination as written, with the line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub dest: String,
    pub line: usize,
}

#[derive(Debug, Default)]
pub struct Rendered {
    pub body: String,
    /// The text of the first level-1 heading, the page's title.
    pub title: Option<String>,
    /// Every heading's id, in order.
    pub ids: Vec<String>,
    pub links: Vec<Link>,
}

pub fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
}

pub fn render(text: &str) -> Rendered {
    let lines = Lines::new(text);
    let mut events: Vec<Event> = Vec::new();
    let mut out = Rendered::default();
    // Index in `events` of the heading being read, and its text so far.
    let mut heading: Option<(usize, String)> = None;
    for (event, range) in Parser::new_ext(text, options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { .. }) => {
                heading = Some((events.len(), String::new()));
                events.push(event);
            }
            Event::End(TagEnd::Heading(level)) => {
                if let Some((at, text)) = heading.take() {
                    let id = unique_id(&slug(&text), &out.ids);
                    if let Some(Event::Start(Tag::Heading { id: slot, .. })) = events.get_mut(at) {
                        *slot = Some(CowStr::from(id.clone()));
                    }
                    if level == pulldown_cmark::HeadingLevel::H1 && out.title.is_none() {
                        out.title = Some(text.trim().to_string());
                    }
                    out.ids.push(id);
                }
                events.push(Event::End(TagEnd::Heading(level)));
            }
            Event::Text(ref t) | Event::Code(ref t) => {
                if let Some((_, text)) = heading.as_mut() {
                    text.push_str(t);
                }
                events.push(event);
            }
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                out.links.push(Link {
                    dest: dest_url.to_string(),
                    line: lines.line_of(range.start),
                });
                events.push(Event::Start(Tag::Link {
                    link_type,
                    dest_url: CowStr::from(site_url(&dest_url)),
                    title,
                    id,
                }));
            }
            Event::Start(Tag::Image {
                link_type,
                dest_url,
                title,
                id,
            }) => {
                out.links.push(Link {
                    dest: dest_url.to_string(),
                    line: lines.line_of(range.start),
                });
                events.push(Event::Start(Tag::Image {
                    link_type,
                    dest_url,
                    title,
                    id,
                }));
            }
            other => events.push(other),
        }
    }
    html::push_html(&mut out.body, events.into_iter());
    out
}

/// True for `https://…`, `mailto:…`: anything with a URL scheme, which the site cannot check.
pub fn is_external(dest: &str) -> bool {
    match dest.split_once(':') {
        Some((scheme, _)) => {
            let mut chars = scheme.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

/// Splits `path#fragment`.
pub fn split_fragment(dest: &str) -> (&str, Option<&str>) {
    match dest.split_once('#') {
        Some((path, fragment)) => (path, Some(fragment)),
        None => (dest, None),
    }
}

/// The link as it must read on the site: `page.md#x` → `page.html#x`.
fn site_url(dest: &str) -> String {
    if is_external(dest) {
        return dest.to_string();
    }
    let (path, fragment) = split_fragment(dest);
    match (path.strip_suffix(".md"), fragment) {
        (Some(stem), Some(f)) => format!("{stem}.html#{f}"),
        (Some(stem), None) => format!("{stem}.html"),
        (None, _) => dest.to_string(),
    }
}

/// GitHub's heading anchor: lower case, letters, digits, `-` and `_` kept, spaces to `-`,
/// everything else dropped.
pub fn slug(text: &str) -> String {
    text.trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// A repeated heading gets `-1`, `-2`, … as on GitHub.
fn unique_id(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (1..)
        .map(|n| format!("{base}-{n}"))
        .find(|candidate| !taken.iter().any(|t| t == candidate))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_match_github() {
        assert_eq!(
            slug("Spawning (`outset-sys/src/spawn.rs`)"),
            "spawning-outset-syssrcspawnrs"
        );
        assert_eq!(
            slug("Checking files: outsetctl check-config"),
            "checking-files-outsetctl-check-config"
        );
        assert_eq!(slug("outset's own stanzas"), "outsets-own-stanzas");
    }

    #[test]
    fn headings_get_ids_links_are_rewritten_and_recorded() {
        let r = render(
            "# Title\n\nSee [engine](engine.md#trust), [here](#notes) and\n[the web](https://example.org/a.md).\n\n## Notes\n\n## Notes\n\n![pic](images/a.svg)\n",
        );
        assert_eq!(r.title.as_deref(), Some("Title"));
        assert_eq!(r.ids, vec!["title", "notes", "notes-1"]);
        assert!(
            r.body.contains(r#"<h1 id="title">Title</h1>"#),
            "{}",
            r.body
        );
        assert!(r.body.contains(r#"<h2 id="notes-1">"#));
        assert!(r.body.contains(r#"href="engine.html#trust""#));
        assert!(r.body.contains(r#"href="https://example.org/a.md""#));
        assert!(r.body.contains(r#"src="images/a.svg""#));
        let links: Vec<(&str, usize)> = r.links.iter().map(|l| (l.dest.as_str(), l.line)).collect();
        assert_eq!(
            links,
            vec![
                ("engine.md#trust", 3),
                ("#notes", 3),
                ("https://example.org/a.md", 4),
                ("images/a.svg", 10)
            ]
        );
    }

    #[test]
    fn external_means_a_scheme() {
        assert!(is_external("https://x"));
        assert!(is_external("mailto:a@b"));
        assert!(!is_external("engine.md#a:b"));
        assert!(!is_external("#x"));
        assert!(!is_external("images/a.svg"));
    }
}

//! `SUMMARY.md` in mdBook's format: an optional `# Title`, then links to chapters, nested
//! list items for sub-chapters, `# Part` headings and `---` separators. The same file can be
//! read by mdBook; this reader accepts that subset and reports anything else with its line.

use std::path::Path;

use crate::problem::Problem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A `# Heading` after the first: a titled group of chapters.
    Part {
        title: String,
    },
    /// A link to a page: `path` is relative to the docs directory, as written.
    Chapter {
        title: String,
        path: String,
        depth: usize,
        line: usize,
    },
    Separator,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub title: Option<String>,
    pub entries: Vec<Entry>,
}

impl Summary {
    /// The chapters in reading order (the order of prev/next links).
    pub fn chapters(&self) -> impl Iterator<Item = (&str, &str, usize, usize)> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Chapter {
                title,
                path,
                depth,
                line,
            } => Some((title.as_str(), path.as_str(), *depth, *line)),
            _ => None,
        })
    }
}

/// Parses `text` (the contents of `file`, named in messages).
pub fn parse(file: &Path, text: &str) -> Result<Summary, Vec<Problem>> {
    let mut summary = Summary::default();
    let mut problems = Vec::new();
    // Indents of the open list levels, outermost first.
    let mut indents: Vec<usize> = Vec::new();
    let mut in_comment = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        // HTML comments (mdBook allows them): skipped, also across lines.
        if in_comment {
            in_comment = !trimmed.contains("-->");
            continue;
        }
        if trimmed.starts_with("<!--") {
            in_comment = !trimmed.contains("-->");
            continue;
        }
        if trimmed.is_empty() {
            continue;
        }
        if let Some(heading) = trimmed.strip_prefix('#') {
            let title = heading.trim_start_matches('#').trim().to_string();
            indents.clear();
            if summary.title.is_none() && summary.entries.is_empty() {
                summary.title = Some(title);
            } else {
                summary.entries.push(Entry::Part { title });
            }
            continue;
        }
        if trimmed.chars().all(|c| c == '-') && trimmed.len() >= 3 {
            indents.clear();
            summary.entries.push(Entry::Separator);
            continue;
        }
        let indent = raw.len() - raw.trim_start().len();
        let (item, depth) = match trimmed
            .strip_prefix("- ")
            .or_else(|| trimmed.strip_prefix("* "))
        {
            Some(item) => {
                while indents.last().is_some_and(|&top| top > indent) {
                    indents.pop();
                }
                if indents.last() != Some(&indent) {
                    indents.push(indent);
                }
                (item.trim(), indents.len() - 1)
            }
            // A link on its own line: a prefix or suffix chapter, at the top level.
            None => {
                indents.clear();
                (trimmed, 0)
            }
        };
        match parse_link(item) {
            Some((title, path)) if !path.is_empty() => summary.entries.push(Entry::Chapter {
                title,
                path,
                depth,
                line,
            }),
            Some(_) => problems.push(Problem::new(
                file,
                line,
                "a chapter without a page (a draft in mdBook) is not supported: link a page",
            )),
            None => problems.push(Problem::new(
                file,
                line,
                format!(
                    "expected `- [Title](page.md)`, a `# Part` heading or `---`, found `{trimmed}`"
                ),
            )),
        }
    }
    if problems.is_empty() {
        Ok(summary)
    } else {
        Err(problems)
    }
}

/// `[Title](path)` → (title without backticks, path).
fn parse_link(item: &str) -> Option<(String, String)> {
    let rest = item.strip_prefix('[')?;
    let close = rest.rfind("](")?;
    let title = rest[..close].replace('`', "");
    let path = rest[close + 2..].strip_suffix(')')?;
    Some((title.trim().to_string(), path.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chapter(title: &str, path: &str, depth: usize, line: usize) -> Entry {
        Entry::Chapter {
            title: title.into(),
            path: path.into(),
            depth,
            line,
        }
    }

    #[test]
    fn nested_lists_parts_and_prefix_chapters() {
        let text = "# Summary\n\n[Intro](intro.md)\n\n# Guides\n\n- [A](a.md)\n  - [A1](a/one.md)\n    - [Deep](a/deep.md)\n  - [A2](a/two.md)\n- [`B`](b.md)\n\n---\n\n[Credits](credits.md)\n";
        let s = parse(Path::new("SUMMARY.md"), text).unwrap();
        assert_eq!(s.title.as_deref(), Some("Summary"));
        assert_eq!(
            s.entries,
            vec![
                chapter("Intro", "intro.md", 0, 3),
                Entry::Part {
                    title: "Guides".into()
                },
                chapter("A", "a.md", 0, 7),
                chapter("A1", "a/one.md", 1, 8),
                chapter("Deep", "a/deep.md", 2, 9),
                chapter("A2", "a/two.md", 1, 10),
                chapter("B", "b.md", 0, 11),
                Entry::Separator,
                chapter("Credits", "credits.md", 0, 15),
            ]
        );
    }

    #[test]
    fn anything_else_is_reported_with_its_line() {
        let text = "# Summary\n- [A](a.md)\nsome prose\n- [Draft]()\n";
        let problems = parse(Path::new("docs/SUMMARY.md"), text).unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0]
                .to_string()
                .starts_with("docs/SUMMARY.md:3: expected")
        );
        assert!(
            problems[1]
                .to_string()
                .starts_with("docs/SUMMARY.md:4: a chapter without")
        );
    }
}

//! `docs/site.conf`: the few settings of the site. Sections, `#` comments:
//!
//! ```text
//! [site]
//! title = outset
//!
//! [exclude]
//! notes-for-maintainers.md      # a docs/*.md file deliberately not in the site
//!
//! [generate]
//! images/version.txt = outsetctl --version
//! ```
//!
//! Each `[generate]` line runs its command (with `sh -c`, in the repository root, the freshly
//! built binaries first on `PATH`) before the pages are rendered, and writes its standard output
//! to that file of the site, where pages can link or embed it.

use std::path::Path;

use crate::problem::Problem;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub title: Option<String>,
    /// Docs files (relative to the docs directory) left out of the site, with their line.
    pub exclude: Vec<(String, usize)>,
    pub generate: Vec<Generate>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generate {
    /// Where the output goes, relative to the site's root (and to the docs directory, for links).
    pub output: String,
    pub command: String,
    pub line: usize,
}

pub fn parse(file: &Path, text: &str) -> Result<Config, Vec<Problem>> {
    let mut config = Config::default();
    let mut problems = Vec::new();
    let mut section = String::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = match section.as_str() {
            // A command may contain `#` (sh comments are of no use there): only whole-line
            // comments in [generate].
            "generate" if raw.trim_start().starts_with('#') => "",
            "generate" => raw,
            _ => raw.split('#').next().unwrap_or(""),
        }
        .trim();
        if content.is_empty() {
            continue;
        }
        if let Some(name) = content.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            section = name.trim().to_string();
            if !matches!(section.as_str(), "site" | "exclude" | "generate") {
                problems.push(Problem::new(
                    file,
                    line,
                    format!("unknown section `[{section}]` (known: [site], [exclude], [generate])"),
                ));
            }
            continue;
        }
        match section.as_str() {
            "site" => match content.split_once('=') {
                Some((key, value)) if key.trim() == "title" => {
                    config.title = Some(value.trim().to_string())
                }
                _ => problems.push(Problem::new(
                    file,
                    line,
                    format!("expected `title = …` in [site], found `{content}`"),
                )),
            },
            "exclude" => config.exclude.push((content.to_string(), line)),
            "generate" => match content.split_once('=') {
                Some((output, command)) if !command.trim().is_empty() => {
                    let output = output.trim();
                    if let Err(why) = check_output_path(output) {
                        problems.push(Problem::new(file, line, why));
                    } else {
                        config.generate.push(Generate {
                            output: output.to_string(),
                            command: command.trim().to_string(),
                            line,
                        });
                    }
                }
                _ => problems.push(Problem::new(
                    file,
                    line,
                    format!("expected `FILE = COMMAND` in [generate], found `{content}`"),
                )),
            },
            // Lines of an unknown section were reported with its header.
            _ if !section.is_empty() => {}
            _ => problems.push(Problem::new(
                file,
                line,
                format!("`{content}` is outside any section ([site], [exclude], [generate])"),
            )),
        }
    }
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// A generated file stays inside the site and is not a page.
fn check_output_path(output: &str) -> Result<(), String> {
    let path = Path::new(output);
    if output.is_empty()
        || path.is_absolute()
        || path
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(format!(
            "`{output}`: a generated file is a plain relative path inside the site (e.g. images/x.svg)"
        ));
    }
    if output.ends_with(".md") || output.ends_with(".html") {
        return Err(format!(
            "`{output}`: generated files are assets (images, text), not pages"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_read() {
        let text = "# settings\n[site]\ntitle = outset docs # the name\n\n[exclude]\ndraft.md\n\n[generate]\n# pictures\nimages/v.txt = outsetctl --version # not a comment here\n";
        let c = parse(Path::new("site.conf"), text).unwrap();
        assert_eq!(c.title.as_deref(), Some("outset docs"));
        assert_eq!(c.exclude, vec![("draft.md".to_string(), 6)]);
        assert_eq!(
            c.generate,
            vec![Generate {
                output: "images/v.txt".into(),
                command: "outsetctl --version # not a comment here".into(),
                line: 10,
            }]
        );
    }

    #[test]
    fn bad_lines_are_reported_with_their_line() {
        let text = "stray\n[generate]\n../x.svg = echo\nimages/a.svg =\n[nope]\n";
        let problems = parse(Path::new("docs/site.conf"), text).unwrap_err();
        let lines: Vec<usize> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 5]);
    }
}

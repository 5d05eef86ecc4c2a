//! outset's documentation site: every page listed in `docs/SUMMARY.md` (mdBook's format)
//! rendered to HTML with one layout, the other files of `docs/` copied, files made by the
//! `[generate]` commands of `docs/site.conf`, and every relative link and `#anchor` checked.

mod config;
mod generate;
mod layout;
mod problem;
mod render;
mod summary;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

pub use problem::Problem;
pub use render::slug;
pub use summary::{Entry, Summary};

pub struct BuildOptions {
    /// The docs directory (SUMMARY.md, site.conf, pages, images/).
    pub docs: PathBuf,
    pub out: PathBuf,
    /// Searched first for the programs of `[generate]` commands.
    pub bin_dir: Option<PathBuf>,
}

/// A link the site cannot check: it has a URL scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub file: PathBuf,
    pub line: usize,
    pub url: String,
}

#[derive(Debug)]
pub struct Built {
    /// Pages written, as paths in the site (`engine.html`), in SUMMARY order.
    pub pages: Vec<String>,
    /// Files copied or generated, as paths in the site.
    pub assets: Vec<String>,
    pub external: Vec<External>,
}

/// Reads a SUMMARY.md text (for tools and tests that need the chapter list).
pub fn parse_summary(text: &str) -> Result<Summary, Vec<Problem>> {
    summary::parse(Path::new("SUMMARY.md"), text)
}

struct Page {
    md: String,
    nav_title: String,
    rendered: render::Rendered,
}

/// Builds the site into `opts.out`. Every problem found is returned, not just the first.
pub fn build(opts: &BuildOptions) -> Result<Built, Vec<Problem>> {
    let docs = &opts.docs;
    let summary_file = docs.join("SUMMARY.md");
    let conf_file = docs.join("site.conf");
    let summary_text = read(&summary_file).map_err(|p| vec![p])?;
    let summary = summary::parse(&summary_file, &summary_text)?;
    let config = if conf_file.exists() {
        config::parse(&conf_file, &read(&conf_file).map_err(|p| vec![p])?)?
    } else {
        config::Config::default()
    };
    let mut problems = Vec::new();

    // What docs/ holds: Markdown files (pages, or excluded) and everything else (assets).
    let mut files = Vec::new();
    if let Err(e) = walk(docs, docs, &mut files) {
        return Err(vec![Problem::new(docs, 0, format!("cannot list: {e}"))]);
    }
    let (markdown, copied): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|f| f.ends_with(".md"));
    let copied: Vec<String> = copied.into_iter().filter(|f| f != "site.conf").collect();

    // Pages: the chapters of SUMMARY.md, each once, each an existing file.
    let mut pages: Vec<Page> = Vec::new();
    for (title, path, _, line) in summary.chapters() {
        let Some(md) = normalize(Path::new(path)) else {
            problems.push(Problem::new(
                &summary_file,
                line,
                format!("`{path}` is outside the docs directory"),
            ));
            continue;
        };
        if !md.ends_with(".md") {
            problems.push(Problem::new(
                &summary_file,
                line,
                format!("`{path}` is not a Markdown page"),
            ));
            continue;
        }
        if pages.iter().any(|p| p.md == md) {
            problems.push(Problem::new(
                &summary_file,
                line,
                format!("`{path}` is listed twice"),
            ));
            continue;
        }
        let source = match read(&docs.join(&md)) {
            Ok(text) => text,
            Err(_) => {
                problems.push(Problem::new(
                    &summary_file,
                    line,
                    format!("`{path}`: no such file in {}", docs.display()),
                ));
                continue;
            }
        };
        pages.push(Page {
            md,
            nav_title: title.to_string(),
            rendered: render::render(&source),
        });
    }

    // Every Markdown file is a page, or deliberately left out.
    let excluded: BTreeSet<String> = config.exclude.iter().map(|(f, _)| f.clone()).collect();
    for (file, line) in &config.exclude {
        if !markdown.contains(file) {
            problems.push(Problem::new(
                &conf_file,
                *line,
                format!("excluded `{file}` does not exist"),
            ));
        } else if pages.iter().any(|p| &p.md == file) {
            problems.push(Problem::new(
                &conf_file,
                *line,
                format!("`{file}` is both excluded and in SUMMARY.md"),
            ));
        }
    }
    for md in &markdown {
        if md != "SUMMARY.md" && !excluded.contains(md) && !pages.iter().any(|p| &p.md == md) {
            problems.push(Problem::new(
                &docs.join(md),
                0,
                "not in SUMMARY.md (add it, or list it under [exclude] in site.conf)",
            ));
        }
    }

    // Assets: copied files, then what the [generate] commands write.
    if let Err(e) = std::fs::create_dir_all(&opts.out) {
        problems.push(Problem::new(&opts.out, 0, format!("cannot create: {e}")));
        return Err(problems);
    }
    let mut assets: BTreeSet<String> = BTreeSet::new();
    for file in &copied {
        let to = opts.out.join(file);
        let copy = to
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::copy(docs.join(file), &to));
        match copy {
            Ok(_) => {
                assets.insert(file.clone());
            }
            Err(e) => problems.push(Problem::new(
                &docs.join(file),
                0,
                format!("cannot copy to {}: {e}", to.display()),
            )),
        }
    }
    let workdir = match docs.canonicalize() {
        Ok(abs) => abs.parent().map_or(abs.clone(), Path::to_path_buf),
        Err(e) => {
            problems.push(Problem::new(docs, 0, format!("cannot resolve: {e}")));
            return Err(problems);
        }
    };
    for g in &config.generate {
        match generate::run(g, &conf_file, &workdir, opts.bin_dir.as_deref(), &opts.out) {
            Ok(()) => {
                assets.insert(g.output.clone());
            }
            Err(p) => problems.push(p),
        }
    }

    // Links.
    let ids: BTreeMap<&str, &[String]> = pages
        .iter()
        .map(|p| (p.md.as_str(), p.rendered.ids.as_slice()))
        .collect();
    let mut external = Vec::new();
    for page in &pages {
        let file = docs.join(&page.md);
        for link in &page.rendered.links {
            if render::is_external(&link.dest) {
                external.push(External {
                    file: file.clone(),
                    line: link.line,
                    url: link.dest.clone(),
                });
                continue;
            }
            if let Err(why) = check_link(&page.md, &link.dest, &ids, &assets, &markdown, &excluded)
            {
                problems.push(Problem::new(
                    &file,
                    link.line,
                    format!("broken link `{}`: {why}", link.dest),
                ));
            }
        }
    }

    // Pages, with the layout; index.html is the first chapter.
    let site_title = config
        .title
        .clone()
        .or_else(|| summary.title.clone())
        .unwrap_or_else(|| "Documentation".to_string());
    let html_paths: Vec<String> = pages.iter().map(|p| layout::html_path(&p.md)).collect();
    std::fs::write(opts.out.join("style.css"), layout::STYLE).unwrap_or_else(|e| {
        problems.push(Problem::new(
            &opts.out.join("style.css"),
            0,
            format!("cannot write: {e}"),
        ))
    });
    for (i, page) in pages.iter().enumerate() {
        let neighbour = |j: Option<usize>| {
            j.and_then(|j| {
                pages
                    .get(j)
                    .map(|p| (p.nav_title.as_str(), html_paths[j].as_str()))
            })
        };
        let title = page.rendered.title.as_deref().unwrap_or(&page.nav_title);
        let lay = layout::PageLayout {
            site_title: &site_title,
            page_title: title,
            html_path: &html_paths[i],
            body: &page.rendered.body,
            prev: neighbour(i.checked_sub(1)),
            next: neighbour(Some(i + 1)),
        };
        let html = layout::page(&summary, &lay);
        let mut outputs = vec![(html_paths[i].clone(), html.clone())];
        // The first chapter is also the front page: the same page when it sits at the top
        // (its links work unchanged from there), else a pointer to it.
        if i == 0 && html_paths[i] != "index.html" {
            let front = if html_paths[i].contains('/') {
                layout::redirect(&html_paths[i])
            } else {
                html
            };
            outputs.push(("index.html".to_string(), front));
        }
        for (out_path, html) in outputs {
            let to = opts.out.join(&out_path);
            let written = to
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&to, html));
            if let Err(e) = written {
                problems.push(Problem::new(&to, 0, format!("cannot write: {e}")));
            }
        }
    }

    if problems.is_empty() {
        Ok(Built {
            pages: html_paths,
            assets: assets.into_iter().collect(),
            external,
        })
    } else {
        Err(problems)
    }
}

/// Checks one relative link of page `from` (a path in docs/).
fn check_link(
    from: &str,
    dest: &str,
    ids: &BTreeMap<&str, &[String]>,
    assets: &BTreeSet<String>,
    markdown: &[String],
    excluded: &BTreeSet<String>,
) -> Result<(), String> {
    let (path, fragment) = render::split_fragment(dest);
    if path.starts_with('/') {
        return Err(
            "an absolute path: the site may be served from any directory, link relatively".into(),
        );
    }
    let target = if path.is_empty() {
        from.to_string()
    } else {
        let base = Path::new(from).parent().unwrap_or(Path::new(""));
        normalize(&base.join(path)).ok_or("points outside the docs directory")?
    };
    let page_ids = ids.get(target.as_str()).or_else(|| {
        // A link written to the generated page itself.
        target
            .strip_suffix(".html")
            .and_then(|stem| ids.get(format!("{stem}.md").as_str()))
    });
    match (page_ids, fragment) {
        (Some(page_ids), Some(f)) if !page_ids.iter().any(|id| id == f) => {
            Err(format!("no heading with id `{f}` in {target}"))
        }
        (Some(_), _) => Ok(()),
        (None, _) if excluded.contains(&target) => {
            Err(format!("{target} is excluded from the site (site.conf)"))
        }
        (None, _) if target.ends_with(".md") && markdown.contains(&target) => {
            Err(format!("{target} is not in SUMMARY.md"))
        }
        (None, _) if target.ends_with(".md") => Err(format!("no page {target}")),
        (None, Some(_)) if assets.contains(&target) => Err(format!(
            "{target} is not a page: it has no headings to link to"
        )),
        (None, None) if assets.contains(&target) => Ok(()),
        (None, _) => Err(format!(
            "no file {target} in the docs or among the generated files"
        )),
    }
}

/// `a/./b/../c.md` → `a/c.md`; None when it climbs out.
fn normalize(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

fn read(path: &Path) -> Result<String, Problem> {
    std::fs::read_to_string(path).map_err(|e| Problem::new(path, 0, format!("cannot read: {e}")))
}

/// Every file under `dir`, relative to `root`, hidden files and directories skipped.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            walk(root, &path, out)?;
        } else if let Some(rel) = path.strip_prefix(root).ok().and_then(normalize) {
            out.push(rel);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_resolves_dots_and_refuses_to_climb_out() {
        assert_eq!(
            normalize(Path::new("a/./b/../c.md")).as_deref(),
            Some("a/c.md")
        );
        assert_eq!(normalize(Path::new("../x.md")), None);
        assert_eq!(normalize(Path::new("a/../../x.md")), None);
    }
}

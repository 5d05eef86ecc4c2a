//! What the build reports: a problem at a file and line, printed as `file:line: message`.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with the docs: a broken link, a page missing from SUMMARY.md, a failed
/// pre-build command, an unreadable file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    /// 1-based; 0 when the problem is about the whole file.
    pub line: usize,
    pub message: String,
}

impl Problem {
    pub fn new(file: &Path, line: usize, message: impl Into<String>) -> Self {
        Problem {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
        }
    }
}

/// Byte offset to 1-based line number, for messages about a place in a Markdown file.
pub struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_map_to_lines() {
        let lines = Lines::new("ab\ncd\n\nef");
        assert_eq!(lines.line_of(0), 1);
        assert_eq!(lines.line_of(2), 1);
        assert_eq!(lines.line_of(3), 2);
        assert_eq!(lines.line_of(6), 3);
        assert_eq!(lines.line_of(7), 4);
        assert_eq!(lines.line_of(8), 4);
    }

    #[test]
    fn display_has_file_and_line() {
        let p = Problem::new(Path::new("docs/a.md"), 7, "broken link `x.md`");
        assert_eq!(p.to_string(), "docs/a.md:7: broken link `x.md`");
        let p = Problem::new(Path::new("docs/a.md"), 0, "unreadable");
        assert_eq!(p.to_string(), "docs/a.md: unreadable");
    }
}

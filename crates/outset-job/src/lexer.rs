//! libnih's lexical rules for job files.
//!
//! - Separators are space, tab and `\r`; a newline ends a stanza.
//! - A backslash-newline is removed wherever it appears, so it joins lines; the whitespace
//!   around it still separates words. Inside quotes, and in `exec` lines, a newline and the
//!   whitespace around it collapse to one space.
//! - `#` at the start of a word begins a comment that runs to the end of the line.
//! - Single and double quotes group words and are removed from the token; a quoted value may
//!   span lines. Inside quotes a backslash escapes the quote character and itself.
//! - Outside quotes a backslash escapes whitespace, quotes, `#`, parentheses and itself.

use crate::error::ParseError;

/// A word of a stanza, with its quotes removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    /// Any part of the word was quoted (so `"and"` is not an operator).
    pub quoted: bool,
    pub line: usize,
    pub col: usize,
}

impl Token {
    /// An unquoted token equal to `word`.
    pub fn is_word(&self, word: &str) -> bool {
        !self.quoted && self.text == word
    }
}

/// Characters a backslash escapes outside quotes.
const ESCAPABLE: &[char] = &[' ', '\t', '\r', '\'', '"', '#', '(', ')', '\\'];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

/// A cursor over a job file.
pub struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

impl Lexer {
    pub fn new(text: &str) -> Self {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    pub fn line(&self) -> usize {
        self.line
    }

    pub fn col(&self) -> usize {
        self.col
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.line, self.col, message)
    }

    pub fn at_eof(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn at_continuation(&self) -> bool {
        self.peek() == Some('\\') && self.peek_at(1) == Some('\n')
    }

    /// Skips separators and backslash-newlines within a stanza. A backslash as the very last
    /// character of the file is an error.
    pub fn skip_ws(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(c) if is_space(c) => {
                    self.bump();
                }
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                Some('\\') if self.peek_at(1).is_none() => {
                    return Err(self.error("backslash at end of file"));
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips blank lines and comment lines between stanzas.
    pub fn skip_blank(&mut self) -> Result<(), ParseError> {
        loop {
            self.skip_ws()?;
            match self.peek() {
                Some('\n') => {
                    self.bump();
                }
                Some('#') => self.skip_comment(),
                _ => return Ok(()),
            }
        }
    }

    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    /// Whether the stanza ends here (after separators): end of line, comment or end of file.
    pub fn at_stanza_end(&mut self) -> Result<bool, ParseError> {
        self.skip_ws()?;
        Ok(matches!(self.peek(), None | Some('\n') | Some('#')))
    }

    /// Consumes the end of a stanza: separators, a comment and the newline. Anything else is an
    /// "unexpected token" error.
    pub fn end_stanza(&mut self) -> Result<(), ParseError> {
        if !self.at_stanza_end()? {
            let (line, col) = (self.line, self.col);
            let tok = self.token(false)?;
            let text = tok.map(|t| t.text).unwrap_or_default();
            return Err(ParseError::new(
                line,
                col,
                format!("unexpected token `{text}`"),
            ));
        }
        if self.peek() == Some('#') {
            self.skip_comment();
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
        Ok(())
    }

    /// Moves to the next line when the stanza may continue there (an open parenthesis in an
    /// expression): skips a comment, newlines and blank or comment lines. Returns false at
    /// end of file.
    pub fn continue_line(&mut self) -> Result<bool, ParseError> {
        self.skip_blank()?;
        Ok(!self.at_eof())
    }

    /// Reads the next word of the stanza, or `None` at the stanza's end. With `split_parens`,
    /// unquoted `(` and `)` are words of their own (for expressions).
    pub fn token(&mut self, split_parens: bool) -> Result<Option<Token>, ParseError> {
        if self.at_stanza_end()? {
            return Ok(None);
        }
        let (line, col) = (self.line, self.col);
        let mut text = String::new();
        let mut quoted = false;
        if split_parens && matches!(self.peek(), Some('(' | ')')) {
            if let Some(c) = self.bump() {
                text.push(c);
            }
            return Ok(Some(Token {
                text,
                quoted,
                line,
                col,
            }));
        }
        loop {
            match self.peek() {
                None | Some('\n') => break,
                Some(c) if is_space(c) => break,
                Some('(' | ')') if split_parens => break,
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                Some('\\') => {
                    self.bump();
                    match self.peek() {
                        None => return Err(self.error("backslash at end of file")),
                        Some(c) if ESCAPABLE.contains(&c) => {
                            text.push(c);
                            self.bump();
                        }
                        Some(_) => text.push('\\'),
                    }
                }
                Some(q @ ('"' | '\'')) => {
                    quoted = true;
                    self.quoted(q, &mut text)?;
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                }
            }
        }
        if text.is_empty() {
            return Err(ParseError::new(
                line,
                col,
                "expected a token, found an empty one",
            ));
        }
        Ok(Some(Token {
            text,
            quoted,
            line,
            col,
        }))
    }

    /// Reads a quoted section (the cursor is on the opening quote) into `out`.
    fn quoted(&mut self, q: char, out: &mut String) -> Result<(), ParseError> {
        let (line, col) = (self.line, self.col);
        self.bump();
        loop {
            match self.peek() {
                None => return Err(ParseError::new(line, col, "unterminated quoted string")),
                Some(c) if c == q => {
                    self.bump();
                    return Ok(());
                }
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.collapse_newline(out);
                }
                Some('\n') => self.collapse_newline(out),
                Some('\\') if self.peek_at(1) == Some(q) || self.peek_at(1) == Some('\\') => {
                    self.bump();
                    if let Some(c) = self.bump() {
                        out.push(c);
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                }
            }
        }
    }

    /// The cursor is on a newline: the newline and the whitespace around it become one space.
    fn collapse_newline(&mut self, out: &mut String) {
        self.collapse_newline_keeping(out, 0);
    }

    /// As [`Lexer::collapse_newline`], never trimming `out` below `keep` bytes (an escaped
    /// space is not whitespace to trim).
    fn collapse_newline_keeping(&mut self, out: &mut String, keep: usize) {
        self.bump();
        while out.len() > keep && out.ends_with([' ', '\t', '\r']) {
            out.pop();
        }
        while matches!(self.peek(), Some(c) if is_space(c)) {
            self.bump();
        }
        out.push(' ');
    }

    /// Reads the rest of the stanza raw (for `exec`): quotes kept, continuations collapsed to
    /// one space, a trailing comment dropped, surrounding whitespace trimmed. Consumes the
    /// stanza's end.
    pub fn rest_raw(&mut self) -> Result<Option<String>, ParseError> {
        self.skip_ws()?;
        let mut out = String::new();
        let mut word_start = true;
        // Everything up to here is escaped or quoted: trimming stops there.
        let mut keep = 0;
        loop {
            match self.peek() {
                None => break,
                Some('\n') => {
                    self.bump();
                    break;
                }
                Some('#') if word_start => {
                    self.skip_comment();
                    continue;
                }
                Some(_) if self.at_continuation() => {
                    self.bump();
                    self.collapse_newline_keeping(&mut out, keep);
                    word_start = true;
                }
                Some('\\') => {
                    self.bump();
                    out.push('\\');
                    match self.bump() {
                        None => return Err(self.error("backslash at end of file")),
                        Some(c) => out.push(c),
                    }
                    keep = out.len();
                    word_start = false;
                }
                Some(q @ ('"' | '\'')) => {
                    let (line, col) = (self.line, self.col);
                    out.push(q);
                    self.bump();
                    loop {
                        match self.peek() {
                            None => {
                                return Err(ParseError::new(
                                    line,
                                    col,
                                    "unterminated quoted string",
                                ));
                            }
                            Some(c) if c == q => {
                                out.push(c);
                                self.bump();
                                keep = out.len();
                                break;
                            }
                            Some('\n') => self.collapse_newline(&mut out),
                            Some(_) if self.at_continuation() => {
                                self.bump();
                                self.collapse_newline(&mut out);
                            }
                            Some('\\') => {
                                self.bump();
                                out.push('\\');
                                if let Some(c) = self.bump() {
                                    out.push(c);
                                }
                            }
                            Some(c) => {
                                out.push(c);
                                self.bump();
                            }
                        }
                    }
                    word_start = false;
                }
                Some(c) => {
                    out.push(c);
                    self.bump();
                    word_start = is_space(c);
                }
            }
        }
        let end = out.trim_end_matches([' ', '\t', '\r']).len().max(keep);
        let trimmed = &out[..end];
        Ok((!trimmed.is_empty()).then(|| trimmed.to_string()))
    }

    /// Reads a script block after its opening line (the cursor is at the start of the first
    /// line of the body) up to a line holding only `end script` (leading whitespace and a
    /// trailing comment allowed). The whitespace common to the body's non-blank lines is
    /// stripped.
    pub fn script_block(
        &mut self,
        start_line: usize,
        start_col: usize,
    ) -> Result<String, ParseError> {
        let mut lines: Vec<String> = Vec::new();
        loop {
            if self.at_eof() {
                return Err(ParseError::new(
                    start_line,
                    start_col,
                    "unterminated script block: no `end script` line",
                ));
            }
            let mut line = String::new();
            while let Some(c) = self.bump() {
                if c == '\n' {
                    break;
                }
                line.push(c);
            }
            if is_end_script(&line) {
                break;
            }
            lines.push(line);
        }
        Ok(strip_common_indent(&lines))
    }
}

/// `[ws]end[ws]script[ws][#comment]`
fn is_end_script(line: &str) -> bool {
    let rest = line.trim_start_matches(is_space);
    let Some(rest) = rest.strip_prefix("end") else {
        return false;
    };
    let after = rest.trim_start_matches(is_space);
    if after.len() == rest.len() {
        return false;
    }
    let Some(rest) = after.strip_prefix("script") else {
        return false;
    };
    let rest = rest.trim_start_matches(is_space);
    rest.is_empty() || rest.starts_with('#')
}

/// Joins `lines` with newlines after removing the leading whitespace common to all lines that
/// hold something other than whitespace. Whitespace-only lines lose up to that much.
pub fn strip_common_indent(lines: &[String]) -> String {
    let mut common: Option<&str> = None;
    for line in lines {
        if line.trim_matches(is_space).is_empty() {
            continue;
        }
        let indent_len = line.len() - line.trim_start_matches(is_space).len();
        let indent = &line[..indent_len];
        common = Some(match common {
            None => indent,
            Some(c) => {
                let n = c
                    .char_indices()
                    .zip(indent.chars())
                    .take_while(|((_, a), b)| a == b)
                    .count();
                &c[..n]
            }
        });
    }
    let common = common.unwrap_or("");
    let mut out = String::new();
    for line in lines {
        let stripped = match line.strip_prefix(common) {
            Some(s) => s,
            None => {
                // A whitespace-only line shorter than the indent.
                let n = line
                    .chars()
                    .zip(common.chars())
                    .take_while(|(a, b)| a == b)
                    .count();
                &line[n..]
            }
        };
        out.push_str(stripped);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        let mut lx = Lexer::new(s);
        let mut v = Vec::new();
        while let Some(t) = lx.token(false).unwrap() {
            v.push(t.text);
        }
        v
    }

    #[test]
    fn separators_are_space_tab_cr() {
        assert_eq!(words("a\tb\r c  d"), ["a", "b", "c", "d"]);
    }

    #[test]
    fn comment_ends_stanza() {
        assert_eq!(words("a b # c d"), ["a", "b"]);
        assert_eq!(words("a b#c"), ["a", "b#c"]);
    }

    #[test]
    fn quotes_group_and_are_removed() {
        assert_eq!(words(r#"a "b c" 'd e'"#), ["a", "b c", "d e"]);
        assert_eq!(words(r#"K="x y"z"#), ["K=x yz"]);
        assert_eq!(words(r#""a \" b""#), ["a \" b"]);
        assert_eq!(words(r#"'#x'"#), ["#x"]);
    }

    #[test]
    fn quoted_value_spans_lines_collapsing_whitespace() {
        assert_eq!(words("\"a \\\n\t b\n  c\""), ["a b c"]);
    }

    #[test]
    fn backslash_newline_joins() {
        assert_eq!(words("a \\\n b"), ["a", "b"]);
        assert_eq!(words("K=\\\n\"v\""), ["K=v"]);
    }

    #[test]
    fn backslash_escapes_outside_quotes() {
        assert_eq!(words(r"a\ b c\d"), ["a b", r"c\d"]);
    }

    #[test]
    fn unterminated_quote_is_an_error() {
        let mut lx = Lexer::new("x \"abc");
        lx.token(false).unwrap();
        let e = lx.token(false).unwrap_err();
        assert_eq!((e.line, e.col), (1, 3));
        assert!(e.message.contains("unterminated quoted string"));
    }

    #[test]
    fn empty_quoted_token_is_an_error() {
        let mut lx = Lexer::new("\"\"");
        assert!(lx.token(false).is_err());
    }

    #[test]
    fn backslash_at_eof_is_an_error() {
        let mut lx = Lexer::new("a \\");
        lx.token(false).unwrap();
        assert!(lx.token(false).is_err());
    }

    #[test]
    fn parens_split_in_expressions() {
        let mut lx = Lexer::new("(a b)");
        let mut v = Vec::new();
        while let Some(t) = lx.token(true).unwrap() {
            v.push(t.text);
        }
        assert_eq!(v, ["(", "a", "b", ")"]);
    }

    #[test]
    fn raw_rest_keeps_quotes_and_collapses_continuations() {
        let mut lx = Lexer::new("  /bin/x \"a b\" \\\n    -c # note\nnext");
        assert_eq!(lx.rest_raw().unwrap().unwrap(), "/bin/x \"a b\" -c");
        assert_eq!(lx.line(), 3);
    }

    #[test]
    fn raw_rest_keeps_an_escaped_trailing_space() {
        let mut lx = Lexer::new("a \\\\\\ \n");
        assert_eq!(lx.rest_raw().unwrap().unwrap(), "a \\\\\\ ");
        let mut lx = Lexer::new("a 'b ' \n");
        assert_eq!(lx.rest_raw().unwrap().unwrap(), "a 'b '");
    }

    #[test]
    fn end_script_forms() {
        assert!(is_end_script("end script"));
        assert!(is_end_script("  \tend \t script  # done"));
        assert!(!is_end_script("endscript"));
        assert!(!is_end_script("end scripts"));
        assert!(!is_end_script("end script x"));
        assert!(!is_end_script("# end script"));
    }

    #[test]
    fn common_indent_is_stripped() {
        let lines: Vec<String> = ["    a", "      b", "", "  ", "    c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(strip_common_indent(&lines), "a\n  b\n\n\nc\n");
        let tabs: Vec<String> = ["\tx", "\t\ty"].iter().map(|s| s.to_string()).collect();
        assert_eq!(strip_common_indent(&tabs), "x\n\ty\n");
    }
}

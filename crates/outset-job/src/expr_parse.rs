//! Parsing `start on`, `stop on` and `ready on` expressions.
//!
//! Upstart's grammar: operands are an event name and its arguments; `and` and `or` have equal
//! precedence and group left to right; parentheses group, and while one is open the
//! expression continues on the next line.
//!
//! Every later pass over an [`Expr`] (rendering, the engine's conditions, comparing, dropping)
//! walks it recursively, so the parser bounds the tree: at most [`MAX_EXPR_DEPTH`] levels,
//! counting both open parentheses and the operators of a chain (`a and b and c` is two levels
//! deep, as it groups to the left). Deeper input is an error at the token that crossed the bound.

use crate::error::ParseError;
use crate::expr::{Arg, EventMatch, Expr, ListenAddr, ReadySource};
use crate::lexer::{Lexer, Token};

/// The deepest expression tree accepted: far beyond what real jobs write, and shallow enough
/// that recursing over it is safe on any thread.
pub const MAX_EXPR_DEPTH: usize = 256;

/// Reads the rest of the stanza as an expression. `ready` allows readiness sources.
pub fn parse_expr(lx: &mut Lexer, ready: bool) -> Result<Expr, ParseError> {
    let (line, col) = (lx.line(), lx.col());
    let tokens = collect(lx)?;
    let mut p = ExprParser {
        tokens,
        pos: 0,
        ready,
        end: (lx.line(), lx.col()),
    };
    if p.tokens.is_empty() {
        return Err(ParseError::new(line, col, "expected event"));
    }
    p.sequence(None, 0).map(|(e, _)| e)
}

/// Collects the expression's tokens, reading on past line ends while a parenthesis is open.
fn collect(lx: &mut Lexer) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    loop {
        match lx.token(true)? {
            Some(t) => {
                if t.is_word("(") {
                    depth += 1;
                } else if t.is_word(")") {
                    depth = depth.saturating_sub(1);
                }
                tokens.push(t);
            }
            None if depth > 0 => {
                if !lx.continue_line()? {
                    break;
                }
            }
            None => break,
        }
    }
    lx.end_stanza()?;
    Ok(tokens)
}

struct ExprParser {
    tokens: Vec<Token>,
    pos: usize,
    ready: bool,
    /// Where the expression ended, for errors about a missing operand.
    end: (usize, usize),
}

fn is_operator(t: &Token) -> bool {
    t.is_word("and") || t.is_word("or")
}

impl ExprParser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn err_here(&self, message: &str) -> ParseError {
        match self.peek() {
            Some(t) => ParseError::new(t.line, t.col, message),
            None => ParseError::new(self.end.0, self.end.1, message),
        }
    }

    /// `primary (op primary)*`, ending at the end of input (top level) or at the `)` that
    /// closes `open`. `parens` is how many parentheses are open; returns the tree and its depth.
    fn sequence(
        &mut self,
        open: Option<&Token>,
        parens: usize,
    ) -> Result<(Expr, usize), ParseError> {
        let (mut left, mut depth) = self.primary(parens)?;
        loop {
            let Some(t) = self.peek().cloned() else {
                return match open {
                    Some(o) => Err(ParseError::new(o.line, o.col, "mismatched parentheses")),
                    None => Ok((left, depth)),
                };
            };
            if t.is_word(")") {
                return match open {
                    Some(_) => {
                        self.pos += 1;
                        Ok((left, depth))
                    }
                    None => Err(ParseError::new(t.line, t.col, "mismatched parentheses")),
                };
            }
            if !is_operator(&t) {
                return Err(ParseError::new(t.line, t.col, "expected operator"));
            }
            self.pos += 1;
            let (right, right_depth) = self.primary(parens)?;
            depth = depth.max(right_depth) + 1;
            if depth > MAX_EXPR_DEPTH {
                return Err(ParseError::new(
                    t.line,
                    t.col,
                    format!("expression too deep (more than {MAX_EXPR_DEPTH} nested operators)"),
                ));
            }
            left = if t.text == "and" {
                Expr::And(Box::new(left), Box::new(right))
            } else {
                Expr::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn primary(&mut self, parens: usize) -> Result<(Expr, usize), ParseError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.err_here("expected event"));
        };
        if t.is_word("(") {
            if parens >= MAX_EXPR_DEPTH {
                return Err(ParseError::new(
                    t.line,
                    t.col,
                    format!("parentheses nested too deep (more than {MAX_EXPR_DEPTH})"),
                ));
            }
            self.pos += 1;
            return self.sequence(Some(&t), parens + 1);
        }
        if t.is_word(")") || is_operator(&t) {
            return Err(self.err_here("expected event"));
        }
        self.pos += 1;
        let mut args: Vec<Token> = Vec::new();
        while let Some(a) = self.peek() {
            if a.is_word("(") || a.is_word(")") || is_operator(a) {
                break;
            }
            args.push(a.clone());
            self.pos += 1;
        }
        if self.ready && !t.quoted {
            match t.text.as_str() {
                "file" | "listening" | "dbus" => return Ok((ready_source(&t, &args)?, 0)),
                _ => {}
            }
        }
        Ok((
            Expr::Event(EventMatch {
                name: t.text,
                args: event_args(&args)?,
            }),
            0,
        ))
    }
}

/// Positional arguments, then `KEY=VALUE` / `KEY!=VALUE`.
fn event_args(tokens: &[Token]) -> Result<Vec<Arg>, ParseError> {
    let mut args = Vec::new();
    let mut named = false;
    for t in tokens {
        if t.text.contains("${") {
            crate::expand::check_depth(&t.text)
                .map_err(|e| ParseError::new(t.line, t.col, e.to_string()))?;
        }
        match t.text.split_once('=') {
            Some((key, value)) => {
                let (key, ne) = match key.strip_suffix('!') {
                    Some(k) => (k, true),
                    None => (key, false),
                };
                if key.is_empty() {
                    return Err(ParseError::new(
                        t.line,
                        t.col,
                        "expected variable name before `=`",
                    ));
                }
                named = true;
                args.push(if ne {
                    Arg::Ne(key.to_string(), value.to_string())
                } else {
                    Arg::Eq(key.to_string(), value.to_string())
                });
            }
            None if named => {
                return Err(ParseError::new(
                    t.line,
                    t.col,
                    format!(
                        "expected variable name before value `{}` (positional arguments come first)",
                        t.text
                    ),
                ));
            }
            None => args.push(Arg::Positional(t.text.clone())),
        }
    }
    Ok(args)
}

fn ready_source(name: &Token, args: &[Token]) -> Result<Expr, ParseError> {
    let [arg] = args else {
        let (line, col) = match args.get(1) {
            Some(t) => (t.line, t.col),
            None => (name.line, name.col),
        };
        return Err(ParseError::new(
            line,
            col,
            format!("`{}` takes exactly one argument", name.text),
        ));
    };
    let source = match name.text.as_str() {
        "file" => ReadySource::File(arg.text.clone()),
        "dbus" => ReadySource::Dbus(arg.text.clone()),
        _ => ReadySource::Listening(
            parse_listen(&arg.text).map_err(|m| ParseError::new(arg.line, arg.col, m))?,
        ),
    };
    Ok(Expr::Ready(source))
}

/// `tcp:[ADDR:]PORT`, `udp:[ADDR:]PORT` (IPv6 addresses in brackets), `unix:PATH`.
pub fn parse_listen(s: &str) -> Result<ListenAddr, String> {
    if let Some(path) = s.strip_prefix("unix:") {
        if path.is_empty() {
            return Err("`unix:` needs a socket path".into());
        }
        return Ok(ListenAddr::Unix(path.to_string()));
    }
    let (udp, rest) = if let Some(r) = s.strip_prefix("tcp:") {
        (false, r)
    } else if let Some(r) = s.strip_prefix("udp:") {
        (true, r)
    } else {
        return Err(format!(
            "bad listening address `{s}` (expected tcp:[ADDR:]PORT, udp:[ADDR:]PORT or unix:PATH)"
        ));
    };
    let (addr, port) = match rest.rsplit_once(':') {
        Some((a, p)) => {
            let a = a
                .strip_prefix('[')
                .and_then(|a| a.strip_suffix(']'))
                .unwrap_or(a);
            if a.is_empty() {
                return Err(format!("bad listening address `{s}`: empty host"));
            }
            (Some(a.to_string()), p)
        }
        None => (None, rest),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| format!("bad port `{port}` in `{s}` (expected 1 to 65535)"))?;
    Ok(if udp {
        ListenAddr::Udp { addr, port }
    } else {
        ListenAddr::Tcp { addr, port }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Expr, ParseError> {
        parse_expr(&mut Lexer::new(s), false)
    }

    fn ev(name: &str) -> Expr {
        Expr::Event(EventMatch {
            name: name.into(),
            args: vec![],
        })
    }

    fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    fn or(a: Expr, b: Expr) -> Expr {
        Expr::Or(Box::new(a), Box::new(b))
    }

    #[test]
    fn equal_precedence_left_to_right() {
        assert_eq!(
            parse("a or b and c").unwrap(),
            and(or(ev("a"), ev("b")), ev("c"))
        );
        assert_eq!(
            parse("a or b or c").unwrap(),
            or(or(ev("a"), ev("b")), ev("c"))
        );
        assert_eq!(
            parse("a and (b or c)").unwrap(),
            and(ev("a"), or(ev("b"), ev("c")))
        );
    }

    #[test]
    fn arguments() {
        let e = parse("runlevel [!06] PREVLEVEL=S X!=\"\"").unwrap();
        assert_eq!(
            e,
            Expr::Event(EventMatch {
                name: "runlevel".into(),
                args: vec![
                    Arg::Positional("[!06]".into()),
                    Arg::Eq("PREVLEVEL".into(), "S".into()),
                    Arg::Ne("X".into(), "".into()),
                ]
            })
        );
    }

    #[test]
    fn quoted_operator_is_an_operand() {
        assert_eq!(parse("\"and\"").unwrap(), ev("and"));
    }

    #[test]
    fn spans_lines_inside_parentheses() {
        let mut lx = Lexer::new("(a # note\n  or\n\n b)\nnext");
        let e = parse_expr(&mut lx, false).unwrap();
        assert_eq!(e, or(ev("a"), ev("b")));
        assert_eq!(lx.line(), 5);
    }

    #[test]
    fn stops_at_line_end_without_parenthesis() {
        let mut lx = Lexer::new("a or\nb");
        let e = parse_expr(&mut lx, false).unwrap_err();
        assert_eq!(e.message, "expected event");
    }

    fn err(s: &str) -> (usize, String) {
        let e = parse(s).unwrap_err();
        (e.col, e.message)
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("and a"), (1, "expected event".into()));
        assert_eq!(err("a or"), (5, "expected event".into()));
        assert_eq!(err("a and or b"), (7, "expected event".into()));
        assert_eq!(err("(a").0, 1);
        assert_eq!(err("(a").1, "mismatched parentheses");
        assert_eq!(err("a)"), (2, "mismatched parentheses".into()));
        assert_eq!(err("a (b)"), (3, "expected operator".into()));
        assert_eq!(err("(a) b"), (5, "expected operator".into()));
        assert_eq!(err("()").1, "expected event");
        assert_eq!(err("").1, "expected event");
        assert!(err("a K=v pos").1.starts_with("expected variable name"));
        assert!(err("a =v").1.starts_with("expected variable name"));
    }

    #[test]
    fn ready_sources() {
        let e = parse_expr(
            &mut Lexer::new("file /run/x and listening tcp:[::1]:80 or dbus org.x"),
            true,
        )
        .unwrap();
        assert_eq!(
            e,
            or(
                and(
                    Expr::Ready(ReadySource::File("/run/x".into())),
                    Expr::Ready(ReadySource::Listening(ListenAddr::Tcp {
                        addr: Some("::1".into()),
                        port: 80
                    }))
                ),
                Expr::Ready(ReadySource::Dbus("org.x".into()))
            )
        );
        assert!(parse_expr(&mut Lexer::new("listening tcp:0"), true).is_err());
        assert!(parse_expr(&mut Lexer::new("listening 80"), true).is_err());
        assert!(parse_expr(&mut Lexer::new("file"), true).is_err());
        assert_eq!(
            parse_listen("udp:127.0.0.1:53").unwrap(),
            ListenAddr::Udp {
                addr: Some("127.0.0.1".into()),
                port: 53
            }
        );
        assert_eq!(
            parse_listen("unix:/run/s").unwrap(),
            ListenAddr::Unix("/run/s".into())
        );
    }
}

//! A well-formedness check for XML documents (the SVGs outset writes and Graphviz's), by
//! XML 1.0's rules that matter for generated text: one root element, tags nested and
//! closed in order, attributes quoted and not repeated, no `<` or stray `&` in text or
//! values, only known or numeric character references, comments without `--`. Internal
//! DTD subsets are not read (a `DOCTYPE` may only name an external one).

/// What a well-formed document holds.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Xml {
    pub root: String,
    /// Every element's name, in document order.
    pub elements: Vec<String>,
    /// Every non-blank text node, references decoded, in document order.
    pub texts: Vec<String>,
    /// Every comment's text, prolog included.
    pub comments: Vec<String>,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == ':' || (c as u32) >= 0x80
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

struct Reader<'a> {
    s: &'a str,
    pos: usize,
}

impl Reader<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }

    fn eat(&mut self, lit: &str) -> bool {
        if self.rest().starts_with(lit) {
            self.pos += lit.len();
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        let n = self.rest().len()
            - self
                .rest()
                .trim_start_matches([' ', '\t', '\r', '\n'])
                .len();
        self.pos += n;
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        let line = self.s[..self.pos].matches('\n').count() + 1;
        Err(format!("line {line}: {what}"))
    }

    fn name(&mut self) -> Result<String, String> {
        let mut chars = self.rest().char_indices();
        match chars.next() {
            Some((_, c)) if is_name_start(c) => {}
            _ => return self.err("expected a name"),
        }
        let end = chars
            .find(|&(_, c)| !is_name_char(c))
            .map_or(self.rest().len(), |(i, _)| i);
        let n = self.rest()[..end].to_string();
        self.pos += end;
        Ok(n)
    }

    /// Up to and past `end`, returning what came before it.
    fn until(&mut self, end: &str, what: &str) -> Result<String, String> {
        match self.rest().find(end) {
            Some(i) => {
                let s = self.rest()[..i].to_string();
                self.pos += i + end.len();
                Ok(s)
            }
            None => self.err(&format!("unterminated {what}")),
        }
    }

    fn comment(&mut self, out: &mut Xml) -> Result<(), String> {
        let body = self.until("-->", "comment")?;
        if body.contains("--") || body.ends_with('-') {
            return self.err("-- inside a comment");
        }
        out.comments.push(body);
        Ok(())
    }

    /// Comments, processing instructions and white space.
    fn misc(&mut self, out: &mut Xml) -> Result<(), String> {
        loop {
            self.skip_ws();
            if self.eat("<!--") {
                self.comment(out)?;
            } else if self.rest().starts_with("<?") && !self.rest().starts_with("<?xml ") {
                self.pos += 2;
                self.until("?>", "processing instruction")?;
            } else {
                return Ok(());
            }
        }
    }
}

/// `s` with its references decoded; an error for `<`, a bare `&` or an unknown entity.
fn decode(s: &str) -> Result<String, String> {
    if s.contains('<') {
        return Err(format!("< in text or value: {s:?}"));
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let end = after.find(';').ok_or_else(|| format!("bare & in {s:?}"))?;
        let r = &after[..end];
        let c = match r {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ if r.starts_with("#x") => u32::from_str_radix(&r[2..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad reference &{r};"))?,
            _ if r.starts_with('#') => r[1..]
                .parse::<u32>()
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| format!("bad reference &{r};"))?,
            _ => return Err(format!("unknown entity &{r};")),
        };
        out.push(c);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if let Some(c) = out
        .chars()
        .find(|&c| (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(format!("control character {c:?} in {s:?}"));
    }
    Ok(out)
}

/// Checks that `text` is a well-formed XML document; what it holds on success.
pub fn parse(text: &str) -> Result<Xml, String> {
    let mut r = Reader { s: text, pos: 0 };
    let mut out = Xml::default();
    r.eat("\u{feff}");
    if r.eat("<?xml ") {
        r.until("?>", "XML declaration")?;
    }
    r.misc(&mut out)?;
    if r.eat("<!DOCTYPE") {
        let decl = r.until(">", "DOCTYPE")?;
        if decl.contains('[') {
            return r.err("internal DTD subsets are not read");
        }
        r.misc(&mut out)?;
    }
    if !r.rest().starts_with('<') {
        return r.err("no root element");
    }
    let mut stack: Vec<String> = Vec::new();
    loop {
        if r.eat("<!--") {
            r.comment(&mut out)?;
        } else if r.eat("<![CDATA[") {
            let t = r.until("]]>", "CDATA section")?;
            if !t.trim().is_empty() {
                out.texts.push(t);
            }
        } else if r.eat("<?") {
            r.until("?>", "processing instruction")?;
        } else if r.eat("</") {
            let name = r.name()?;
            r.skip_ws();
            if !r.eat(">") {
                return r.err("expected > after an end tag");
            }
            match stack.pop() {
                Some(open) if open == name => {}
                Some(open) => return r.err(&format!("</{name}> closes <{open}>")),
                None => return r.err(&format!("</{name}> closes nothing")),
            }
        } else if r.eat("<") {
            if stack.is_empty() && !out.root.is_empty() {
                return r.err("a second root element");
            }
            let name = r.name()?;
            let mut seen: Vec<String> = Vec::new();
            loop {
                let before = r.pos;
                r.skip_ws();
                if r.eat("/>") {
                    break;
                }
                if r.eat(">") {
                    stack.push(name.clone());
                    break;
                }
                if r.pos == before {
                    return r.err("attributes must be separated by white space");
                }
                let attr = r.name()?;
                if seen.contains(&attr) {
                    return r.err(&format!("attribute {attr} repeated"));
                }
                r.skip_ws();
                if !r.eat("=") {
                    return r.err(&format!("attribute {attr} has no value"));
                }
                r.skip_ws();
                let quote = if r.eat("\"") {
                    "\""
                } else if r.eat("'") {
                    "'"
                } else {
                    return r.err(&format!("attribute {attr}'s value is not quoted"));
                };
                let v = r.until(quote, "attribute value")?;
                decode(&v).map_err(|e| format!("attribute {attr}: {e}"))?;
                seen.push(attr);
            }
            if out.root.is_empty() {
                out.root = name.clone();
            }
            out.elements.push(name);
        } else {
            let end = r.rest().find('<').unwrap_or(r.rest().len());
            let raw = &r.rest()[..end];
            if stack.is_empty() {
                if !raw.trim().is_empty() {
                    return r.err("text outside the root element");
                }
            } else {
                if raw.contains("]]>") {
                    return r.err("]]> in text");
                }
                let t = decode(raw).map_err(|e| format!("text: {e}"))?;
                if !t.trim().is_empty() {
                    out.texts.push(t);
                }
            }
            r.pos += end;
        }
        if stack.is_empty() && !out.root.is_empty() {
            break;
        }
        if r.rest().is_empty() {
            return r.err(&format!("unclosed <{}>", stack.last().map_or("", |s| s)));
        }
    }
    r.misc(&mut out)?;
    if !r.rest().is_empty() {
        return r.err("content after the root element");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed() {
        let x = parse(
            "<?xml version=\"1.0\"?>\n<!-- by me -->\n<!DOCTYPE svg PUBLIC \"a\" \"b\">\n<svg a=\"1\" b='x &amp; y'><g><text>a &lt; b &#x2192;</text></g><br/></svg>\n",
        )
        .unwrap();
        assert_eq!(x.root, "svg");
        assert_eq!(x.elements, ["svg", "g", "text", "br"]);
        assert_eq!(x.texts, ["a < b \u{2192}"]);
        assert_eq!(x.comments, [" by me "]);
    }

    #[test]
    fn not_well_formed() {
        for bad in [
            "<a><b></a></b>",
            "<a>",
            "<a x=1/>",
            "<a x=\"1\" x=\"2\"/>",
            "<a>x & y</a>",
            "<a>x < y</a>",
            "<a>&nbsp;</a>",
            "<a/><b/>",
            "<a/>text",
            "<a x=\"<\"/>",
            "<a><!-- a -- b --></a>",
            "<a x=\"1\"y=\"2\"/>",
            "",
            "<a>\u{1}</a>",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}

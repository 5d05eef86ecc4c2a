//! Typed values, signatures, and their marshalling (the spec's "Marshaling" rules: each
//! value aligned to its type's boundary, counted from the start of the message).

use crate::{Error, err};

/// The deepest nesting of arrays plus structs a signature may have (the spec allows 32 of
/// each; one bound for both keeps decoding's recursion small).
pub const MAX_DEPTH: usize = 32;
/// The longest signature the spec allows.
pub const MAX_SIGNATURE: usize = 255;

/// A D-Bus type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    Byte,
    Bool,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    Double,
    Str,
    Path,
    Sig,
    /// A Unix fd (an index into the message's fds).
    Fd,
    Array(Box<Type>),
    Struct(Vec<Type>),
    /// `{kv}`, only as an array's element.
    Entry(Box<Type>, Box<Type>),
    Variant,
}

impl Type {
    /// The boundary values of this type start on.
    pub fn align(&self) -> usize {
        match self {
            Type::Byte | Type::Sig | Type::Variant => 1,
            Type::I16 | Type::U16 => 2,
            Type::Bool | Type::I32 | Type::U32 | Type::Str | Type::Path | Type::Fd => 4,
            Type::Array(_) => 4,
            Type::I64 | Type::U64 | Type::Double | Type::Struct(_) | Type::Entry(..) => 8,
        }
    }

    /// Appends this type's signature to `out`.
    pub fn write_signature(&self, out: &mut String) {
        let c = match self {
            Type::Byte => 'y',
            Type::Bool => 'b',
            Type::I16 => 'n',
            Type::U16 => 'q',
            Type::I32 => 'i',
            Type::U32 => 'u',
            Type::I64 => 'x',
            Type::U64 => 't',
            Type::Double => 'd',
            Type::Str => 's',
            Type::Path => 'o',
            Type::Sig => 'g',
            Type::Fd => 'h',
            Type::Variant => 'v',
            Type::Array(t) => {
                out.push('a');
                return t.write_signature(out);
            }
            Type::Struct(ts) => {
                out.push('(');
                ts.iter().for_each(|t| t.write_signature(out));
                out.push(')');
                return;
            }
            Type::Entry(k, v) => {
                out.push('{');
                k.write_signature(out);
                v.write_signature(out);
                out.push('}');
                return;
            }
        };
        out.push(c);
    }

    pub fn signature(&self) -> String {
        let mut s = String::new();
        self.write_signature(&mut s);
        s
    }

    fn is_basic(&self) -> bool {
        !matches!(
            self,
            Type::Array(_) | Type::Struct(_) | Type::Entry(..) | Type::Variant
        )
    }
}

/// The complete types of a signature, in order. Refuses what the spec refuses: unknown
/// codes, unbalanced parentheses, empty structs, dict entries outside arrays or with a
/// non-basic key, more than [`MAX_SIGNATURE`] bytes or [`MAX_DEPTH`] levels.
pub fn parse_signature(sig: &str) -> Result<Vec<Type>, Error> {
    if sig.len() > MAX_SIGNATURE {
        return err("signature too long");
    }
    let bytes = sig.as_bytes();
    let mut at = 0;
    let mut out = Vec::new();
    while at < bytes.len() {
        out.push(parse_one(bytes, &mut at, 0, false)?);
    }
    Ok(out)
}

fn parse_one(b: &[u8], at: &mut usize, depth: usize, in_array: bool) -> Result<Type, Error> {
    if depth > MAX_DEPTH {
        return err("signature nested too deeply");
    }
    let Some(&c) = b.get(*at) else {
        return err("signature ends inside a type");
    };
    *at += 1;
    Ok(match c {
        b'y' => Type::Byte,
        b'b' => Type::Bool,
        b'n' => Type::I16,
        b'q' => Type::U16,
        b'i' => Type::I32,
        b'u' => Type::U32,
        b'x' => Type::I64,
        b't' => Type::U64,
        b'd' => Type::Double,
        b's' => Type::Str,
        b'o' => Type::Path,
        b'g' => Type::Sig,
        b'h' => Type::Fd,
        b'v' => Type::Variant,
        b'a' => Type::Array(Box::new(parse_one(b, at, depth + 1, true)?)),
        b'(' => {
            let mut fields = Vec::new();
            while b.get(*at) != Some(&b')') {
                fields.push(parse_one(b, at, depth + 1, false)?);
            }
            *at += 1;
            if fields.is_empty() {
                return err("empty struct in signature");
            }
            Type::Struct(fields)
        }
        b'{' if in_array => {
            let k = parse_one(b, at, depth + 1, false)?;
            if !k.is_basic() {
                return err("dict key is not a basic type");
            }
            let v = parse_one(b, at, depth + 1, false)?;
            if b.get(*at) != Some(&b'}') {
                return err("dict entry must have exactly two types");
            }
            *at += 1;
            Type::Entry(Box::new(k), Box::new(v))
        }
        other => return err(format!("bad type code {:?} in signature", other as char)),
    })
}

/// A D-Bus value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Byte(u8),
    Bool(bool),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    Double(f64),
    Str(String),
    Path(String),
    Sig(String),
    Fd(u32),
    /// The element type (needed for an empty array), then the elements.
    Array(Type, Vec<Value>),
    Struct(Vec<Value>),
    Entry(Box<Value>, Box<Value>),
    Variant(Box<Value>),
}

impl Value {
    pub fn type_of(&self) -> Type {
        match self {
            Value::Byte(_) => Type::Byte,
            Value::Bool(_) => Type::Bool,
            Value::I16(_) => Type::I16,
            Value::U16(_) => Type::U16,
            Value::I32(_) => Type::I32,
            Value::U32(_) => Type::U32,
            Value::I64(_) => Type::I64,
            Value::U64(_) => Type::U64,
            Value::Double(_) => Type::Double,
            Value::Str(_) => Type::Str,
            Value::Path(_) => Type::Path,
            Value::Sig(_) => Type::Sig,
            Value::Fd(_) => Type::Fd,
            Value::Array(t, _) => Type::Array(Box::new(t.clone())),
            Value::Struct(vs) => Type::Struct(vs.iter().map(Value::type_of).collect()),
            Value::Entry(k, v) => Type::Entry(Box::new(k.type_of()), Box::new(v.type_of())),
            Value::Variant(_) => Type::Variant,
        }
    }

    /// An `as`.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Value {
        Value::Array(
            Type::Str,
            items
                .iter()
                .map(|s| Value::Str(s.as_ref().into()))
                .collect(),
        )
    }

    /// An `ao`.
    pub fn paths(items: Vec<String>) -> Value {
        Value::Array(Type::Path, items.into_iter().map(Value::Path).collect())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Sig(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The strings of an `as`.
    pub fn as_strings(&self) -> Option<Vec<String>> {
        match self {
            Value::Array(Type::Str, items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => None,
        }
    }
}

/// Appends marshalled values; offsets (for alignment) count from the buffer's start, which
/// must be the message's start or an 8-aligned point in it (the body).
#[derive(Debug, Default)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    pub fn value(&mut self, v: &Value) {
        match v {
            Value::Byte(b) => self.buf.push(*b),
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::I16(n) => {
                self.pad(2);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::U16(n) => {
                self.pad(2);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::I32(n) => {
                self.pad(4);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::U32(n) | Value::Fd(n) => self.u32(*n),
            Value::I64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::U64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes());
            }
            Value::Double(d) => {
                self.pad(8);
                self.buf.extend_from_slice(&d.to_le_bytes());
            }
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Sig(s) => self.signature(s),
            Value::Array(t, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                self.pad(t.align());
                let start = self.buf.len();
                items.iter().for_each(|i| self.value(i));
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(vs) => {
                self.pad(8);
                vs.iter().for_each(|v| self.value(v));
            }
            Value::Entry(k, v) => {
                self.pad(8);
                self.value(k);
                self.value(v);
            }
            Value::Variant(inner) => {
                self.signature(&inner.type_of().signature());
                self.value(inner);
            }
        }
    }
}

/// Reads marshalled values from `buf`, whose offset 0 is 8-aligned in the message.
pub struct Reader<'a> {
    buf: &'a [u8],
    pub at: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], big_endian: bool) -> Reader<'a> {
        Reader {
            buf,
            at: 0,
            big_endian,
        }
    }

    fn align(&mut self, n: usize) -> Result<(), Error> {
        let to = self.at.div_ceil(n) * n;
        let pad = self.buf.get(self.at..to).ok_or(Error("truncated".into()))?;
        if pad.iter().any(|&b| b != 0) {
            return err("non-zero padding");
        }
        self.at = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self.at.checked_add(n).ok_or(Error("truncated".into()))?;
        let s = self
            .buf
            .get(self.at..end)
            .ok_or(Error("truncated".into()))?;
        self.at = end;
        Ok(s)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        self.align(N)?;
        let mut b = [0u8; N];
        b.copy_from_slice(self.take(N)?);
        if self.big_endian {
            b.reverse();
        }
        Ok(b)
    }

    pub fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.fixed::<4>()?))
    }

    fn string_bytes(&mut self, len: usize) -> Result<String, Error> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return err("string not NUL-terminated");
        }
        if bytes.contains(&0) {
            return err("NUL inside a string");
        }
        String::from_utf8(bytes.to_vec()).or(err("string is not UTF-8"))
    }

    fn signature(&mut self) -> Result<String, Error> {
        let len = self.take(1)?[0] as usize;
        let s = self.string_bytes(len)?;
        parse_signature(&s)?;
        Ok(s)
    }

    /// One value of type `t`.
    pub fn value(&mut self, t: &Type, depth: usize) -> Result<Value, Error> {
        if depth > 2 * MAX_DEPTH {
            return err("value nested too deeply");
        }
        Ok(match t {
            Type::Byte => Value::Byte(self.take(1)?[0]),
            Type::Bool => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                _ => return err("boolean is neither 0 nor 1"),
            },
            Type::I16 => Value::I16(i16::from_le_bytes(self.fixed::<2>()?)),
            Type::U16 => Value::U16(u16::from_le_bytes(self.fixed::<2>()?)),
            Type::I32 => Value::I32(i32::from_le_bytes(self.fixed::<4>()?)),
            Type::U32 => Value::U32(self.u32()?),
            Type::Fd => Value::Fd(self.u32()?),
            Type::I64 => Value::I64(i64::from_le_bytes(self.fixed::<8>()?)),
            Type::U64 => Value::U64(u64::from_le_bytes(self.fixed::<8>()?)),
            Type::Double => Value::Double(f64::from_le_bytes(self.fixed::<8>()?)),
            Type::Str => {
                let len = self.u32()? as usize;
                Value::Str(self.string_bytes(len)?)
            }
            Type::Path => {
                let len = self.u32()? as usize;
                let p = self.string_bytes(len)?;
                if !crate::path::is_valid(&p) {
                    return err(format!("invalid object path {p:?}"));
                }
                Value::Path(p)
            }
            Type::Sig => Value::Sig(self.signature()?),
            Type::Array(elem) => {
                let len = self.u32()? as usize;
                if len > 1 << 26 {
                    return err("array longer than 64 MiB");
                }
                self.align(elem.align())?;
                let end = self.at.checked_add(len).ok_or(Error("truncated".into()))?;
                if end > self.buf.len() {
                    return err("truncated array");
                }
                let mut items = Vec::new();
                while self.at < end {
                    items.push(self.value(elem, depth + 1)?);
                }
                if self.at != end {
                    return err("array length does not match its elements");
                }
                Value::Array((**elem).clone(), items)
            }
            Type::Struct(fields) => {
                self.align(8)?;
                let mut vs = Vec::with_capacity(fields.len());
                for f in fields {
                    vs.push(self.value(f, depth + 1)?);
                }
                Value::Struct(vs)
            }
            Type::Entry(k, v) => {
                self.align(8)?;
                let k = self.value(k, depth + 1)?;
                let v = self.value(v, depth + 1)?;
                Value::Entry(Box::new(k), Box::new(v))
            }
            Type::Variant => {
                let sig = self.signature()?;
                let mut types = parse_signature(&sig)?;
                if types.len() != 1 {
                    return err("variant signature is not a single type");
                }
                let t = types.remove(0);
                Value::Variant(Box::new(self.value(&t, depth + 1)?))
            }
        })
    }

    pub fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.at)
    }
}

/// Marshals `values` as a body (offset 0 is 8-aligned in the message).
pub fn encode_body(values: &[Value]) -> Vec<u8> {
    let mut w = Writer::default();
    values.iter().for_each(|v| w.value(v));
    w.buf
}

/// Unmarshals a body of signature `sig`; every byte must be used.
pub fn decode_body(body: &[u8], sig: &str, big_endian: bool) -> Result<Vec<Value>, Error> {
    let types = parse_signature(sig)?;
    let mut r = Reader::new(body, big_endian);
    let mut out = Vec::with_capacity(types.len());
    for t in &types {
        out.push(r.value(t, 0)?);
    }
    if r.remaining() != 0 {
        return err("bytes left after the body's values");
    }
    Ok(out)
}

/// The signature of a sequence of values.
pub fn signature_of(values: &[Value]) -> String {
    let mut s = String::new();
    values
        .iter()
        .for_each(|v| v.type_of().write_signature(&mut s));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(values: Vec<Value>) {
        let sig = signature_of(&values);
        let bytes = encode_body(&values);
        assert_eq!(decode_body(&bytes, &sig, false).unwrap(), values, "{sig}");
    }

    #[test]
    fn signatures_parse_and_print_back() {
        for sig in [
            "",
            "s",
            "sasb",
            "a(si)",
            "a{sv}",
            "aas",
            "(yv)",
            "ao",
            "sasbh",
            "aa{s(ii)}",
        ] {
            let types = parse_signature(sig).unwrap();
            let back: String = types.iter().map(Type::signature).collect();
            assert_eq!(back, sig);
        }
        for bad in ["(", ")", "()", "{sv}", "a{vs}", "a{sss}", "a", "z", "a{s}"] {
            assert!(parse_signature(bad).is_err(), "{bad}");
        }
        let deep = "a".repeat(40) + "s";
        assert!(parse_signature(&deep).is_err());
    }

    #[test]
    fn every_type_round_trips() {
        round_trip(vec![
            Value::Byte(7),
            Value::Bool(true),
            Value::I16(-2),
            Value::U16(3),
            Value::I32(-40),
            Value::U32(40),
            Value::I64(-1 << 40),
            Value::U64(1 << 50),
            Value::Double(1.5),
            Value::Str("héllo".into()),
            Value::Path("/com/ubuntu/Upstart".into()),
            Value::Sig("a{sv}".into()),
            Value::Fd(0),
        ]);
        round_trip(vec![
            Value::strings(&["A=1", "B=2"]),
            Value::Array(
                Type::Struct(vec![Type::Str, Type::I32]),
                vec![Value::Struct(vec![
                    Value::Str("main".into()),
                    Value::I32(42),
                ])],
            ),
            Value::Array(
                Type::Entry(Box::new(Type::Str), Box::new(Type::Variant)),
                vec![Value::Entry(
                    Box::new(Value::Str("name".into())),
                    Box::new(Value::Variant(Box::new(Value::Str("x".into())))),
                )],
            ),
            Value::Array(Type::Array(Box::new(Type::Str)), vec![]),
            Value::Array(Type::U64, vec![]),
        ]);
    }

    /// The spec's layout: an `a(si)` pads to 8 after its length even when empty.
    #[test]
    fn arrays_of_structs_pad_their_first_element() {
        let empty = encode_body(&[Value::Array(Type::Struct(vec![Type::Str]), vec![])]);
        assert_eq!(empty, vec![0, 0, 0, 0, 0, 0, 0, 0]);
        let b = encode_body(&[Value::Byte(1), Value::strings(&["a"])]);
        assert_eq!(b, vec![1, 0, 0, 0, 6, 0, 0, 0, 1, 0, 0, 0, b'a', 0]);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        // Boolean 2, string without NUL, bad UTF-8, array longer than the body, padding.
        assert!(decode_body(&[2, 0, 0, 0], "b", false).is_err());
        assert!(decode_body(&[1, 0, 0, 0, b'a', 1], "s", false).is_err());
        assert!(decode_body(&[1, 0, 0, 0, 0xff, 0], "s", false).is_err());
        assert!(decode_body(&[100, 0, 0, 0], "as", false).is_err());
        assert!(decode_body(&[1, 1, 0, 0, 1, 0, 0, 0], "yu", false).is_err());
        assert!(decode_body(&[1, 0, 0, 0, 1], "u", false).is_err());
        assert!(decode_body(&[3, b'b', b'a', b'd', 0], "o", false).is_err());
    }

    #[test]
    fn big_endian_numbers_read_as_sent() {
        assert_eq!(
            decode_body(&[0, 0, 1, 2], "u", true).unwrap(),
            vec![Value::U32(0x102)]
        );
    }
}

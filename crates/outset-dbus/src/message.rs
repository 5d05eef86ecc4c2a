//! Whole messages: the fixed header, the header fields, the body.

use crate::value::{Reader, Type, Value, Writer, decode_body, encode_body, signature_of};
use crate::{Error, err};

/// The largest message outset takes or makes (the control socket's request limit; the
/// spec allows 128 MiB, which no call to init needs).
pub const MAX_MESSAGE: usize = 1 << 20;

/// Flag: the caller wants no reply.
pub const NO_REPLY_EXPECTED: u8 = 0x1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    MethodCall = 1,
    Return = 2,
    Error = 3,
    Signal = 4,
}

/// A message with its header fields and decoded body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub kind: Option<Kind>,
    pub flags: u8,
    pub serial: u32,
    pub path: Option<String>,
    pub interface: Option<String>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub reply_serial: Option<u32>,
    pub destination: Option<String>,
    pub sender: Option<String>,
    /// How many fds the message carries (UNIX_FDS).
    pub unix_fds: u32,
    pub body: Vec<Value>,
}

impl Message {
    pub fn method_call(path: &str, interface: &str, member: &str, body: Vec<Value>) -> Message {
        Message {
            kind: Some(Kind::MethodCall),
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            body,
            ..Message::default()
        }
    }

    pub fn signal(path: &str, interface: &str, member: &str, body: Vec<Value>) -> Message {
        Message {
            kind: Some(Kind::Signal),
            ..Message::method_call(path, interface, member, body)
        }
    }

    /// The return for `call`, addressed to its sender.
    pub fn reply_to(call: &Message, body: Vec<Value>) -> Message {
        Message {
            kind: Some(Kind::Return),
            reply_serial: Some(call.serial),
            destination: call.sender.clone(),
            body,
            ..Message::default()
        }
    }

    /// The error `name` for `call`, with a human-readable `text`.
    pub fn error_to(call: &Message, name: &str, text: &str) -> Message {
        Message {
            kind: Some(Kind::Error),
            error_name: Some(name.into()),
            ..Message::reply_to(call, vec![Value::Str(text.into())])
        }
    }

    pub fn wants_reply(&self) -> bool {
        self.kind == Some(Kind::MethodCall) && self.flags & NO_REPLY_EXPECTED == 0
    }

    pub fn signature(&self) -> String {
        signature_of(&self.body)
    }

    /// Whether every `h` value of the body indexes one of the `unix_fds` the message says
    /// it carries (the spec's rule; a message that breaks it is invalid).
    pub fn fd_indexes_valid(&self) -> bool {
        fn ok(v: &Value, n: u32) -> bool {
            match v {
                Value::Fd(i) => *i < n,
                Value::Array(_, vs) | Value::Struct(vs) => vs.iter().all(|v| ok(v, n)),
                Value::Entry(k, v) => ok(k, n) && ok(v, n),
                Value::Variant(v) => ok(v, n),
                _ => true,
            }
        }
        self.body.iter().all(|v| ok(v, self.unix_fds))
    }

    /// The wire bytes (little-endian). `serial` must be set (non-zero).
    pub fn encode(&self) -> Vec<u8> {
        let body = encode_body(&self.body);
        let sig = self.signature();
        let field = |code: u8, v: Value| {
            Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(v))])
        };
        let mut fields = Vec::new();
        let s = |o: &Option<String>| o.clone();
        if let Some(p) = s(&self.path) {
            fields.push(field(1, Value::Path(p)));
        }
        if let Some(i) = s(&self.interface) {
            fields.push(field(2, Value::Str(i)));
        }
        if let Some(m) = s(&self.member) {
            fields.push(field(3, Value::Str(m)));
        }
        if let Some(e) = s(&self.error_name) {
            fields.push(field(4, Value::Str(e)));
        }
        if let Some(r) = self.reply_serial {
            fields.push(field(5, Value::U32(r)));
        }
        if let Some(d) = s(&self.destination) {
            fields.push(field(6, Value::Str(d)));
        }
        if let Some(d) = s(&self.sender) {
            fields.push(field(7, Value::Str(d)));
        }
        if !sig.is_empty() {
            fields.push(field(8, Value::Sig(sig)));
        }
        if self.unix_fds > 0 {
            fields.push(field(9, Value::U32(self.unix_fds)));
        }
        let mut w = Writer::default();
        w.buf
            .extend_from_slice(&[b'l', self.kind.map_or(0, |k| k as u8), self.flags, 1]);
        w.buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
        w.buf.extend_from_slice(&self.serial.to_le_bytes());
        w.value(&Value::Array(
            Type::Struct(vec![Type::Byte, Type::Variant]),
            fields,
        ));
        w.pad(8);
        w.buf.extend_from_slice(&body);
        w.buf
    }
}

fn u32_at(b: &[u8], at: usize, big: bool) -> u32 {
    let mut x = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if big {
        x.reverse();
    }
    u32::from_le_bytes(x)
}

/// How long the first message in `buf` is: `Ok(None)` while fewer than 16 bytes are there,
/// an error when its header says it cannot be a message outset would take.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, Error> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let big = match buf[0] {
        b'l' => false,
        b'B' => true,
        _ => return err("bad endianness byte"),
    };
    if buf[3] != 1 {
        return err("unsupported protocol version");
    }
    let body = u32_at(buf, 4, big) as usize;
    let fields = u32_at(buf, 12, big) as usize;
    if body > MAX_MESSAGE || fields > MAX_MESSAGE {
        return err("message too large");
    }
    let total = (16 + fields).div_ceil(8) * 8 + body;
    if total > MAX_MESSAGE {
        return err("message too large");
    }
    Ok(Some(total))
}

/// The length the first message's header declares, without the size limit (`None`: fewer
/// than 16 bytes, or not a D-Bus header). Lets a connection that must stay up (the bus) skip
/// a message too large to take instead of dropping the stream.
pub fn declared_len(buf: &[u8]) -> Option<u64> {
    if buf.len() < 16 || buf[3] != 1 {
        return None;
    }
    let big = match buf[0] {
        b'l' => false,
        b'B' => true,
        _ => return None,
    };
    let body = u64::from(u32_at(buf, 4, big));
    let fields = u64::from(u32_at(buf, 12, big));
    Some((16 + fields).div_ceil(8) * 8 + body)
}

/// Decodes one whole message (exactly the [`frame_len`] bytes).
pub fn decode(buf: &[u8]) -> Result<Message, Error> {
    let Some(total) = frame_len(buf)? else {
        return err("truncated header");
    };
    if buf.len() != total {
        return err("message length does not match its header");
    }
    let big = buf[0] == b'B';
    let kind = match buf[1] {
        1 => Kind::MethodCall,
        2 => Kind::Return,
        3 => Kind::Error,
        4 => Kind::Signal,
        _ => return err("unknown message type"),
    };
    let mut m = Message {
        kind: Some(kind),
        flags: buf[2],
        serial: u32_at(buf, 8, big),
        ..Message::default()
    };
    if m.serial == 0 {
        return err("serial 0");
    }
    let body_len = u32_at(buf, 4, big) as usize;
    let fields_end = 16 + u32_at(buf, 12, big) as usize;
    // The fields array starts at offset 12 (its length), aligned as the message is.
    let mut r = Reader::new(&buf[..fields_end], big);
    r.at = 12;
    let fields = r.value(
        &Type::Array(Box::new(Type::Struct(vec![Type::Byte, Type::Variant]))),
        0,
    )?;
    let mut signature = String::new();
    let Value::Array(_, fields) = fields else {
        return err("header fields are not an array");
    };
    for f in fields {
        let Value::Struct(mut pair) = f else {
            return err("header field is not a struct");
        };
        let (Some(Value::Variant(v)), Some(Value::Byte(code))) = (pair.pop(), pair.pop()) else {
            return err("header field is not (yv)");
        };
        match (code, *v) {
            (1, Value::Path(p)) => m.path = Some(p),
            (2, Value::Str(s)) => m.interface = Some(s),
            (3, Value::Str(s)) => m.member = Some(s),
            (4, Value::Str(s)) => m.error_name = Some(s),
            (5, Value::U32(n)) => m.reply_serial = Some(n),
            (6, Value::Str(s)) => m.destination = Some(s),
            (7, Value::Str(s)) => m.sender = Some(s),
            (8, Value::Sig(s)) => signature = s,
            (9, Value::U32(n)) => m.unix_fds = n,
            (1..=9, _) => return err(format!("header field {code} has the wrong type")),
            // Unknown fields are ignored, as the spec says.
            _ => {}
        }
    }
    let required = match kind {
        Kind::MethodCall => m.path.is_some() && m.member.is_some(),
        Kind::Signal => m.path.is_some() && m.interface.is_some() && m.member.is_some(),
        Kind::Error => m.error_name.is_some() && m.reply_serial.is_some(),
        Kind::Return => m.reply_serial.is_some(),
    };
    if !required {
        return err("a required header field is missing");
    }
    let body_at = fields_end.div_ceil(8) * 8;
    if buf[fields_end..body_at].iter().any(|&b| b != 0) {
        return err("non-zero padding after the header");
    }
    m.body = decode_body(&buf[body_at..body_at + body_len], &signature, big)?;
    Ok(m)
}

/// Splits the first complete message off the front of `buf`: `Ok(None)` while it is
/// incomplete; an error means the stream is not D-Bus and the connection should go.
pub fn take(buf: &mut Vec<u8>) -> Result<Option<Message>, Error> {
    let Some(total) = frame_len(buf)? else {
        return Ok(None);
    };
    if buf.len() < total {
        return Ok(None);
    }
    let m = decode(&buf[..total]);
    buf.drain(..total);
    m.map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let mut m = Message::method_call(
            "/com/ubuntu/Upstart",
            "com.ubuntu.Upstart0_6",
            "EmitEvent",
            vec![
                Value::Str("net-up".into()),
                Value::strings(&["IFACE=eth0"]),
                Value::Bool(true),
            ],
        );
        m.serial = 7;
        m.destination = Some("com.ubuntu.Upstart".into());
        m
    }

    #[test]
    fn messages_round_trip() {
        let m = sample();
        let bytes = m.encode();
        assert_eq!(frame_len(&bytes).unwrap(), Some(bytes.len()));
        assert_eq!(decode(&bytes).unwrap(), m);
        let mut e = Message::error_to(
            &m,
            "com.ubuntu.Upstart0_6.Error.UnknownJob",
            "Unknown job: x",
        );
        e.serial = 8;
        assert_eq!(decode(&e.encode()).unwrap(), e);
    }

    /// What libdbus sends for `dbus-send --print-reply --dest=com.ubuntu.Upstart
    /// /com/ubuntu/Upstart com.ubuntu.Upstart0_6.GetJobByName string:web`, byte for byte
    /// as the spec lays it out.
    #[test]
    fn a_libdbus_call_decodes() {
        let mut m = Message::method_call(
            "/com/ubuntu/Upstart",
            "com.ubuntu.Upstart0_6",
            "GetJobByName",
            vec![Value::Str("web".into())],
        );
        m.serial = 2;
        let bytes = m.encode();
        assert_eq!(&bytes[..4], b"l\x01\x00\x01");
        assert_eq!(&bytes[4..8], &8u32.to_le_bytes());
        let body_at = bytes.len() - 8;
        assert_eq!(&bytes[body_at..], b"\x03\0\0\0web\0");
    }

    /// Issue 16: Upstart's `EmitEventWithFile(s, as, b, h)` with its UNIX_FDS header field.
    #[test]
    fn issue16_emit_event_with_file_round_trips() {
        let mut m = Message::method_call(
            "/com/ubuntu/Upstart",
            "com.ubuntu.Upstart0_6",
            "EmitEventWithFile",
            vec![
                Value::Str("my-event".into()),
                Value::strings(&["A=1"]),
                Value::Bool(true),
                Value::Fd(0),
            ],
        );
        m.serial = 3;
        m.unix_fds = 1;
        assert_eq!(m.signature(), "sasbh");
        let back = decode(&m.encode()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.unix_fds, 1);
        assert!(back.fd_indexes_valid());
        // An index past the fds the header declares is invalid, and so is none declared.
        let mut bad = m.clone();
        bad.body[3] = Value::Fd(1);
        assert!(!bad.fd_indexes_valid());
        bad.unix_fds = 0;
        bad.body[3] = Value::Fd(0);
        assert!(!decode(&bad.encode()).unwrap().fd_indexes_valid());
    }

    #[test]
    fn take_splits_a_stream() {
        let a = sample().encode();
        let mut stream = a.clone();
        stream.extend_from_slice(&a[..10]);
        assert_eq!(take(&mut stream).unwrap(), Some(sample()));
        assert_eq!(take(&mut stream).unwrap(), None);
        assert_eq!(stream.len(), 10);
    }

    #[test]
    fn an_oversized_message_declares_its_length() {
        let mut b = sample().encode();
        b[4..8].copy_from_slice(&(3u32 << 20).to_le_bytes());
        assert!(frame_len(&b).is_err());
        let fields = u64::from(u32::from_le_bytes([b[12], b[13], b[14], b[15]]));
        assert_eq!(
            declared_len(&b),
            Some((16 + fields).div_ceil(8) * 8 + (3 << 20))
        );
        assert_eq!(declared_len(b"xyz"), None);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let good = sample().encode();
        let mut bad = good.clone();
        bad[0] = b'x';
        assert!(frame_len(&bad).is_err());
        let mut bad = good.clone();
        bad[3] = 2;
        assert!(frame_len(&bad).is_err());
        let mut bad = good.clone();
        bad[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(&bad).is_err());
        let mut bad = good.clone();
        bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(frame_len(&bad).is_err());
        // No member.
        let mut m = sample();
        m.member = None;
        assert!(decode(&m.encode()).is_err());
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err());
        }
    }

    proptest::proptest! {
        /// Any bytes: an answer, never a panic.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = decode(&bytes);
            let mut b = bytes.clone();
            let _ = take(&mut b);
        }

        /// A valid message with bytes flipped: an answer, never a panic.
        #[test]
        fn mangled_messages_never_panic(at in 0usize..200, byte in proptest::num::u8::ANY) {
            let mut b = sample().encode();
            let i = at % b.len();
            b[i] = byte;
            let _ = decode(&b);
        }
    }
}

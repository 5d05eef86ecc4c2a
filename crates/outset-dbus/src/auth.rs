//! The SASL handshake that opens a D-Bus connection, EXTERNAL only: the server side for
//! outset's private socket, and the client side for a bus (both negotiate fd passing).

/// The longest auth line taken (libdbus allows 16 KiB).
pub const MAX_LINE: usize = 16 * 1024;
/// Failed attempts before the connection is refused for good.
const MAX_REJECTS: u32 = 8;

/// The client's opening: the credentials NUL byte and `AUTH EXTERNAL <uid in hex>`.
pub fn client_hello(uid: u32) -> Vec<u8> {
    let hex: String = uid
        .to_string()
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\0AUTH EXTERNAL {hex}\r\n").into_bytes()
}

/// Where a server-side handshake stands after some input.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// More lines are needed.
    More,
    /// `BEGIN` was received: the connection speaks messages from here on.
    Done,
    /// The peer misbehaved or failed too often: close the connection.
    Fail(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The credentials byte has not arrived yet.
    Nul,
    /// Waiting for `AUTH`.
    Auth,
    /// `AUTH EXTERNAL` came without an identity: waiting for `DATA`.
    Data,
    /// `OK` was sent: waiting for `BEGIN` (or `NEGOTIATE_UNIX_FD`).
    Begin,
}

/// The server side of the handshake for a peer whose uid the kernel gave (SO_PEERCRED):
/// EXTERNAL succeeds when the identity the client claims (or, when it claims none, the
/// kernel's) is that uid. Fd passing (`NEGOTIATE_UNIX_FD`) is agreed to only when the
/// server allows it ([`Server::allow_fds`]), and declined otherwise.
#[derive(Debug)]
pub struct Server {
    peer_uid: u32,
    guid: String,
    state: State,
    rejects: u32,
    fds_allowed: bool,
    fds_agreed: bool,
}

impl Server {
    /// `guid`: the server's 32 hex digits, sent with `OK`.
    pub fn new(peer_uid: u32, guid: &str) -> Server {
        Server {
            peer_uid,
            guid: guid.into(),
            state: State::Nul,
            rejects: 0,
            fds_allowed: false,
            fds_agreed: false,
        }
    }

    /// Agree to `NEGOTIATE_UNIX_FD`: the peer may send fds with its messages.
    pub fn allow_fds(mut self) -> Server {
        self.fds_allowed = true;
        self
    }

    /// Whether the peer asked for fd passing and it was agreed to.
    pub fn fds_agreed(&self) -> bool {
        self.fds_agreed
    }

    /// Takes what it can from the front of `input` (leaving bytes after `BEGIN`, which are
    /// messages), appending its answers to `output`.
    pub fn feed(&mut self, input: &mut Vec<u8>, output: &mut Vec<u8>) -> Step {
        if self.state == State::Nul {
            match input.first() {
                None => return Step::More,
                Some(0) => {
                    input.remove(0);
                    self.state = State::Auth;
                }
                Some(_) => return Step::Fail("no credentials byte".into()),
            }
        }
        loop {
            let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
                if input.len() > MAX_LINE {
                    return Step::Fail("auth line too long".into());
                }
                return Step::More;
            };
            let line: Vec<u8> = input.drain(..end + 2).take(end).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            let mut words = line.split(' ');
            let command = words.next().unwrap_or_default();
            let arg = words.next();
            match (self.state, command) {
                (State::Auth, "AUTH") => match (arg, words.next()) {
                    (Some("EXTERNAL"), Some(hex)) => self.check(Some(hex), output),
                    (Some("EXTERNAL"), None) => {
                        self.state = State::Data;
                        output.extend_from_slice(b"DATA\r\n");
                    }
                    _ => self.reject(output),
                },
                (State::Data, "DATA") => self.check(arg, output),
                (State::Begin, "BEGIN") => return Step::Done,
                (State::Begin, "NEGOTIATE_UNIX_FD") if self.fds_allowed => {
                    self.fds_agreed = true;
                    output.extend_from_slice(b"AGREE_UNIX_FD\r\n");
                }
                (State::Begin, "NEGOTIATE_UNIX_FD") => {
                    output.extend_from_slice(b"ERROR fd passing is not allowed here\r\n");
                }
                (_, "CANCEL") | (_, "ERROR") => self.reject(output),
                (_, "BEGIN") => return Step::Fail("BEGIN before authentication".into()),
                _ => output.extend_from_slice(b"ERROR unexpected command\r\n"),
            }
            if self.rejects > MAX_REJECTS {
                return Step::Fail("too many failed authentication attempts".into());
            }
        }
    }

    fn check(&mut self, hex: Option<&str>, output: &mut Vec<u8>) {
        let claimed = match hex.filter(|h| !h.is_empty()) {
            None => Some(self.peer_uid),
            Some(h) => decode_hex(h)
                .and_then(|s| String::from_utf8(s).ok())
                .and_then(|s| s.parse::<u32>().ok()),
        };
        if claimed == Some(self.peer_uid) {
            self.state = State::Begin;
            output.extend_from_slice(format!("OK {}\r\n", self.guid).as_bytes());
        } else {
            self.reject(output);
        }
    }

    fn reject(&mut self, output: &mut Vec<u8>) {
        self.rejects += 1;
        self.state = State::Auth;
        output.extend_from_slice(b"REJECTED EXTERNAL\r\n");
    }
}

/// The client side after [`client_hello`]: waits for `OK`, asks for fd passing
/// (`NEGOTIATE_UNIX_FD`), then sends `BEGIN` whether or not the server agreed.
#[derive(Debug, Default)]
pub struct Client {
    asked: bool,
    fds_agreed: bool,
}

impl Client {
    /// Takes the server's lines from the front of `input` (leaving the bytes after the
    /// last one), appending the client's answers to `output`.
    pub fn feed(&mut self, input: &mut Vec<u8>, output: &mut Vec<u8>) -> Step {
        loop {
            let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
                if input.len() > MAX_LINE {
                    return Step::Fail("the server sent an over-long auth line".into());
                }
                return Step::More;
            };
            let line: Vec<u8> = input.drain(..end + 2).take(end).collect();
            let line = String::from_utf8_lossy(&line).into_owned();
            match (self.asked, line.split(' ').next().unwrap_or_default()) {
                (false, "OK") => {
                    self.asked = true;
                    output.extend_from_slice(b"NEGOTIATE_UNIX_FD\r\n");
                }
                (true, "AGREE_UNIX_FD" | "ERROR") => {
                    self.fds_agreed = line == "AGREE_UNIX_FD";
                    output.extend_from_slice(b"BEGIN\r\n");
                    return Step::Done;
                }
                _ => return Step::Fail(format!("the server refused: {}", line.trim())),
            }
        }
    }

    /// Whether the server agreed to fd passing.
    pub fn fds_agreed(&self) -> bool {
        self.fds_agreed
    }
}

fn decode_hex(h: &str) -> Option<Vec<u8>> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "0123456789abcdef0123456789abcdef";

    fn run(server: &mut Server, input: &[u8]) -> (Step, String, Vec<u8>) {
        let mut input = input.to_vec();
        let mut out = Vec::new();
        let step = server.feed(&mut input, &mut out);
        (step, String::from_utf8(out).unwrap(), input)
    }

    /// libdbus and gdbus: the identity in the AUTH line, then BEGIN and the first message.
    #[test]
    fn external_with_the_peers_uid_succeeds() {
        let mut s = Server::new(0, GUID);
        let mut hello = client_hello(0);
        hello.extend_from_slice(b"BEGIN\r\nlrest");
        let (step, out, rest) = run(&mut s, &hello);
        assert_eq!(step, Step::Done);
        assert_eq!(out, format!("OK {GUID}\r\n"));
        assert_eq!(rest, b"lrest");
    }

    /// sd-bus: AUTH EXTERNAL without an identity, then an empty DATA.
    #[test]
    fn external_without_an_identity_uses_the_kernels() {
        let mut s = Server::new(1000, GUID);
        let (step, out, _) = run(
            &mut s,
            b"\0AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n",
        );
        assert_eq!(step, Step::Done);
        assert_eq!(
            out,
            format!("DATA\r\nOK {GUID}\r\nERROR fd passing is not allowed here\r\n")
        );
        assert!(!s.fds_agreed());
    }

    /// Issue 16 (EmitEventWithFile): a server that allows fds agrees to NEGOTIATE_UNIX_FD.
    #[test]
    fn issue16_fd_passing_is_agreed_when_allowed() {
        let mut s = Server::new(0, GUID).allow_fds();
        let mut hello = client_hello(0);
        hello.extend_from_slice(b"NEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        let (step, out, _) = run(&mut s, &hello);
        assert_eq!(step, Step::Done);
        assert_eq!(out, format!("OK {GUID}\r\nAGREE_UNIX_FD\r\n"));
        assert!(s.fds_agreed());
        // Not asked: not agreed.
        let mut s = Server::new(0, GUID).allow_fds();
        let mut hello = client_hello(0);
        hello.extend_from_slice(b"BEGIN\r\n");
        assert_eq!(run(&mut s, &hello).0, Step::Done);
        assert!(!s.fds_agreed());
    }

    /// Issue 16: the client side asks a bus for fd passing after OK, and begins whether
    /// the bus agrees or not.
    #[test]
    fn issue16_client_negotiates_fd_passing() {
        let mut c = Client::default();
        let mut input = format!("OK {GUID}\r\n").into_bytes();
        let mut out = Vec::new();
        assert_eq!(c.feed(&mut input, &mut out), Step::More);
        assert_eq!(out, b"NEGOTIATE_UNIX_FD\r\n");
        let mut input = b"AGREE_UNIX_FD\r\nlrest".to_vec();
        let mut out = Vec::new();
        assert_eq!(c.feed(&mut input, &mut out), Step::Done);
        assert_eq!(out, b"BEGIN\r\n");
        assert_eq!(input, b"lrest");
        assert!(c.fds_agreed());
        // A bus that declines: no fds, the connection still opens.
        let mut c = Client::default();
        let mut input = format!("OK {GUID}\r\nERROR no\r\n").into_bytes();
        let mut out = Vec::new();
        assert_eq!(c.feed(&mut input, &mut out), Step::Done);
        assert_eq!(out, b"NEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
        assert!(!c.fds_agreed());
        // A refusal of the identity fails.
        let mut c = Client::default();
        let mut input = b"REJECTED EXTERNAL\r\n".to_vec();
        assert!(matches!(c.feed(&mut input, &mut Vec::new()), Step::Fail(_)));
    }

    /// Claiming another uid than the socket's peer has is refused.
    #[test]
    fn another_uid_is_rejected() {
        let mut s = Server::new(1000, GUID);
        let (step, out, _) = run(&mut s, &client_hello(0));
        assert_eq!(step, Step::More);
        assert_eq!(out, "REJECTED EXTERNAL\r\n");
        let (step, _, _) = run(&mut s, b"BEGIN\r\n");
        assert!(matches!(step, Step::Fail(_)));
        // Other mechanisms get the list of the one offered.
        let mut s = Server::new(0, GUID);
        let (_, out, _) = run(&mut s, b"\0AUTH\r\nAUTH DBUS_COOKIE_SHA1 30\r\n");
        assert_eq!(out, "REJECTED EXTERNAL\r\nREJECTED EXTERNAL\r\n");
    }

    #[test]
    fn garbage_ends_the_handshake() {
        let mut s = Server::new(0, GUID);
        assert!(matches!(
            run(&mut s, b"GET / HTTP/1.0\r\n").0,
            Step::Fail(_)
        ));
        let mut s = Server::new(0, GUID);
        assert!(matches!(
            run(&mut s, &[&[0u8][..], &vec![b'A'; MAX_LINE + 1]].concat()).0,
            Step::Fail(_)
        ));
        let mut s = Server::new(0, GUID);
        let many = b"AUTH EXTERNAL 31\r\n".repeat(20);
        assert!(matches!(
            run(&mut s, &[&[0u8][..], &many].concat()).0,
            Step::Fail(_)
        ));
    }
}

//! The D-Bus wire format, as much of it as outset's `com.ubuntu.Upstart0_6` service needs:
//! typed values and signatures ([`value`]), whole messages ([`message`]), the SASL lines of
//! the EXTERNAL handshake ([`auth`]) and Upstart's object-path escaping ([`path`]).
//!
//! Pure: no I/O and no syscalls, so every decoder can be fed arbitrary bytes (the fuzz
//! target `dbus_message` does) and the daemon keeps the sockets.

pub mod auth;
pub mod message;
pub mod path;
pub mod value;

pub use message::{Kind, Message};
pub use value::{Type, Value};

/// Why bytes are not a D-Bus message (or a value of the expected type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

pub(crate) fn err<T>(what: impl Into<String>) -> Result<T, Error> {
    Err(Error(what.into()))
}

//! The `dbus_message` fuzz target's checks, shared with the seed replay: any bytes as the
//! start of a D-Bus stream must give an answer, never a panic; whatever decodes encodes
//! back to a message that decodes to the same thing; and the EXTERNAL handshake takes any
//! bytes too.

use outset_dbus::auth::Server;
use outset_dbus::message::{decode, frame_len, take};

pub fn run(data: &[u8]) {
    if let Ok(m) = decode(data) {
        let again = decode(&m.encode()).expect("a decoded message re-encodes to a valid one");
        // Debug, not ==: a NaN double is equal to itself only in its printed form.
        assert_eq!(format!("{again:?}"), format!("{m:?}"));
    }
    if let Ok(Some(n)) = frame_len(data) {
        assert!(n >= 16);
    }
    let mut stream = data.to_vec();
    for _ in 0..4 {
        match take(&mut stream) {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    let mut input = data.to_vec();
    let mut output = Vec::new();
    let _ = Server::new(0, "0123456789abcdef0123456789abcdef").feed(&mut input, &mut output);
    assert!(input.len() <= data.len());
}

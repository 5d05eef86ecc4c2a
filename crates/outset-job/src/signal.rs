//! Signal names and numbers as Linux numbers them (x86, arm and most others).

use crate::model::Signal;

const NAMES: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// The highest signal number accepted (real-time signals included).
pub const MAX_SIGNAL: i32 = 64;

/// Parses `TERM`, `SIGTERM`, `SIG40` or a number from 0 to 64. Numbers are plain digits: no
/// sign, so `-0` or `+15` are not signals.
pub fn parse_signal(s: &str) -> Option<Signal> {
    let number = |s: &str| {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    if let Some(n) = number(s) {
        return (0..=MAX_SIGNAL).contains(&n).then_some(Signal(n));
    }
    let upper = s.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(n) = number(name) {
        return (1..=MAX_SIGNAL).contains(&n).then_some(Signal(n));
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| Signal(*v))
}

/// The canonical name without `SIG` (`TERM`), if the number has one.
pub fn signal_name(sig: Signal) -> Option<&'static str> {
    NAMES.iter().find(|(_, v)| *v == sig.0).map(|(n, _)| *n)
}

impl std::fmt::Display for Signal {
    /// `TERM`, or the number for signals without a name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match signal_name(*self) {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(parse_signal("TERM"), Some(Signal(15)));
        assert_eq!(parse_signal("SIGPWR"), Some(Signal(30)));
        assert_eq!(parse_signal("sigusr1"), Some(Signal(10)));
        assert_eq!(parse_signal("0"), Some(Signal(0)));
        assert_eq!(parse_signal("65"), None);
        // Issue 10 item 11: signs are not part of a signal number.
        assert_eq!(parse_signal("-0"), None);
        assert_eq!(parse_signal("+15"), None);
        assert_eq!(parse_signal("SIG-5"), None);
        assert_eq!(parse_signal("BOGUS"), None);
        assert_eq!(parse_signal("SIG40"), Some(Signal(40)));
        assert_eq!(Signal(15).to_string(), "TERM");
        assert_eq!(Signal(40).to_string(), "40");
        for (n, v) in NAMES {
            assert_eq!(parse_signal(n), Some(Signal(*v)));
            assert_eq!(parse_signal(&Signal(*v).to_string()), Some(Signal(*v)));
        }
    }
}

//! Object paths: validity, and Upstart's escaping of job and instance names into path
//! elements (`nih_dbus_path`: ASCII letters and digits kept, every other byte `_XX` in
//! lower-case hex, an empty name `_`).

/// Whether `p` is a valid object path: `/`, or `/`-separated non-empty elements of
/// `[A-Za-z0-9_]`.
pub fn is_valid(p: &str) -> bool {
    if p == "/" {
        return true;
    }
    let Some(rest) = p.strip_prefix('/') else {
        return false;
    };
    rest.split('/')
        .all(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
}

/// One path element for `name`, as Upstart made it.
pub fn escape(name: &str) -> String {
    if name.is_empty() {
        return "_".into();
    }
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// The name behind an element [`escape`] made; `None` for an element it could not have
/// made (so no two elements name the same job).
pub fn unescape(element: &str) -> Option<String> {
    if element == "_" {
        return Some(String::new());
    }
    let b = element.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'_' {
            let hex = element.get(i + 1..i + 3)?;
            if hex.bytes().any(|c| c.is_ascii_uppercase()) {
                return None;
            }
            let byte = u8::from_str_radix(hex, 16).ok()?;
            if byte.is_ascii_alphanumeric() {
                return None;
            }
            out.push(byte);
            i += 3;
        } else if b[i].is_ascii_alphanumeric() {
            out.push(b[i]);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstart's own examples: `-` is `_2d`, an empty instance `_`.
    #[test]
    fn names_escape_as_upstart_escaped_them() {
        assert_eq!(escape("network-manager"), "network_2dmanager");
        assert_eq!(escape("tty1"), "tty1");
        assert_eq!(escape(""), "_");
        assert_eq!(escape("a_b.c/d"), "a_5fb_2ec_2fd");
        assert_eq!(escape("é"), "_c3_a9");
        for name in ["network-manager", "", "a_b.c/d", "é", "x y", "_"] {
            assert_eq!(unescape(&escape(name)).as_deref(), Some(name));
            assert!(is_valid(&format!(
                "/com/ubuntu/Upstart/jobs/{}",
                escape(name)
            )));
        }
    }

    #[test]
    fn elements_escape_never_made_are_refused() {
        for bad in ["_2", "_zz", "_41", "_2D", "a-b", "__"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_are_checked() {
        for ok in ["/", "/a", "/com/ubuntu/Upstart", "/a_1/B"] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in ["", "a", "/a/", "//a", "/a-b", "/a//b"] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}

//! Who may see a job's text: `show-config` gives it only to callers who could read the
//! files it came from themselves, so a 0600 job file's secrets stay with its readers.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use outset_proto::{Body, JobText, Response};

/// Whether `uid` (primary group `gid`) could open `path` for reading: every directory on
/// the way searchable and the file readable by the owner, group or other bits that apply.
/// Supplementary groups are not known from the socket, so they do not count (the answer
/// errs on the side of not showing).
pub fn may_read(path: &Path, uid: u32, gid: u32) -> bool {
    if uid == 0 {
        return true;
    }
    let Ok(real) = std::fs::canonicalize(path) else {
        return false;
    };
    let allows = |p: &Path, bit: u32| -> bool {
        let Ok(m) = std::fs::metadata(p) else {
            return false;
        };
        let shift = if m.uid() == uid {
            6
        } else if m.gid() == gid {
            3
        } else {
            0
        };
        (m.mode() >> shift) & bit != 0
    };
    real.ancestors().skip(1).all(|dir| allows(dir, 0o1)) && allows(&real, 0o4)
}

/// `response` with the text of each job in `hidden` replaced by a comment saying why.
pub fn withhold(response: &Response, hidden: &HashMap<String, String>) -> Response {
    match response {
        Response::Ok {
            body: Body::Configs(texts),
        } => Response::Ok {
            body: Body::Configs(
                texts
                    .iter()
                    .map(|t| match hidden.get(&t.name) {
                        Some(why) => JobText {
                            name: t.name.clone(),
                            text: format!("# not shown: {why}\n"),
                        },
                        None => t.clone(),
                    })
                    .collect(),
            ),
        },
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn issue10_item6_file_and_directory_bits_decide() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let f = dir.path().join("j.conf");
        std::fs::write(&f, "env DB_PASSWORD=x\n").unwrap();
        let me = std::fs::metadata(&f).unwrap();
        let (owner, group) = (me.uid(), me.gid());
        let other = owner.wrapping_add(4242);
        let other_gid = group.wrapping_add(4242);
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(may_read(&f, owner, group) || owner == 0);
        assert!(!may_read(&f, other, other_gid));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(may_read(&f, other, group));
        assert!(!may_read(&f, other, other_gid));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(may_read(&f, other, other_gid));
        // A readable file in a directory others cannot search stays private.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!may_read(&f, other, other_gid));
        assert!(may_read(&f, 0, 0));
        assert!(!may_read(
            &dir.path().join("missing.conf"),
            other,
            other_gid
        ));
    }

    #[test]
    fn withholding_replaces_only_hidden_texts() {
        let r = Response::Ok {
            body: Body::Configs(vec![
                JobText {
                    name: "a".into(),
                    text: "env S=1\n".into(),
                },
                JobText {
                    name: "b".into(),
                    text: "exec b\n".into(),
                },
            ]),
        };
        let hidden = HashMap::from([("a".to_string(), "why".to_string())]);
        let Response::Ok {
            body: Body::Configs(t),
        } = withhold(&r, &hidden)
        else {
            panic!()
        };
        assert_eq!(t[0].text, "# not shown: why\n");
        assert_eq!(t[1].text, "exec b\n");
    }
}

//! Reading process facts from /proc, e.g. to pick the main process of a job
//! among the pids of its cgroup.

use std::fs;

/// Fields of /proc/PID/stat after the `comm` field (field 3 onwards).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat_tail(&text)
}

/// Splits the part after the last `)`: comm may contain spaces and `)`.
fn parse_stat_tail(text: &str) -> Option<Vec<String>> {
    let idx = text.rfind(')')?;
    let tail = text.get(idx + 1..)?;
    Some(tail.split_whitespace().map(str::to_owned).collect())
}

/// Parent pid (field 4), `None` if the process is gone.
pub fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// Thread group (process) id of the task `tid`, `None` if it is gone.
pub fn tgid(tid: u32) -> Option<u32> {
    let text = fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Start time in clock ticks since boot (field 22).
pub fn start_time(pid: u32) -> Option<u64> {
    stat_fields(pid)?.get(19)?.parse().ok()
}

/// The command line, arguments joined by spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let text: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    if text.is_empty() {
        // Kernel threads and zombies have no command line; their name will do.
        return comm(pid).map(|c| format!("[{c}]"));
    }
    Some(text.join(" "))
}

/// The process name (/proc/PID/comm, without the trailing newline).
pub fn comm(pid: u32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    Some(text.strip_suffix('\n').unwrap_or(&text).to_owned())
}

/// Depth in the process tree; a parent is always shallower than its child.
fn depth(pid: u32) -> u32 {
    let mut d = 0;
    let mut cur = pid;
    // Bounded in case of a pid-reuse race forming a cycle.
    while d < 4096 {
        match parent_of(cur) {
            Some(p) if p != 0 && p != cur => {
                cur = p;
                d += 1;
            }
            _ => break,
        }
    }
    d
}

/// Orders pids oldest first: by start time, then parents before children,
/// then by pid. Pids whose stat cannot be read (gone) come last, by pid.
pub fn order_oldest_first(pids: &[u32]) -> Vec<u32> {
    let mut known: Vec<(u64, u32, u32)> = Vec::new();
    let mut unknown: Vec<u32> = Vec::new();
    for &pid in pids {
        match start_time(pid) {
            Some(t) => known.push((t, depth(pid), pid)),
            None => unknown.push(pid),
        }
    }
    known.sort_unstable();
    unknown.sort_unstable();
    known
        .into_iter()
        .map(|(_, _, pid)| pid)
        .chain(unknown)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_weird_comm() {
        let text = "123 (a) b (c)) S 1 123 123 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 4242 0 0\n";
        let f = parse_stat_tail(text).unwrap();
        assert_eq!(f[0], "S");
        assert_eq!(f[1], "1");
        assert_eq!(f[19], "4242");
    }

    #[test]
    fn self_facts() {
        let me = std::process::id();
        assert_eq!(
            parent_of(me),
            Some(rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get().unsigned_abs()))
        );
        assert!(start_time(me).is_some());
        assert!(comm(me).is_some());
        assert_eq!(parent_of(u32::MAX), None);
    }

    #[test]
    fn ordering() {
        let me = std::process::id();
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let c = child.id();
        let order = order_oldest_first(&[u32::MAX, c, me]);
        assert_eq!(order, vec![me, c, u32::MAX]);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

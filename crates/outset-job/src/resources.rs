//! Resource control: the `cgroup` stanzas Upstart users wrote (cgroup v1 keys) and outset's
//! `resource` stanza, mapped to cgroup2 interface files written on the instance's cgroup.
//! Pure: the job in, the controllers to enable and the files to write out (see
//! docs/resource-control.md).

use serde::{Deserialize, Serialize};

use crate::model::{CgroupStanza, JobConfig};

/// `resource CONTROLLER KNOB VALUE [required]`, checked when parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceStanza {
    /// `memory`, `cpu`, `tasks`, `io` or `cpuset`, as written.
    pub controller: String,
    pub knob: String,
    /// As written (`512M`, `50%`, `max`).
    pub value: String,
    /// The job does not start when this cannot be applied.
    pub required: bool,
}

/// One cgroup2 interface file to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The cgroup2 controller that must be enabled for the file to exist.
    pub controller: String,
    /// The interface file (`memory.max`).
    pub file: String,
    /// What is written to it.
    pub value: String,
    pub required: bool,
    /// The stanza it comes from, for messages.
    pub stanza: String,
}

/// What a job asks of its cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourcePlan {
    /// Controllers to enable, in order, once each (those of the settings, and those named
    /// by a bare `cgroup CONTROLLER`).
    pub controllers: Vec<String>,
    pub settings: Vec<Setting>,
    /// What of the job's stanzas outset does not apply, each with why.
    pub notes: Vec<String>,
}

impl ResourcePlan {
    pub fn is_empty(&self) -> bool {
        self.controllers.is_empty() && self.settings.is_empty() && self.notes.is_empty()
    }

    /// Whether a controller is needed by a required setting.
    pub fn requires(&self, controller: &str) -> bool {
        self.settings
            .iter()
            .any(|s| s.required && s.controller == controller)
    }

    fn need(&mut self, controller: &str) {
        if !self.controllers.iter().any(|c| c == controller) {
            self.controllers.push(controller.to_string());
        }
    }

    fn set(&mut self, file: &str, value: String, required: bool, stanza: String) {
        let controller = file.split('.').next().unwrap_or(file).to_string();
        self.need(&controller);
        // A later stanza for the same file wins, as a later `limit` does.
        self.settings.retain(|s| s.file != file);
        self.settings.push(Setting {
            controller,
            file: file.to_string(),
            value,
            required,
            stanza,
        });
    }
}

/// The plan for a job: its `cgroup` stanzas, then its `resource` stanzas (which win over a
/// `cgroup` stanza writing the same file).
pub fn plan(job: &JobConfig) -> ResourcePlan {
    let mut p = ResourcePlan::default();
    if job.cgroups.is_empty() && job.resources.is_empty() {
        return p;
    }
    upstart_stanzas(&job.cgroups, &mut p);
    for r in &job.resources {
        match modern(r) {
            Ok((file, value)) => p.set(file, value, r.required, render_resource(r)),
            // Checked when parsed: only a hand-built config gets here.
            Err(e) => p.notes.push(format!("{}: {e}", render_resource(r))),
        }
    }
    p
}

/// The `resource` stanza as written.
pub fn render_resource(r: &ResourceStanza) -> String {
    format!(
        "resource {} {} {}{}",
        r.controller,
        r.knob,
        r.value,
        if r.required { " required" } else { "" }
    )
}

fn render_cgroup(c: &CgroupStanza) -> String {
    let mut s = format!("cgroup {}", c.controller);
    if let Some(n) = &c.name {
        s.push(' ');
        s.push_str(n);
    }
    if let Some((k, v)) = &c.setting {
        s.push_str(&format!(" {k} {v}"));
    }
    s
}

/// The cgroup2 controller for a v1 controller name, or why there is none to enable.
fn v2_controller(v1: &str) -> Result<Option<&'static str>, &'static str> {
    Ok(Some(match v1 {
        "memory" => "memory",
        "cpu" => "cpu",
        "cpuset" => "cpuset",
        "blkio" | "io" => "io",
        "pids" => "pids",
        "hugetlb" => "hugetlb",
        "rdma" => "rdma",
        "misc" => "misc",
        // Built into every cgroup2 group: nothing to enable.
        "freezer" | "cpuacct" | "perf_event" => return Ok(None),
        "devices" => return Err("cgroup2 controls devices with BPF programs, not files"),
        "net_cls" | "net_prio" => return Err("cgroup2 has no such controller"),
        _ => return Err("unknown controller"),
    }))
}

/// cgroup2 files a `cgroup` stanza may name directly.
const V2_FILES: &[&str] = &[
    "memory.max",
    "memory.high",
    "memory.low",
    "memory.min",
    "memory.swap.max",
    "cpu.weight",
    "cpu.max",
    "io.weight",
    "pids.max",
    "cpuset.cpus",
    "cpuset.mems",
];

fn upstart_stanzas(cgroups: &[CgroupStanza], p: &mut ResourcePlan) {
    // cpu.max is built from two v1 keys; memory.swap.max from the memory limit as well.
    let (mut quota, mut period): (Option<String>, Option<String>) = (None, None);
    let mut mem_limit: Option<u64> = None;
    let mut memsw: Option<(String, String)> = None;
    for c in cgroups {
        let text = render_cgroup(c);
        match v2_controller(&c.controller) {
            Ok(Some(ctl)) => p.need(ctl),
            Ok(None) => {}
            Err(why) => {
                p.notes.push(format!("{text}: not applied ({why})"));
                continue;
            }
        }
        if let Some(n) = &c.name
            && n != "$UPSTART_CGROUP"
        {
            p.notes.push(format!(
                "{text}: the group name is not used (each instance has its own cgroup)"
            ));
        }
        let Some((key, value)) = &c.setting else {
            continue;
        };
        if value.contains('$') {
            p.notes.push(format!(
                "{text}: not applied (variables are not expanded here)"
            ));
            continue;
        }
        let mapped: Result<Option<(&str, String)>, String> = match key.as_str() {
            "memory.limit_in_bytes" => v1_bytes(value)
                .inspect(|b| mem_limit = *b)
                .map(|b| Some(("memory.max", bytes_or_max(b)))),
            "memory.soft_limit_in_bytes" => {
                v1_bytes(value).map(|b| Some(("memory.low", bytes_or_max(b))))
            }
            "memory.memsw.limit_in_bytes" => {
                memsw = Some((value.clone(), text.clone()));
                Ok(None)
            }
            "cpu.shares" => value
                .parse::<u64>()
                .map_err(|_| "cpu.shares takes a number".to_string())
                .map(|s| Some(("cpu.weight", shares_to_weight(s).to_string()))),
            "cpu.cfs_quota_us" => {
                quota = Some(value.clone());
                Ok(None)
            }
            "cpu.cfs_period_us" => {
                period = Some(value.clone());
                Ok(None)
            }
            "blkio.weight" => value
                .parse::<u64>()
                .map_err(|_| "blkio.weight takes a number".to_string())
                .map(|w| Some(("io.weight", blkio_to_io_weight(w).to_string()))),
            "cpuset.cpus" | "cpuset.mems" | "pids.max" => Ok(Some((key.as_str(), value.clone()))),
            k if V2_FILES.contains(&k) => Ok(Some((k, value.clone()))),
            _ => Err("no cgroup2 equivalent that outset applies".to_string()),
        };
        match mapped {
            Ok(Some((file, v))) => p.set(file, v, false, text),
            Ok(None) => {}
            Err(why) => p.notes.push(format!("{text}: not applied ({why})")),
        }
    }
    if quota.is_some() || period.is_some() {
        let q = match quota.as_deref() {
            None | Some("-1") => Ok("max".to_string()),
            Some(q) => q
                .parse::<u64>()
                .map(|n| n.to_string())
                .map_err(|_| "cpu.cfs_quota_us takes a number or -1"),
        };
        let per = period
            .as_deref()
            .unwrap_or("100000")
            .parse::<u64>()
            .map_err(|_| "cpu.cfs_period_us takes a number");
        match (q, per) {
            (Ok(q), Ok(per)) => p.set(
                "cpu.max",
                format!("{q} {per}"),
                false,
                "cgroup cpu cpu.cfs_quota_us/cpu.cfs_period_us".into(),
            ),
            (Err(e), _) | (_, Err(e)) => p.notes.push(format!("cgroup cpu: not applied ({e})")),
        }
    }
    if let Some((value, text)) = memsw {
        // v1 limits memory plus swap; cgroup2 limits swap alone: the difference.
        match (v1_bytes(&value), mem_limit) {
            (Ok(None), _) => p.set("memory.swap.max", "max".into(), false, text),
            (Ok(Some(sw)), Some(mem)) => p.set(
                "memory.swap.max",
                sw.saturating_sub(mem).to_string(),
                false,
                text,
            ),
            (Ok(Some(_)), None) => p.notes.push(format!(
                "{text}: not applied (needs memory.limit_in_bytes to work out the swap limit)"
            )),
            (Err(e), _) => p.notes.push(format!("{text}: not applied ({e})")),
        }
    }
}

fn bytes_or_max(b: Option<u64>) -> String {
    b.map_or_else(|| "max".to_string(), |b| b.to_string())
}

/// A v1 byte value: a number with an optional K, M or G (any case), or -1 for no limit.
fn v1_bytes(v: &str) -> Result<Option<u64>, String> {
    if v == "-1" {
        return Ok(None);
    }
    size(v)
        .map(Some)
        .ok_or_else(|| format!("`{v}` is not a size"))
}

/// `N`, `NK`, `NM`, `NG`, `NT` (powers of 1024, either case).
pub fn size(v: &str) -> Option<u64> {
    let (num, mult) = match v.char_indices().last()? {
        (i, 'k' | 'K') => (&v[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&v[..i], 1 << 20),
        (i, 'g' | 'G') => (&v[..i], 1 << 30),
        (i, 't' | 'T') => (&v[..i], 1 << 40),
        _ => (v, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mult)
}

/// v1 `cpu.shares` (2..262144, default 1024) to cgroup2 `cpu.weight` (1..10000, default
/// 100), the conversion runc, crun and systemd use.
pub fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// v1 `blkio.weight` (10..1000) to cgroup2 `io.weight` (1..10000), as runc converts it.
pub fn blkio_to_io_weight(w: u64) -> u64 {
    let w = w.clamp(10, 1000);
    1 + ((w - 10) * 9999) / 990
}

/// The file and value of a `resource` stanza, or why it is wrong.
pub fn modern(r: &ResourceStanza) -> Result<(&'static str, String), String> {
    let v = r.value.as_str();
    let max_or = |f: &dyn Fn(&str) -> Option<String>| -> Option<String> {
        if v == "max" { Some("max".into()) } else { f(v) }
    };
    let bytes = || max_or(&|v| size(v).map(|b| b.to_string()));
    let weight = || {
        v.parse::<u64>()
            .ok()
            .filter(|w| (1..=10_000).contains(w))
            .map(|w| w.to_string())
    };
    let (file, value, what) = match (r.controller.as_str(), r.knob.as_str()) {
        ("memory", "max") => ("memory.max", bytes(), "a size (512M, 2G) or `max`"),
        ("memory", "high") => ("memory.high", bytes(), "a size (512M, 2G) or `max`"),
        ("memory", "low") => ("memory.low", bytes(), "a size (512M, 2G) or `max`"),
        ("memory", "min") => ("memory.min", bytes(), "a size (512M, 2G) or `max`"),
        ("memory", "swap") => ("memory.swap.max", bytes(), "a size (512M, 2G) or `max`"),
        ("cpu", "max") => (
            "cpu.max",
            max_or(&percent),
            "a percentage of one CPU (50%, 200%) or `max`",
        ),
        ("cpu", "weight") => (
            "cpu.weight",
            weight(),
            "a weight from 1 to 10000 (100 is the default)",
        ),
        ("io", "weight") => (
            "io.weight",
            weight(),
            "a weight from 1 to 10000 (100 is the default)",
        ),
        ("tasks", "max") => (
            "pids.max",
            max_or(&|v| v.parse::<u64>().ok().map(|n| n.to_string())),
            "a number of tasks or `max`",
        ),
        ("cpuset", "cpus") => ("cpuset.cpus", cpu_list(v), "a CPU list (0-3,6)"),
        ("cpuset", "mems") => ("cpuset.mems", cpu_list(v), "a memory node list (0-1)"),
        (c, k) => {
            return Err(format!(
                "unknown resource `{c} {k}` (memory max|high|low|min|swap, cpu max|weight, \
                 io weight, tasks max, cpuset cpus|mems)"
            ));
        }
    };
    value.map(|value| (file, value)).ok_or_else(|| {
        format!(
            "`resource {} {}` takes {what}, not `{v}`",
            r.controller, r.knob
        )
    })
}

/// `50%` of one CPU as `cpu.max` (`50000 100000`).
fn percent(v: &str) -> Option<String> {
    let n: u64 = v.strip_suffix('%')?.parse().ok()?;
    (n > 0 && n <= 100_000).then(|| format!("{} 100000", n * 1000))
}

/// `0-3,6`: digits, commas and dashes.
fn cpu_list(v: &str) -> Option<String> {
    (!v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_digit() || b == b',' || b == b'-'))
    .then(|| v.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn job(text: &str) -> JobConfig {
        crate::parse_job("j", text).unwrap()
    }

    fn files(p: &ResourcePlan) -> Vec<(String, String)> {
        p.settings
            .iter()
            .map(|s| (s.file.clone(), s.value.clone()))
            .collect()
    }

    #[test]
    fn issue17_item5_upstart_v1_keys_map_to_cgroup2_files() {
        let p = plan(&job("cgroup memory memory.limit_in_bytes 512M\n\
             cgroup memory $UPSTART_CGROUP memory.soft_limit_in_bytes 268435456\n\
             cgroup memory memory.memsw.limit_in_bytes 1G\n\
             cgroup cpu cpu.shares 512\n\
             cgroup cpu cpu.cfs_quota_us 50000\n\
             cgroup blkio blkio.weight 500\n\
             cgroup cpuset cpuset.cpus 0-1\n\
             cgroup pids pids.max 64\n\
             exec true\n"));
        assert_eq!(p.controllers, ["memory", "cpu", "io", "cpuset", "pids"]);
        let f = files(&p);
        let want: Vec<(String, String)> = [
            ("memory.max", "536870912"),
            ("memory.low", "268435456"),
            ("cpu.weight", "20"),
            ("io.weight", "4950"),
            ("cpuset.cpus", "0-1"),
            ("pids.max", "64"),
            ("cpu.max", "50000 100000"),
            ("memory.swap.max", "536870912"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(f, want);
        assert!(p.notes.is_empty(), "{:?}", p.notes);
        assert!(!p.requires("memory"));
    }

    #[test]
    fn issue17_item5_shares_to_weight_is_the_standard_conversion() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(0), 1);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn issue17_item5_unmapped_and_builtin_controllers_are_noted_not_fatal() {
        let p = plan(&job(
            "cgroup freezer\ncgroup devices devices.allow a\ncgroup memory mygroup\n\
             cgroup memory memory.swappiness 10\ncgroup memory memory.limit_in_bytes $LIM\n\
             cgroup cpu cpu.cfs_quota_us -1\nexec true\n",
        ));
        assert_eq!(p.controllers, ["memory", "cpu"]);
        assert_eq!(
            files(&p),
            [("cpu.max".to_string(), "max 100000".to_string())]
        );
        assert_eq!(p.notes.len(), 4, "{:?}", p.notes);
        assert!(p.notes[0].contains("devices"), "{:?}", p.notes);
        assert!(
            p.notes[1].contains("group name is not used"),
            "{:?}",
            p.notes
        );
        assert!(p.notes[3].contains("variables"), "{:?}", p.notes);
    }

    #[test]
    fn issue17_item5_resource_stanza_values() {
        let p = plan(&job(
            "resource memory max 512M required\nresource cpu max 50%\n\
             resource tasks max 100\nresource cpu weight 200\nresource io weight 50\n\
             resource memory high max\nexec true\n",
        ));
        assert_eq!(
            files(&p),
            [
                ("memory.max", "536870912"),
                ("cpu.max", "50000 100000"),
                ("pids.max", "100"),
                ("cpu.weight", "200"),
                ("io.weight", "50"),
                ("memory.high", "max"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(p.requires("memory"));
        assert!(!p.requires("cpu"));
        assert_eq!(p.controllers, ["memory", "cpu", "pids", "io"]);
    }

    #[test]
    fn issue17_item5_resource_wins_over_cgroup_for_the_same_file() {
        let p = plan(&job(
            "cgroup memory memory.limit_in_bytes 1G\nresource memory max 64M\nexec true\n",
        ));
        assert_eq!(
            files(&p),
            [("memory.max".to_string(), "67108864".to_string())]
        );
    }

    #[test]
    fn issue17_item5_bad_resource_stanzas_are_parse_errors() {
        for bad in [
            "resource memory max lots",
            "resource cpu max 50",
            "resource cpu weight 0",
            "resource cpu weight 10001",
            "resource disk max 1",
            "resource memory max",
            "resource memory max 1G sometimes",
            "resource cpuset cpus all",
        ] {
            let e = crate::parse_job("j", &format!("{bad}\nexec true\n"));
            assert!(e.is_err(), "{bad} parsed");
        }
        assert!(plan(&job("exec true\n")).is_empty());
    }
}

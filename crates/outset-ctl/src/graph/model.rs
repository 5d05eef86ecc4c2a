//! The graph of jobs and events, built from jobs' `start on`, `stop on` and `emits`
//! stanzas (what Upstart's `initctl2dot` drew from `initctl show-config -e`).
//!
//! Edges follow cause to effect: an event points at the jobs it starts or stops, a job at
//! the events it emits. A job event (`started db`, …) is a node of its own, pointed at by
//! the job it belongs to, so `start on started db` links db to the job through it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use outset_job::{Expr, JobConfig};

use crate::show_config::{arg_text, job_of};

/// Where an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The daemon emits it itself (`startup`, device events, …).
    Daemon,
    /// A job's `emits` names it (or a pattern matching it).
    Jobs,
    /// A job's own state change: `starting`, `started`, `stopping` or `stopped` JOB.
    State,
    /// Nothing known emits it (what `check-config` reports).
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    /// A job; `defined` is false for a job a condition names that has no job file.
    Job { defined: bool },
    /// An event; `glob` for an `emits` pattern such as `web-*`.
    Event { origin: Origin, glob: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Unique: `job:NAME` or `event:NAME` (jobs and events may share names).
    pub id: String,
    pub label: String,
    pub kind: NodeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EdgeKind {
    /// Event to job: the event (with the edge's arguments) is in the job's `start on`.
    StartOn,
    /// Event to job: in the job's `stop on`.
    StopOn,
    /// Job to event: the job's `emits` names it.
    Emits,
    /// Job to one of its own state events.
    State,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub kind: EdgeKind,
    /// The operand's arguments other than the job (`[2345]`, `IFACE!=lo`), or the `emits`
    /// pattern that matched; several conditions on one edge are joined by `; `.
    pub label: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The graph under construction: nodes by id, edges by (from, to, kind).
#[derive(Default)]
struct Builder {
    graph: Graph,
    index: BTreeMap<String, usize>,
    edges: BTreeMap<(usize, usize, EdgeKind), usize>,
}

impl Builder {
    fn node(&mut self, id: String, label: &str, kind: NodeKind) -> usize {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.graph.nodes.len();
        self.index.insert(id.clone(), i);
        self.graph.nodes.push(Node {
            id,
            label: label.to_string(),
            kind,
        });
        i
    }

    fn job(&mut self, name: &str) -> usize {
        self.node(
            format!("job:{name}"),
            name,
            NodeKind::Job { defined: false },
        )
    }

    fn event(&mut self, name: &str, origin: Origin) -> usize {
        let glob = origin == Origin::Jobs && is_glob(name);
        self.node(
            format!("event:{name}"),
            name,
            NodeKind::Event { origin, glob },
        )
    }

    fn edge(&mut self, from: usize, to: usize, kind: EdgeKind, label: String) {
        if let Some(&e) = self.edges.get(&(from, to, kind)) {
            let old = &mut self.graph.edges[e].label;
            if !label.is_empty() && !old.split("; ").any(|l| l == label) {
                if !old.is_empty() {
                    old.push_str("; ");
                }
                old.push_str(&label);
            }
            return;
        }
        self.edges.insert((from, to, kind), self.graph.edges.len());
        self.graph.edges.push(Edge {
            from,
            to,
            kind,
            label,
        });
    }

    /// Every operand of `expr` as an edge into job `job` of `kind`.
    fn condition(&mut self, job: usize, expr: &Expr, kind: EdgeKind) {
        match expr {
            Expr::And(a, b) | Expr::Or(a, b) => {
                self.condition(job, a, kind);
                self.condition(job, b, kind);
            }
            Expr::Ready(_) => {}
            Expr::Event(m) => {
                let named = job_of(&m.name, &m.args).filter(|(_, j)| !j.starts_with('$'));
                let label = m
                    .args
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| named.as_ref().is_none_or(|(n, _)| n != i))
                    .map(|(_, a)| arg_text(a))
                    .collect::<Vec<_>>()
                    .join(" ");
                let event = match named {
                    Some((_, owner)) => {
                        let owner = self.job(&owner);
                        let name = format!("{} {}", m.name, self.graph.nodes[owner].label);
                        let ev = self.event(&name, Origin::State);
                        self.edge(owner, ev, EdgeKind::State, String::new());
                        ev
                    }
                    None => self.event(&m.name, Origin::Unknown),
                };
                self.edge(event, job, kind, label);
            }
        }
    }
}

/// The graph of `jobs`: every job, every event their conditions and `emits` name, and the
/// edges between them. Nodes come jobs first, in name order, then events as first named.
pub fn build(jobs: &[JobConfig]) -> Graph {
    let mut b = Builder::default();
    let mut sorted: Vec<&JobConfig> = jobs.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for j in &sorted {
        let n = b.job(&j.name);
        b.graph.nodes[n].kind = NodeKind::Job { defined: true };
    }
    for j in &sorted {
        let n = b.job(&j.name);
        for e in &j.emits {
            let ev = b.event(e, Origin::Jobs);
            b.edge(n, ev, EdgeKind::Emits, String::new());
        }
        if let Some(e) = &j.start_on {
            b.condition(n, e, EdgeKind::StartOn);
        }
        if let Some(e) = &j.stop_on {
            b.condition(n, e, EdgeKind::StopOn);
        }
    }
    // Where each plain event comes from, and an `emits` pattern's job linked to every event
    // it matches (initctl2dot's glob links).
    let patterns: Vec<(usize, String)> = sorted
        .iter()
        .flat_map(|j| {
            let n = b.index[&format!("job:{}", j.name)];
            j.emits
                .iter()
                .filter(|e| is_glob(e))
                .map(move |e| (n, e.clone()))
        })
        .collect();
    for ev in 0..b.graph.nodes.len() {
        let NodeKind::Event { origin, glob } = b.graph.nodes[ev].kind else {
            continue;
        };
        if glob || origin == Origin::State {
            continue;
        }
        let name = b.graph.nodes[ev].label.clone();
        let mut matched = origin == Origin::Jobs;
        for (job, pattern) in &patterns {
            if outset_job::fnmatch::fnmatch(pattern, &name) {
                b.edge(*job, ev, EdgeKind::Emits, pattern.clone());
                matched = true;
            }
        }
        let origin = if matched {
            Origin::Jobs
        } else if crate::check_config::is_daemon_event(&name) {
            Origin::Daemon
        } else {
            Origin::Unknown
        };
        b.graph.nodes[ev].kind = NodeKind::Event {
            origin,
            glob: false,
        };
    }
    b.graph
}

impl Graph {
    /// The node with id `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }

    /// Job `job`'s neighbourhood: the jobs up to `depth` steps before and after it (a step
    /// is one event: a job emits it or changes state, and it starts or stops the next job),
    /// the events between them, and the edges among those nodes. Steps follow the edges'
    /// direction, forward or backward from the job, not both: jobs that merely share an
    /// event with it (all the jobs on `startup`) are not its neighbours.
    pub fn neighbourhood(&self, job: &str, depth: usize) -> Option<Graph> {
        let start = self.find(&format!("job:{job}"))?;
        let n = self.nodes.len();
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut inc: Vec<Vec<usize>> = vec![Vec::new(); n];
        for e in &self.edges {
            out[e.from].push(e.to);
            inc[e.to].push(e.from);
        }
        let limit = depth.saturating_mul(2);
        let mut keep = BTreeSet::from([start]);
        for adj in [&out, &inc] {
            let mut dist = vec![usize::MAX; n];
            dist[start] = 0;
            let mut queue = VecDeque::from([start]);
            while let Some(v) = queue.pop_front() {
                if dist[v] >= limit {
                    continue;
                }
                for &w in &adj[v] {
                    if dist[w] == usize::MAX {
                        dist[w] = dist[v] + 1;
                        keep.insert(w);
                        queue.push_back(w);
                    }
                }
            }
        }
        Some(self.subgraph(&keep))
    }

    /// The nodes in `keep` (in their order) and the edges between them.
    fn subgraph(&self, keep: &BTreeSet<usize>) -> Graph {
        let mut map = vec![None; self.nodes.len()];
        let mut g = Graph::default();
        for &i in keep {
            map[i] = Some(g.nodes.len());
            g.nodes.push(self.nodes[i].clone());
        }
        for e in &self.edges {
            if let (Some(from), Some(to)) = (map[e.from], map[e.to]) {
                g.edges.push(Edge {
                    from,
                    to,
                    ..e.clone()
                });
            }
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(list: &[(&str, &str)]) -> Graph {
        let jobs: Vec<JobConfig> = list
            .iter()
            .map(|(n, t)| outset_job::parse_job(n, t).unwrap())
            .collect();
        build(&jobs)
    }

    /// The edges as `FROM -KIND-> TO [label]` lines, sorted.
    fn edges(g: &Graph) -> Vec<String> {
        let mut v: Vec<String> = g
            .edges
            .iter()
            .map(|e| {
                let l = if e.label.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", e.label)
                };
                format!(
                    "{} -{:?}-> {}{l}",
                    g.nodes[e.from].id, e.kind, g.nodes[e.to].id
                )
            })
            .collect();
        v.sort();
        v
    }

    fn kind(g: &Graph, id: &str) -> NodeKind {
        g.nodes[g.find(id).unwrap()].kind.clone()
    }

    /// Issue 18 item 3: every operand of an `and`/`or` condition is an edge into the job,
    /// with its arguments as the edge's label; `start on` and `stop on` are told apart.
    #[test]
    fn issue18_item3_and_or_operands_are_edges() {
        let g = graph(&[(
            "web",
            "start on (net-up IFACE!=lo or runlevel [2345]) and mounted MOUNTPOINT=/\nstop on runlevel [!2345]\nexec /bin/web\n",
        )]);
        assert_eq!(
            edges(&g),
            [
                "event:mounted -StartOn-> job:web [MOUNTPOINT=/]",
                "event:net-up -StartOn-> job:web [IFACE!=lo]",
                "event:runlevel -StartOn-> job:web [[2345]]",
                "event:runlevel -StopOn-> job:web [[!2345]]",
            ]
        );
        assert_eq!(
            kind(&g, "event:runlevel"),
            NodeKind::Event {
                origin: Origin::Unknown,
                glob: false
            }
        );
        assert_eq!(kind(&g, "job:web"), NodeKind::Job { defined: true });
    }

    /// Issue 18 item 3: a job event links the job it names to the job waiting for it,
    /// through a node of its own; a job that has no file is drawn as undefined; `$VAR` names
    /// no job.
    #[test]
    fn issue18_item3_job_state_events_link_jobs() {
        let g = graph(&[
            ("db", "exec /bin/db\n"),
            (
                "web",
                "start on started db and starting JOB=cache\nstop on stopping db or stopped $OTHER\nexec /bin/web\n",
            ),
        ]);
        assert_eq!(
            edges(&g),
            [
                "event:started db -StartOn-> job:web",
                "event:starting cache -StartOn-> job:web",
                "event:stopped -StopOn-> job:web [$OTHER]",
                "event:stopping db -StopOn-> job:web",
                "job:cache -State-> event:starting cache",
                "job:db -State-> event:started db",
                "job:db -State-> event:stopping db",
            ]
        );
        assert_eq!(kind(&g, "job:cache"), NodeKind::Job { defined: false });
        assert_eq!(
            kind(&g, "event:started db"),
            NodeKind::Event {
                origin: Origin::State,
                glob: false
            }
        );
        // `stopped` with no job is the daemon's event, about any job.
        assert_eq!(
            kind(&g, "event:stopped"),
            NodeKind::Event {
                origin: Origin::Daemon,
                glob: false
            }
        );
    }

    /// Issue 18 item 3: `emits` names events; a pattern is a node of its own and links its
    /// job to every event it matches; the daemon's own events are told from unknown ones.
    #[test]
    fn issue18_item3_emits_and_patterns() {
        let g = graph(&[
            (
                "net",
                "emits net-up\nemits web-*\nstart on startup\nexec /bin/n\n",
            ),
            (
                "web",
                "start on net-up or web-ready\nstop on ghost\nexec /bin/w\n",
            ),
        ]);
        assert_eq!(
            edges(&g),
            [
                "event:ghost -StopOn-> job:web",
                "event:net-up -StartOn-> job:web",
                "event:startup -StartOn-> job:net",
                "event:web-ready -StartOn-> job:web",
                "job:net -Emits-> event:net-up",
                "job:net -Emits-> event:web-*",
                "job:net -Emits-> event:web-ready [web-*]",
            ]
        );
        let origin = |id| match kind(&g, id) {
            NodeKind::Event { origin, .. } => origin,
            k => panic!("{id}: {k:?}"),
        };
        assert_eq!(origin("event:startup"), Origin::Daemon);
        assert_eq!(origin("event:net-up"), Origin::Jobs);
        assert_eq!(origin("event:web-ready"), Origin::Jobs);
        assert_eq!(origin("event:ghost"), Origin::Unknown);
        assert_eq!(
            kind(&g, "event:web-*"),
            NodeKind::Event {
                origin: Origin::Jobs,
                glob: true
            }
        );
    }

    /// The same operand twice on one edge is one edge; different arguments are joined.
    #[test]
    fn issue18_item3_repeated_operands_share_an_edge() {
        let g = graph(&[("a", "start on (x K=1 or x K=2) or x K=1\nexec /bin/a\n")]);
        assert_eq!(edges(&g), ["event:x -StartOn-> job:a [K=1; K=2]"]);
    }

    /// Issue 18 item 3: `--job`'s neighbourhood follows edges forward and backward from the
    /// job, one step per event, and leaves out jobs that only share an event with it.
    #[test]
    fn issue18_item3_neighbourhood_by_depth() {
        let g = graph(&[
            ("a", "start on startup\nemits a-done\nexec /bin/a\n"),
            ("b", "start on started a\nexec /bin/b\n"),
            ("c", "start on started b\nexec /bin/c\n"),
            ("d", "start on a-done\nexec /bin/d\n"),
            ("e", "start on startup\nexec /bin/e\n"),
        ]);
        let ids = |g: &Graph| g.nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>();
        let one = g.neighbourhood("b", 1).unwrap();
        assert_eq!(
            ids(&one),
            [
                "job:a",
                "job:b",
                "job:c",
                "event:started a",
                "event:started b"
            ]
        );
        assert_eq!(one.edges.len(), 4);
        let two = g.neighbourhood("b", 2).unwrap();
        assert_eq!(
            ids(&two),
            [
                "job:a",
                "job:b",
                "job:c",
                "event:startup",
                "event:started a",
                "event:started b",
            ]
        );
        let zero = g.neighbourhood("b", 0).unwrap();
        assert_eq!(ids(&zero), ["job:b"]);
        assert!(g.neighbourhood("nope", 1).is_none());
        // `startup` is upstream of a, but e only shares it: a's neighbourhood has no e.
        let a = g.neighbourhood("a", 1).unwrap();
        assert!(!ids(&a).contains(&"job:e".to_string()), "{:?}", ids(&a));
        assert!(ids(&a).contains(&"job:d".to_string()));
    }
}

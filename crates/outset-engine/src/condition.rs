//! Event conditions (`start on`, `stop on`): matching events against operands, latching, and
//! the level-triggered job-state operands that fix Upstart bug 447654.
//!
//! An operand on a plain event latches when a matching event arrives and stays true until the
//! whole condition fires (then every latch resets), as in Upstart. An operand that names a
//! job state (`started J`, `stopped J`, `starting J`, `stopping J`) does not latch: it is true
//! while J is in that state, so `start on started a and started b` fires again when b
//! restarts while a keeps running.

use outset_job::expand::expand_env;
use outset_job::fnmatch::fnmatch;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

use outset_job::{Arg, EventMatch, Expr, JobConfig, ReadySource};

use crate::types::{Env, EventId};

/// An event that made an operand true.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    pub name: String,
    pub env: Env,
    /// The event, while it is still live (level-true operands have none).
    pub event: Option<EventId>,
}

/// What a condition needs to know of the jobs for level-triggered operands.
pub trait JobStates {
    /// The environment of the job event `name` (`started`, …) last emitted by an instance of
    /// `job` that is still in that state and whose event env satisfies `op`.
    fn in_state(&self, op: &EventMatch, expand: Option<&Env>) -> Option<Env>;
}

/// The four job events whose operands are level-triggered when they name a job.
pub fn is_job_state_operand(op: &EventMatch) -> bool {
    matches!(
        op.name.as_str(),
        "starting" | "started" | "stopping" | "stopped"
    ) && op.args.iter().any(|a| match a {
        Arg::Positional(_) => true,
        Arg::Eq(k, _) => k == "JOB",
        Arg::Ne(..) => false,
    })
}

/// Whether the event `name`/`env` satisfies `op`. Values are expanded against `expand` (the
/// instance env for `stop on`); an expansion error means no match.
pub fn matches(op: &EventMatch, name: &str, env: &Env, expand: Option<&Env>) -> bool {
    if op.name != name {
        return false;
    }
    let value = |pattern: &str| -> Option<String> {
        if !pattern.contains('$') {
            return Some(pattern.to_string());
        }
        let empty = Vec::new();
        expand_env(pattern, expand.unwrap_or(&empty)).ok()
    };
    let mut position = 0;
    for arg in &op.args {
        match arg {
            Arg::Positional(p) => {
                let Some((_, v)) = env.get(position) else {
                    return false;
                };
                position += 1;
                match value(p) {
                    Some(p) if fnmatch(&p, v) => {}
                    _ => return false,
                }
            }
            Arg::Eq(k, p) | Arg::Ne(k, p) => {
                let Some((_, v)) = env.iter().find(|(key, _)| key == k) else {
                    return false;
                };
                let Some(p) = value(p) else { return false };
                if fnmatch(&p, v) != matches!(arg, Arg::Eq(..)) {
                    return false;
                }
            }
        }
    }
    true
}

fn stanza_expr(config: &JobConfig, stanza: Stanza) -> Option<&Expr> {
    match stanza {
        Stanza::StartOn => config.start_on.as_ref(),
        Stanza::StopOn => config.stop_on.as_ref(),
        Stanza::ReadyOn => config.ready_on.as_ref(),
    }
}

fn operands<'a>(e: &'a Expr, out: &mut Vec<&'a EventMatch>) {
    match e {
        Expr::And(a, b) | Expr::Or(a, b) => {
            operands(a, out);
            operands(b, out);
        }
        Expr::Event(m) => out.push(m),
        Expr::Ready(_) => {}
    }
}

/// A condition with its latches.
#[derive(Debug, Clone)]
pub struct Condition {
    expr: ExprRef,
    /// Per operand, in tree order: the event latched there (boxed: most operands hold none).
    latched: Box<[Option<Box<Matched>>]>,
}

/// Where a condition's expression lives: in the job definition it came from, shared by
/// every instance (memory per running job), or its own.
#[derive(Debug, Clone)]
enum ExprRef {
    Owned(Box<Expr>),
    Stanza(Rc<JobConfig>, Stanza),
}

/// The stanzas that hold a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stanza {
    StartOn,
    StopOn,
    ReadyOn,
}

/// What a condition reads if its stanza were gone (it never is: `Condition::of` checks).
const NO_EXPR: &Expr = &Expr::Event(EventMatch {
    name: String::new(),
    args: Vec::new(),
});

/// The outcome of offering an event to a condition.
#[derive(Debug, Default)]
pub struct Handled {
    /// Events newly latched: the caller blocks them until the condition resets.
    pub latched: Vec<EventId>,
    /// The condition fired: the matched events in tree order.
    pub fired: Option<Vec<Matched>>,
    /// Events whose latch was released when the condition fired.
    pub released: Vec<EventId>,
}

impl Condition {
    pub fn new(expr: Expr) -> Self {
        Self::with(ExprRef::Owned(Box::new(expr)))
    }

    /// The condition of a stanza of `config`, if it has that stanza; it reads the expression
    /// there instead of holding a copy.
    pub fn of(config: &Rc<JobConfig>, stanza: Stanza) -> Option<Self> {
        stanza_expr(config, stanza)?;
        Some(Self::with(ExprRef::Stanza(config.clone(), stanza)))
    }

    fn with(expr: ExprRef) -> Self {
        let mut c = Condition {
            expr,
            latched: Box::default(),
        };
        let mut ops = Vec::new();
        operands(c.expr(), &mut ops);
        c.latched = vec![None; ops.len()].into_boxed_slice();
        c
    }

    /// Reads the expression from `config` from now on (the same expression in a newer
    /// definition), so the older one can go.
    pub fn rebind(&mut self, config: &Rc<JobConfig>) {
        if let ExprRef::Stanza(_, stanza) = self.expr
            && stanza_expr(config, stanza) == Some(self.expr())
        {
            self.expr = ExprRef::Stanza(config.clone(), stanza);
        }
    }

    pub fn expr(&self) -> &Expr {
        match &self.expr {
            ExprRef::Owned(e) => e,
            ExprRef::Stanza(config, stanza) => stanza_expr(config, *stanza).unwrap_or(NO_EXPR),
        }
    }

    /// The event names the operands mention, sorted, once each.
    pub fn names(&self) -> Vec<&str> {
        let mut ops = Vec::new();
        operands(self.expr(), &mut ops);
        let mut names: Vec<&str> = ops.iter().map(|o| o.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Calls `f` with each operand's event name in tree order, repeats included, without
    /// collecting them (the stop index is updated for every instance that starts or stops).
    pub fn each_name<'a>(&'a self, mut f: impl FnMut(&'a str)) {
        fn walk<'a>(e: &'a Expr, f: &mut impl FnMut(&'a str)) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, f);
                    walk(b, f);
                }
                Expr::Event(m) => f(&m.name),
                Expr::Ready(_) => {}
            }
        }
        walk(self.expr(), &mut f);
    }

    /// Whether an event of this name can matter to the condition.
    pub fn mentions(&self, name: &str) -> bool {
        fn walk(e: &Expr, name: &str) -> bool {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => walk(a, name) || walk(b, name),
                Expr::Event(m) => m.name == name,
                Expr::Ready(_) => false,
            }
        }
        walk(self.expr(), name)
    }

    /// Whether offering an event reads the expansion environment: only a `$` in an
    /// operand's pattern or a level-triggered job-state operand does. Without either,
    /// [`Condition::handle`] decides the same with no environment.
    pub fn reads_expansion(&self) -> bool {
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => walk(a) || walk(b),
                Expr::Event(m) => {
                    is_job_state_operand(m)
                        || m.args.iter().any(|a| match a {
                            Arg::Positional(p) | Arg::Eq(_, p) | Arg::Ne(_, p) => p.contains('$'),
                        })
                }
                Expr::Ready(_) => false,
            }
        }
        walk(self.expr())
    }

    /// Every operand's latch, in tree order (a re-exec's state).
    pub fn latches(&self) -> Vec<Option<Matched>> {
        self.latched.iter().map(|l| l.as_deref().cloned()).collect()
    }

    /// Sets every operand's latch from [`Condition::latches`] of the same expression;
    /// refused when the number of operands differs.
    pub fn set_latches(&mut self, latches: Vec<Option<Matched>>) -> Result<(), String> {
        if latches.len() != self.latched.len() {
            return Err(format!(
                "{} latches for a condition of {} operands",
                latches.len(),
                self.latched.len()
            ));
        }
        self.latched = latches.into_iter().map(|l| l.map(Box::new)).collect();
        Ok(())
    }

    /// Events currently latched.
    pub fn latched_events(&self) -> Vec<EventId> {
        self.latched
            .iter()
            .flatten()
            .filter_map(|m| m.event)
            .collect()
    }

    /// Drops every latch; returns the events to release.
    pub fn reset(&mut self) -> Vec<EventId> {
        let ids = self.latched_events();
        self.latched.iter_mut().for_each(|l| *l = None);
        ids
    }

    /// For `ready on`: latches the event on the operands it matches (nothing is blocked:
    /// readiness never holds an event back). Returns whether anything matched.
    pub fn latch(&mut self, name: &str, env: &Env, expand: Option<&Env>) -> bool {
        if !self.mentions(name) {
            return false;
        }
        let mut ops = Vec::new();
        let expr = match &self.expr {
            ExprRef::Owned(e) => e,
            ExprRef::Stanza(config, stanza) => stanza_expr(config, *stanza).unwrap_or(NO_EXPR),
        };
        operands(expr, &mut ops);
        let mut any = false;
        for (op, slot) in ops.iter().zip(self.latched.iter_mut()) {
            if matches(op, name, env, expand) {
                any = true;
                *slot = Some(Box::new(Matched {
                    name: name.to_string(),
                    env: env.clone(),
                    event: None,
                }));
            }
        }
        any
    }

    /// For `ready on`: whether the expression holds, given latched events, job states and
    /// the state of each readiness source.
    pub fn holds(
        &self,
        expand: Option<&Env>,
        states: &dyn JobStates,
        source: &dyn Fn(&ReadySource) -> bool,
    ) -> bool {
        let mut index = 0;
        self.holds_at(self.expr(), &mut index, expand, states, source)
    }

    fn holds_at(
        &self,
        e: &Expr,
        index: &mut usize,
        expand: Option<&Env>,
        states: &dyn JobStates,
        source: &dyn Fn(&ReadySource) -> bool,
    ) -> bool {
        match e {
            Expr::And(a, b) => {
                let l = self.holds_at(a, index, expand, states, source);
                let r = self.holds_at(b, index, expand, states, source);
                l && r
            }
            Expr::Or(a, b) => {
                let l = self.holds_at(a, index, expand, states, source);
                let r = self.holds_at(b, index, expand, states, source);
                l || r
            }
            Expr::Event(op) => {
                let i = *index;
                *index += 1;
                matches!(self.latched.get(i), Some(Some(_)))
                    || (is_job_state_operand(op) && states.in_state(op, expand).is_some())
            }
            Expr::Ready(src) => source(src),
        }
    }

    /// The readiness sources the expression names.
    pub fn sources(&self) -> Vec<ReadySource> {
        fn walk(e: &Expr, out: &mut Vec<ReadySource>) {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Ready(s) => out.push(s.clone()),
                Expr::Event(_) => {}
            }
        }
        let mut out = Vec::new();
        walk(self.expr(), &mut out);
        out
    }

    /// Offers the event `id` to the condition.
    pub fn handle(
        &mut self,
        id: EventId,
        name: &str,
        env: &Env,
        expand: Option<&Env>,
        states: &dyn JobStates,
    ) -> Handled {
        let mut out = Handled::default();
        if !self.mentions(name) {
            return out;
        }
        // One event operand (`stop on halt`, the common case) fires as it matches, so its
        // latch would be released within this call: the same result is made without the
        // latch's box, the operand lists and two copies of the event (a stop of 1000 jobs
        // handles 1000 such conditions at once).
        if let Expr::Event(op) = self.expr()
            && !is_job_state_operand(op)
            && matches!(&*self.latched, [None])
        {
            if matches(op, name, env, expand) {
                out.latched.push(id);
                out.released.push(id);
                out.fired = Some(vec![Matched {
                    name: name.to_string(),
                    env: env.clone(),
                    event: Some(id),
                }]);
            }
            return out;
        }
        let mut ops = Vec::new();
        let expr = match &self.expr {
            ExprRef::Owned(e) => e,
            ExprRef::Stanza(config, stanza) => stanza_expr(config, *stanza).unwrap_or(NO_EXPR),
        };
        operands(expr, &mut ops);
        let mut current = vec![false; ops.len()];
        let mut touched = false;
        for ((op, slot), now) in ops.iter().zip(self.latched.iter_mut()).zip(&mut current) {
            if !matches(op, name, env, expand) {
                continue;
            }
            touched = true;
            if is_job_state_operand(op) {
                *now = true;
            } else if slot.is_none() {
                *slot = Some(Box::new(Matched {
                    name: name.to_string(),
                    env: env.clone(),
                    event: Some(id),
                }));
                out.latched.push(id);
            }
        }
        if !touched {
            return out;
        }
        let mut index = 0;
        let current_match = Matched {
            name: name.to_string(),
            env: env.clone(),
            event: Some(id),
        };
        let result = self.eval(
            self.expr(),
            &mut index,
            &current,
            &current_match,
            expand,
            states,
        );
        if let Some(list) = result {
            out.released = self.reset();
            out.fired = Some(list);
        }
        out
    }

    fn eval(
        &self,
        e: &Expr,
        index: &mut usize,
        current: &[bool],
        current_match: &Matched,
        expand: Option<&Env>,
        states: &dyn JobStates,
    ) -> Option<Vec<Matched>> {
        match e {
            Expr::And(a, b) => {
                let l = self.eval(a, index, current, current_match, expand, states);
                let r = self.eval(b, index, current, current_match, expand, states);
                let (mut l, r) = (l?, r?);
                l.extend(r);
                Some(l)
            }
            Expr::Or(a, b) => {
                let l = self.eval(a, index, current, current_match, expand, states);
                let r = self.eval(b, index, current, current_match, expand, states);
                match (l, r) {
                    (None, None) => None,
                    (l, r) => {
                        let mut v = l.unwrap_or_default();
                        v.extend(r.unwrap_or_default());
                        Some(v)
                    }
                }
            }
            Expr::Event(op) => {
                let i = *index;
                *index += 1;
                if current.get(i).copied().unwrap_or(false) {
                    return Some(vec![current_match.clone()]);
                }
                if let Some(Some(m)) = self.latched.get(i) {
                    return Some(vec![(**m).clone()]);
                }
                if is_job_state_operand(op) {
                    return states.in_state(op, expand).map(|env| {
                        vec![Matched {
                            name: op.name.clone(),
                            env,
                            event: None,
                        }]
                    });
                }
                None
            }
            Expr::Ready(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outset_job::parse_job;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn op(s: &str) -> EventMatch {
        match parse_job("t", &format!("start on {s}")).unwrap().start_on {
            Some(Expr::Event(m)) => m,
            other => panic!("{other:?}"),
        }
    }

    fn cond(s: &str) -> Condition {
        Condition::new(
            parse_job("t", &format!("start on {s}"))
                .unwrap()
                .start_on
                .unwrap(),
        )
    }

    struct NoJobs;
    impl JobStates for NoJobs {
        fn in_state(&self, _: &EventMatch, _: Option<&Env>) -> Option<Env> {
            None
        }
    }

    struct Running(Vec<&'static str>);
    impl JobStates for Running {
        fn in_state(&self, op: &EventMatch, expand: Option<&Env>) -> Option<Env> {
            self.0.iter().find_map(|j| {
                let e = env(&[("JOB", j), ("INSTANCE", "")]);
                matches(op, "started", &e, expand).then_some(e)
            })
        }
    }

    #[test]
    fn positional_named_negated_and_globs() {
        let e = env(&[("JOB", "net"), ("INSTANCE", ""), ("IFACE", "eth0")]);
        assert!(matches(&op("started net"), "started", &e, None));
        assert!(matches(&op("started n*"), "started", &e, None));
        assert!(!matches(&op("started web"), "started", &e, None));
        assert!(!matches(&op("stopped net"), "started", &e, None));
        assert!(matches(&op("started IFACE=eth?"), "started", &e, None));
        assert!(matches(&op("started IFACE!=lo"), "started", &e, None));
        assert!(!matches(&op("started IFACE!=eth0"), "started", &e, None));
        // A missing key never matches, even negated.
        assert!(!matches(&op("started MISSING!=x"), "started", &e, None));
        // More positionals than values.
        assert!(!matches(&op("started net x y"), "started", &e, None));
        let r = env(&[("RUNLEVEL", "2"), ("PREVLEVEL", "N")]);
        assert!(matches(&op("runlevel [2345]"), "runlevel", &r, None));
        assert!(!matches(&op("runlevel [!2345]"), "runlevel", &r, None));
    }

    #[test]
    fn variables_expand_from_the_instance_env() {
        let e = env(&[("IFACE", "eth0")]);
        let inst = env(&[("IFACE", "eth0")]);
        assert!(matches(&op("down IFACE=$IFACE"), "down", &e, Some(&inst)));
        assert!(!matches(&op("down IFACE=$IFACE"), "down", &e, None));
        let other = env(&[("IFACE", "eth1")]);
        assert!(!matches(&op("down IFACE=$IFACE"), "down", &e, Some(&other)));
    }

    // Issue 11 item 4: the stop path builds an instance's full environment only for a
    // condition that reads it; one that does not decides the same without it.
    #[test]
    fn issue11_item4_only_dollar_patterns_and_job_states_read_the_expansion() {
        assert!(!cond("halt").reads_expansion());
        assert!(!cond("runlevel [!2345] or down IFACE=eth0").reads_expansion());
        assert!(cond("down IFACE=$IFACE").reads_expansion());
        assert!(cond("halt or down $IFACE").reads_expansion());
        assert!(cond("halt or stopping JOB!=x or started net").reads_expansion());
        let e = env(&[("IFACE", "eth0")]);
        let inst = env(&[("IFACE", "eth1")]);
        for text in ["halt or down IFACE=eth0", "down IFACE=eth*", "down eth0"] {
            let (mut with, mut without) = (cond(text), cond(text));
            assert!(!with.reads_expansion());
            let a = with.handle(EventId(1), "down", &e, Some(&inst), &NoJobs);
            let b = without.handle(EventId(1), "down", &e, None, &NoJobs);
            assert_eq!(a.fired.is_some(), b.fired.is_some(), "{text}");
            assert!(a.fired.is_some(), "{text}");
        }
    }

    #[test]
    fn plain_events_latch_until_the_condition_fires() {
        let mut c = cond("a and b");
        let h = c.handle(EventId(1), "a", &Env::new(), None, &NoJobs);
        assert_eq!(h.latched, [EventId(1)]);
        assert!(h.fired.is_none());
        let h = c.handle(EventId(2), "b", &env(&[("X", "1")]), None, &NoJobs);
        let fired = h.fired.unwrap();
        assert_eq!(
            fired.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(h.released, [EventId(1), EventId(2)]);
        // Reset: b alone does not fire again.
        let h = c.handle(EventId(3), "b", &Env::new(), None, &NoJobs);
        assert!(h.fired.is_none());
    }

    /// Issue 11 item 4: a lone event operand answers as the general walk would (latched and
    /// released at once, fired with the event), without latching anything past the call.
    #[test]
    fn issue11_item4_a_lone_operand_fires_and_releases_at_once() {
        let mut c = cond("halt X=1");
        let e = env(&[("X", "1")]);
        let h = c.handle(EventId(7), "halt", &e, None, &NoJobs);
        assert_eq!(h.latched, [EventId(7)]);
        assert_eq!(h.released, [EventId(7)]);
        assert_eq!(
            h.fired,
            Some(vec![Matched {
                name: "halt".into(),
                env: e.clone(),
                event: Some(EventId(7)),
            }])
        );
        assert!(c.latched_events().is_empty());
        let h = c.handle(EventId(8), "halt", &env(&[("X", "2")]), None, &NoJobs);
        assert!(h.latched.is_empty() && h.released.is_empty() && h.fired.is_none());
        // The same answer as an expression the general walk takes.
        let mut general = cond("halt X=1 or never");
        let g = general.handle(EventId(7), "halt", &e, None, &NoJobs);
        assert_eq!(
            (g.latched, g.released),
            (vec![EventId(7)], vec![EventId(7)])
        );
        assert_eq!(g.fired.map(|f| f.len()), Some(1));
    }

    #[test]
    fn job_state_operands_are_level_triggered() {
        // Bug 447654: b restarts while a keeps running.
        let mut c = cond("started a and started b");
        let a = env(&[("JOB", "a"), ("INSTANCE", "")]);
        let b = env(&[("JOB", "b"), ("INSTANCE", "")]);
        let h = c.handle(EventId(1), "started", &a, None, &Running(vec!["a"]));
        assert!(h.fired.is_none() && h.latched.is_empty());
        let h = c.handle(EventId(2), "started", &b, None, &Running(vec!["a", "b"]));
        assert!(h.fired.is_some());
        let h = c.handle(EventId(3), "started", &b, None, &Running(vec!["a", "b"]));
        assert!(h.fired.is_some(), "fires again while a keeps running");
        // Once a has stopped it does not.
        let h = c.handle(EventId(4), "started", &b, None, &Running(vec!["b"]));
        assert!(h.fired.is_none());
    }

    // Issue 10 item 10: a 50,000-term chain overflowed the stack in evaluation and Drop. The
    // parser bounds the tree at MAX_EXPR_DEPTH; a condition that deep is evaluated, fired and
    // dropped well within a small thread stack (a quarter of a test thread's).
    #[test]
    fn issue10_item10_deepest_condition_fits_a_small_stack() {
        let n = outset_job::MAX_EXPR_DEPTH + 1;
        let text = (0..n)
            .map(|i| format!("e{i}"))
            .collect::<Vec<_>>()
            .join(" and ");
        std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || {
                let mut c = cond(&text);
                for i in 0..n - 1 {
                    let h = c.handle(
                        EventId(i as u64),
                        &format!("e{i}"),
                        &Env::new(),
                        None,
                        &NoJobs,
                    );
                    assert!(h.fired.is_none());
                }
                let last = n - 1;
                let h = c.handle(
                    EventId(last as u64),
                    &format!("e{last}"),
                    &Env::new(),
                    None,
                    &NoJobs,
                );
                assert_eq!(h.fired.unwrap().len(), n);
                assert!(!c.holds(None, &NoJobs, &|_| true));
                drop(c);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    fn or_collects_every_true_side() {
        let mut c = cond("a or b");
        let h = c.handle(EventId(1), "a", &Env::new(), None, &NoJobs);
        assert_eq!(h.fired.unwrap().len(), 1);
        assert_eq!(h.released, [EventId(1)]);
    }

    /// Issue 11 item 4: each operand's name in tree order, repeats included, and the same
    /// set as `names`.
    #[test]
    fn issue11_item4_each_name_walks_every_operand() {
        let c = cond("b and (a or (b and started c))");
        let mut seen = Vec::new();
        c.each_name(|n| seen.push(n));
        assert_eq!(seen, ["b", "a", "b", "started"]);
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, c.names());
    }

    /// Issue 11 item 3: conditions of one definition's stanza read its expression (no copy)
    /// and latch apart; `rebind` moves to a newer definition only with the same expression.
    #[test]
    fn issue11_item3_conditions_of_a_stanza_share_it_and_latch_apart() {
        let config = Rc::new(parse_job("t", "start on a and b\nstop on c").unwrap());
        let mut first = Condition::of(&config, Stanza::StartOn).unwrap();
        let mut second = Condition::of(&config, Stanza::StartOn).unwrap();
        assert!(Condition::of(&config, Stanza::ReadyOn).is_none());
        assert_eq!(first.names(), ["a", "b"]);
        assert!(first.mentions("b") && !first.mentions("c"));
        let h = first.handle(EventId(1), "a", &Env::new(), None, &NoJobs);
        assert_eq!(h.latched, [EventId(1)]);
        assert!(second.latched_events().is_empty());
        let h = second.handle(EventId(2), "b", &Env::new(), None, &NoJobs);
        assert!(h.fired.is_none());
        let other = Rc::new(parse_job("t", "start on a and b\nexec /bin/x").unwrap());
        first.rebind(&other);
        drop(config);
        let h = first.handle(EventId(3), "b", &Env::new(), None, &NoJobs);
        let fired = h.fired.unwrap();
        assert_eq!(fired.len(), 2);
        let stop = Condition::of(&other, Stanza::StopOn);
        assert!(stop.is_none());
        let mut third = Condition::of(&other, Stanza::StartOn).unwrap();
        third.rebind(&Rc::new(parse_job("t", "start on z").unwrap()));
        assert!(third.mentions("a") && !third.mentions("z"));
    }
}

//! The engine's effects carried out on Linux: spawning into cgroups, signals through pidfds,
//! replies to waiting clients.

use std::collections::HashMap;

use outset_engine::{Effects, InstanceId, Probe, ReplyToken, SpawnFailure, SpawnSpec};
use outset_job::Signal;
use outset_proto::Response;

use std::os::fd::{AsFd, AsRawFd};

use outset_sys::notify::Datagram;
use outset_sys::poll::Poller;
use outset_sys::unix_socket::Listener;

use crate::conn::{Conn, Conns, Incoming};
use crate::joblog::Logs;
use crate::ptrace_track::PtraceTrack;
use crate::spawn;
use crate::tracker::Tracker;

/// What the engine's effects need between calls. The fields are the host's own; the loop
/// reaches them only through the methods below, named for what it needs.
pub struct Host {
    tracker: Tracker,
    /// Each `expect notify` instance's NOTIFY_SOCKET.
    notify: HashMap<InstanceId, outset_sys::notify::NotifySocket>,
    /// Notify sockets made since the loop last looked (it adds them to its poller).
    new_notify: Vec<InstanceId>,
    user_mode: bool,
    /// Open control connections by epoll token.
    conns: Conns,
    /// `show-config` replies whose jobs' texts the caller may not read: job name → why.
    withheld: HashMap<u64, HashMap<String, String>>,
    /// Which connection each outstanding reply goes to.
    routes: HashMap<u64, u64>,
    /// `track ptrace` jobs' processes followed until their main PID is known.
    ptrace: PtraceTrack,
    /// `FDSTORE=1` (not supported: its fds are closed) was reported.
    fdstore_warned: bool,
    /// Where spawned children report a failure before exec, so a spawn never waits for
    /// the child to run (`None`: the pipe could not be made; spawns then wait).
    spawn_reports: Option<outset_sys::spawn::FailureReports>,
    /// Children that reported a failure and are not reaped yet, with the failure.
    spawn_failures: HashMap<u32, String>,
    /// Reply tokens the daemon itself waits on (a shutdown's `runlevel` event, a session's `session-end`), and those
    /// of them answered since.
    internal: std::collections::HashSet<u64>,
    answered: std::collections::HashSet<u64>,
    /// Listening sockets of socket-activated jobs (`start on socket …`).
    activation: crate::activation::Sockets,
    /// Fds sent with events (`EmitEventWithFile`), by the id the engine knows them by,
    /// held until the event finishes (`release_event_fd`).
    event_fds: HashMap<u64, outset_sys::spawn::SharedFd>,
    next_event_fd: u64,
    /// Variables every job process gets last, over its environment (a session's
    /// `UPSTART_SESSION`, as Upstart's `job_process_start` set it).
    process_env: Vec<(String, String)>,
    /// Reply tokens of D-Bus calls: their replies are kept for the D-Bus service.
    bus_tokens: std::collections::HashSet<u64>,
    bus_replies: Vec<(ReplyToken, Response)>,
    /// `console log`: the jobs' ptys and log files.
    pub logs: Logs,
    /// Where `console output` and `console owner` go (`/dev/console` as PID 1); `None`:
    /// the daemon's own stdin, stdout and stderr.
    console: Option<std::path::PathBuf>,
    /// Instances whose jobs have `cgroup` or `resource` stanzas: what was not applied, and
    /// the OOM kills seen (see resources.rs).
    resources: HashMap<InstanceId, crate::resources::InstanceResources>,
    /// `--no-cgroups`: `cgroup` and `resource` stanzas are not applied.
    no_resource_control: bool,
    /// outset owns the whole cgroup2 hierarchy (PID 1): controllers may be enabled in its
    /// root's parent, the mount's root cgroup.
    owns_hierarchy: bool,
}

impl Host {
    /// Variables every job process gets last, over whatever its environment has.
    pub fn set_process_env(&mut self, env: Vec<(String, String)>) {
        self.process_env = env;
    }

    /// Holds an fd sent with an event; the id is what the engine knows it by
    /// (`Engine::command_with_fd`) until it says to release it.
    pub fn hold_event_fd(&mut self, fd: std::os::fd::OwnedFd) -> u64 {
        self.next_event_fd += 1;
        let id = self.next_event_fd;
        self.event_fds
            .insert(id, outset_sys::spawn::SharedFd(std::rc::Rc::new(fd)));
        id
    }

    pub fn new(tracker: Tracker, user_mode: bool) -> Host {
        Host {
            tracker,
            notify: HashMap::new(),
            new_notify: Vec::new(),
            user_mode,
            conns: Conns::new(1 << 32, 1024),
            withheld: HashMap::new(),
            routes: HashMap::new(),
            ptrace: PtraceTrack::new(),
            fdstore_warned: false,
            spawn_reports: match outset_sys::spawn::FailureReports::new() {
                Ok(r) => Some(r),
                Err(e) => {
                    log::warn!("no spawn report pipe ({e}); each spawn waits for its exec");
                    None
                }
            },
            spawn_failures: HashMap::new(),
            internal: Default::default(),
            answered: Default::default(),
            activation: Default::default(),
            event_fds: HashMap::new(),
            next_event_fd: 0,
            process_env: Vec::new(),
            bus_tokens: std::collections::HashSet::new(),
            bus_replies: Vec::new(),
            logs: Logs::new(crate::joblog::LogConfig {
                dir: std::path::PathBuf::from(crate::paths::SYSTEM_LOGDIR),
                enabled: false,
                user: user_mode,
                rotate: crate::joblog::DEFAULT_ROTATE,
            }),
            console: None,
            resources: HashMap::new(),
            no_resource_control: false,
            owns_hierarchy: false,
        }
    }

    /// How resource control is done: `disabled` by `--no-cgroups`; `owns_hierarchy` when
    /// outset is the machine's init.
    pub fn set_resource_control(&mut self, disabled: bool, owns_hierarchy: bool) {
        self.no_resource_control = disabled;
        self.owns_hierarchy = owns_hierarchy;
    }

    /// Applies a job's resource plan to an instance's fresh cgroup; `Err` when a `required`
    /// setting could not be applied.
    fn apply_resources(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<(), String> {
        let plan = &spec.resources;
        let name = if spec.instance.is_empty() {
            spec.job.clone()
        } else {
            format!("{} ({})", spec.job, spec.instance)
        };
        let mut state = crate::resources::InstanceResources {
            job: name.clone(),
            ..Default::default()
        };
        let applied = match (self.tracker.root(), self.tracker.cgroup_path(inst)) {
            _ if self.no_resource_control => crate::resources::Applied {
                problems: vec!["not applied: --no-cgroups".into()],
                refused: None,
            },
            (Some(root), Some(cgroup)) => {
                crate::resources::apply(root, self.owns_hierarchy, &cgroup, plan)
            }
            _ => {
                let why = "not applied: the instance has no cgroup (no writable cgroup2)";
                crate::resources::Applied {
                    problems: vec![why.into()],
                    refused: plan
                        .settings
                        .iter()
                        .any(|s| s.required)
                        .then(|| why.to_string()),
                }
            }
        };
        for p in &applied.problems {
            log::warn!("{name}: resource control: {p}");
        }
        state.memory = plan.controllers.iter().any(|c| c == "memory")
            && !applied
                .problems
                .iter()
                .any(|p| p.starts_with("the memory controller is unavailable"));
        state.problems = applied.problems;
        self.resources.insert(inst, state);
        match applied.refused {
            Some(why) => Err(format!("{name}: resource control required: {why}")),
            None => Ok(()),
        }
    }

    /// After process `pid` was killed (SIGKILL): an instance whose cgroup's `memory.events`
    /// counts more OOM kills than before is said to have been OOM-killed. Only the
    /// process's own instance is read when it is known (a stop of many jobs ends in many
    /// SIGKILLs), else every instance with a memory limit.
    pub fn check_oom_kills(&mut self, pid: u32) {
        let owner = self.tracker.owner_of(pid);
        for (inst, state) in self
            .resources
            .iter_mut()
            .filter(|(i, s)| s.memory && owner.is_none_or(|o| o == **i))
        {
            let Some(path) = self.tracker.cgroup_path(*inst) else {
                continue;
            };
            match outset_sys::cgroup::Cgroup::at(path).oom_kills() {
                Ok(n) if n > state.oom_kills => {
                    log::warn!(
                        "{}: the kernel's OOM killer killed {} process(es) of the job \
                         (memory.events oom_kill {n}): its memory limit was reached",
                        state.job,
                        n - state.oom_kills
                    );
                    state.oom_kills = n;
                }
                Ok(_) => {}
                Err(e) => log::debug!("{}: memory.events: {e}", state.job),
            }
        }
    }

    /// The reply behind `token` goes to the daemon itself ([`Host::answered`]).
    pub fn route_internal(&mut self, token: ReplyToken) {
        self.internal.insert(token.0);
    }

    /// Whether the engine answered the internal `token` (forgotten once it is).
    pub fn answered(&mut self, token: ReplyToken) -> bool {
        self.answered.remove(&token.0)
    }

    /// The reply behind `token` goes to a D-Bus caller ([`Host::take_bus_replies`]).
    pub fn route_bus(&mut self, token: ReplyToken) {
        self.bus_tokens.insert(token.0);
    }

    /// The replies for D-Bus callers since the last call, once every process spawned so far
    /// has exec'd (as for the control socket's replies).
    pub fn take_bus_replies(&mut self) -> Vec<(ReplyToken, Response)> {
        if !self.bus_replies.is_empty() {
            self.wait_exec();
        }
        std::mem::take(&mut self.bus_replies)
    }

    /// How job output is logged (the daemon's options).
    pub fn set_logs(&mut self, logs: Logs) {
        self.logs = logs;
    }

    /// The console device `console output` and `console owner` use.
    pub fn set_console(&mut self, console: Option<std::path::PathBuf>) {
        self.console = console;
    }

    /// Takes the failures children have reported so far; each is handed to the engine when
    /// its child is reaped (the child reports before it exits).
    pub fn collect_spawn_failures(&mut self) {
        let Some(reports) = &mut self.spawn_reports else {
            return;
        };
        for f in reports.take() {
            log::debug!("{f}");
            self.spawn_failures.insert(f.pid, f.to_string());
        }
    }

    /// Waits until every process spawned so far has exec'd (or failed): a client told that
    /// a job runs, or shown its command lines, sees the job's program and not a copy of the
    /// daemon on its way to exec. One wait covers a whole batch of spawns.
    fn wait_exec(&mut self) {
        if let Some(reports) = &mut self.spawn_reports
            && reports.pending()
            && let Err(e) = reports.wait_exec()
        {
            log::warn!("waiting for spawned processes to exec: {e}");
        }
    }

    /// Whether processes are being followed with ptrace (a re-exec waits until none is:
    /// the tracer's bookkeeping is not handed over).
    pub fn tracing(&self) -> bool {
        !self.ptrace.is_empty()
    }

    /// Sends what each connection has queued, as far as the sockets take it.
    pub fn flush_conns(&mut self) {
        for c in self.conns.values_mut() {
            c.flush();
        }
    }

    /// What a re-exec hands over (the descriptors named in it: [`Host::handover_fds`]).
    pub fn export(&self) -> crate::state::HostState {
        use std::os::fd::AsRawFd;
        let mut conns: Vec<_> = self.conns.iter().map(|(t, c)| c.export(*t)).collect();
        conns.sort_unstable_by_key(|c| c.token);
        let mut routes: Vec<_> = self.routes.iter().map(|(t, c)| (*t, *c)).collect();
        routes.sort_unstable();
        let mut withheld: Vec<_> = self
            .withheld
            .iter()
            .map(|(t, m)| (*t, m.clone().into_iter().collect()))
            .collect();
        withheld.sort_unstable_by_key(|w: &(u64, _)| w.0);
        let mut notify: Vec<_> = self
            .notify
            .iter()
            .map(|(i, s)| (i.0, s.as_fd().as_raw_fd(), s.name().to_string()))
            .collect();
        notify.sort_unstable();
        let mut spawn_failures: Vec<_> = self
            .spawn_failures
            .iter()
            .map(|(p, f)| (*p, f.clone()))
            .collect();
        spawn_failures.sort_unstable();
        crate::state::HostState {
            conns,
            routes,
            withheld,
            notify,
            spawn_failures,
            tracker: self.tracker.export(),
            activation: self.activation.export(),
            resources: {
                let mut r: Vec<_> = self
                    .resources
                    .iter()
                    .map(|(i, r)| (i.0, r.clone()))
                    .collect();
                r.sort_unstable_by_key(|x| x.0);
                r
            },
        }
    }

    /// The descriptors [`Host::export`] names (every connection, notify socket and
    /// socket-activation listener) and the `console log` pty masters the state's `logs`
    /// section names ([`Logs::export`]).
    pub fn handover_fds(&self) -> Vec<std::os::fd::BorrowedFd<'_>> {
        let conns = self.conns.iter().map(|(_, c)| c.stream.as_fd());
        conns
            .chain(self.notify.values().map(|s| s.as_fd()))
            .chain(self.activation.fds())
            .chain(self.logs.handover_fds())
            .collect()
    }

    /// Takes back what the previous image handed over. A descriptor that cannot be taken
    /// (not open) loses its connection or socket, with a log line; nothing else is lost.
    pub fn import(&mut self, state: crate::state::HostState, fds: &mut crate::state::Fds) {
        let mut take_fd = |fd: i32| {
            fds.remove(&fd).ok_or_else(|| {
                std::io::Error::other(format!("descriptor {fd} was not handed over"))
            })
        };
        self.tracker.import(state.tracker);
        for c in &state.conns {
            let conn = take_fd(c.fd)
                .map(std::os::unix::net::UnixStream::from)
                .and_then(|s| Conn::import(s, c));
            match conn {
                Ok(conn) => self.conns.restore(c.token, conn),
                Err(e) => log::warn!("control connection of pid {} lost in re-exec: {e}", c.pid),
            }
        }
        self.routes = state.routes.into_iter().collect();
        self.withheld = state
            .withheld
            .into_iter()
            .map(|(t, m)| (t, m.into_iter().collect()))
            .collect();
        for (inst, fd, name) in state.notify {
            match take_fd(fd) {
                Ok(fd) => {
                    let id = InstanceId(inst);
                    self.notify
                        .insert(id, outset_sys::notify::NotifySocket::from_fd(fd, &name));
                    self.new_notify.push(id);
                }
                Err(e) => log::warn!("notify socket @{name} lost in re-exec: {e}"),
            }
        }
        self.spawn_failures = state.spawn_failures.into_iter().collect();
        self.resources = state
            .resources
            .into_iter()
            .map(|(i, r)| (InstanceId(i), r))
            .collect();
        for (endpoint, fd) in state.activation {
            match take_fd(fd) {
                Ok(fd) => self.activation.hand_over(endpoint, fd),
                Err(e) => log::warn!("listener {endpoint} lost in re-exec: {e}"),
            }
        }
    }

    /// Job cgroups no instance has (see `Tracker::untracked_cgroups`).
    pub fn untracked_cgroups(&self) -> Vec<(String, Vec<u32>)> {
        self.tracker.untracked_cgroups()
    }

    /// Removes an untracked, empty job cgroup later.
    pub fn retire_untracked(&mut self, dir_name: &str) {
        self.tracker.retire_untracked(dir_name);
    }

    /// An adopted instance takes its existing cgroup and processes.
    pub fn attach(&mut self, inst: InstanceId, job: &str, instance: &str, pids: &[u32]) {
        if let Err(e) = self.tracker.create(inst, job, instance) {
            log::warn!("{job}: {e}");
        }
        for &pid in pids {
            self.tracker.adopt(inst, pid);
        }
    }

    /// The listening sockets of socket-activated jobs: the loop opens, watches and holds
    /// them; each spawn looks up the one it passes.
    pub fn activation(&mut self) -> &mut crate::activation::Sockets {
        &mut self.activation
    }

    /// Takes the control connections the loop set up (their tokens and limits are the
    /// loop's).
    pub fn set_conns(&mut self, conns: Conns) {
        self.conns = conns;
    }

    /// How processes are tracked (for the start-up line).
    /// Whether instances get cgroups.
    pub fn has_cgroup_root(&self) -> bool {
        self.tracker.has_root()
    }

    /// Instances created from now on get cgroups under `root`.
    pub fn adopt_cgroup_root(&mut self, root: std::path::PathBuf) {
        self.tracker.adopt_root(root);
    }

    pub fn tracking(&self) -> String {
        self.tracker.mode()
    }

    /// When a stalled connection should be looked at again.
    pub fn next_conn_wake(&self) -> Option<std::time::Instant> {
        self.conns.next_wake()
    }

    /// Connections holding requests not yet served.
    pub fn conns_with_backlog(&self) -> Vec<u64> {
        self.conns.with_backlog()
    }

    /// Accepts pending connections; returns their tokens.
    pub fn accept_conns(
        &mut self,
        listeners: &[Listener],
        poller: &Poller,
        privileged: impl Fn(u32) -> bool,
    ) -> Vec<u64> {
        self.conns.accept(listeners, poller, privileged)
    }

    /// Starts a connection's turn (flushing its output); false if it is gone.
    pub fn begin_conn_turn(&mut self, conn: u64) -> bool {
        match self.conns.get_mut(&conn) {
            Some(c) => {
                c.begin_turn();
                true
            }
            None => false,
        }
    }

    /// The connection's next request this turn, if it may take one.
    pub fn next_request(&mut self, conn: u64) -> Option<Incoming> {
        self.conns.get_mut(&conn).and_then(|c| c.next_request())
    }

    /// The connecting process's uid and gid (`u32::MAX` for a connection that is gone).
    pub fn conn_credentials(&self, conn: u64) -> (u32, u32) {
        self.conns
            .get(&conn)
            .map(|c| (c.uid, c.gid))
            .unwrap_or((u32::MAX, u32::MAX))
    }

    /// Updates what each connection is watched for and forgets those that are done, with
    /// the replies still routed to them.
    pub fn sweep_conns(&mut self, poller: &Poller, listeners: &[Listener], listener_token: u64) {
        let gone = self.conns.sync(poller, listeners, listener_token);
        if !gone.is_empty() {
            self.routes.retain(|_, conn| !gone.contains(conn));
        }
    }

    /// Connection `conn` watches what happens from now on (`monitor`).
    pub fn watch(&mut self, conn: u64) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.watch = Some(0);
        }
    }

    pub fn has_watchers(&self) -> bool {
        self.conns.iter().any(|(_, c)| c.watch.is_some())
    }

    /// Offers one record line to every watcher; whether any was sent output.
    pub fn offer_watchers(&mut self, line: &str, time_ms: u64) -> bool {
        let mut any = false;
        for c in self.conns.values_mut() {
            if c.watch.is_some() {
                c.offer(line, time_ms);
                any = true;
            }
        }
        any
    }

    /// Routes reply `token` to connection `conn`, which now waits for one more reply.
    pub fn route(&mut self, token: ReplyToken, conn: u64) {
        self.routes.insert(token.0, conn);
        if let Some(c) = self.conns.get_mut(&conn) {
            c.pending += 1;
        }
    }

    /// The reply behind `token` leaves out the texts of these jobs (job name → why).
    pub fn withhold(&mut self, token: ReplyToken, hidden: HashMap<String, String>) {
        self.withheld.insert(token.0, hidden);
    }

    /// Whether cgroups of ended instances wait to be removed.
    pub fn has_retired(&self) -> bool {
        self.tracker.has_retired()
    }

    /// Whether any cgroup of an ended instance is left, even one that could not go yet.
    pub fn any_retired(&self) -> bool {
        self.tracker.any_retired()
    }

    /// Removes up to `max` cgroups of ended instances.
    pub fn sweep_retired(&mut self, max: usize) {
        self.tracker.sweep(max);
    }

    /// The instance's processes as the tracker sees them.
    pub fn instance_processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String> {
        self.tracker.processes(inst)
    }

    /// Adds the notify sockets made since the last call to the poller, each under
    /// `token0` plus its instance id.
    pub fn watch_new_notify(&mut self, poller: &Poller, token0: u64) {
        for id in std::mem::take(&mut self.new_notify) {
            if let Some(s) = self.notify.get(&id)
                && let Err(e) = poller.add(s.as_fd(), token0 + id.0)
            {
                log::error!("watching a notify socket: {e}");
            }
        }
    }

    /// The next message on the instance's notify socket: `None` when it has none.
    pub fn recv_notify(&mut self, inst: InstanceId) -> Option<std::io::Result<Option<Datagram>>> {
        let result = self.notify.get(&inst)?.recv();
        if let Ok(Some(d)) = &result
            && d.fds_closed > 0
            && !self.fdstore_warned
            && d.text.lines().any(|l| l == "FDSTORE=1")
        {
            self.fdstore_warned = true;
            log::warn!("FDSTORE=1 is not supported; the descriptors sent are closed");
        }
        Some(result)
    }

    /// Whether a notify message's sender is one of the instance's processes.
    pub fn sent_by_member(&mut self, inst: InstanceId, d: &Datagram) -> bool {
        let pidfd = d.pidfd.as_ref().map(|f| f.as_fd());
        self.tracker.sent_by_member(inst, d.pid, pidfd)
    }

    /// A reaped child stopped rather than ended: ptrace's view of it (a fork of a traced
    /// process joins its job). True when the engine should hear of the stop.
    pub fn child_stopped(&mut self, pid: u32, raw_status: i32) -> bool {
        match self.ptrace.on_stop(pid, raw_status) {
            Some(out) => {
                if let Some((inst, child)) = out.forked {
                    self.tracker.adopt(inst, child);
                }
                out.group_stop
            }
            None => !self.ptrace.release_unasked(pid, raw_status),
        }
    }

    /// A child ended: `Some` with the instance ptrace saw it exit from (if any) when it is
    /// the daemon's to count, `None` for a traced process that is not the daemon's child
    /// and ended without an exit event (SIGKILL), which its parent reaps.
    pub fn child_ended(&mut self, pid: u32) -> Option<Option<InstanceId>> {
        // Its last output is in the file before its exit is handled.
        self.logs.process_ended(pid);
        let exiting = self.ptrace.take_exited(pid);
        if self.ptrace.gone(pid) && outset_sys::procfs::start_time(pid).is_some() {
            return None;
        }
        self.tracker.reaped(pid);
        Some(exiting)
    }

    /// The instance whose cgroup is `cgroup`.
    pub fn instance_of_cgroup(&self, cgroup: &str) -> Option<InstanceId> {
        self.tracker.instance_of_cgroup(cgroup)
    }

    /// `track ptrace`: lets go of the processes of each instance whose main PID `main_pid`
    /// says is known.
    pub fn release_traced(&mut self, main_pid: impl Fn(InstanceId) -> Option<u32>) {
        if self.ptrace.is_empty() {
            return;
        }
        for inst in self.ptrace.instances() {
            if let Some(main) = main_pid(inst) {
                log::debug!(
                    "instance {}: main process {main} known; ptrace detached",
                    inst.0
                );
                self.ptrace.detach_instance(inst);
            }
        }
    }

    /// Adds the pipe where children report failures before exec to the poller.
    pub fn watch_spawn_reports(&self, poller: &Poller, token: u64) -> std::io::Result<()> {
        match &self.spawn_reports {
            Some(r) => poller.add(r.as_fd(), token),
            None => Ok(()),
        }
    }

    /// The failure a reaped child reported before exec, if it did.
    pub fn take_spawn_failure(&mut self, pid: u32) -> Option<String> {
        self.spawn_failures.remove(&pid)
    }

    /// A reaping batch of several exits begins: the tracker may answer "empty" for every
    /// instance from one read of the root's `cgroup.events` (see `Tracker::begin_batch`).
    pub fn begin_reap_batch(&mut self) {
        self.tracker.begin_batch();
    }

    /// The reaping batch is over: members are read per instance again.
    pub fn end_reap_batch(&mut self) {
        self.tracker.end_batch();
    }

    /// Sends the signals the engine asked for that are still queued (see
    /// `Tracker::queue_signal`). Called before the loop sleeps and before any reaping.
    pub fn flush_signals(&mut self) {
        self.tracker.flush_signals();
    }

    /// The processes signalled since the last reaping, to be waited for by PID (any signal
    /// still queued is sent first).
    pub fn take_signalled(&mut self) -> Vec<u32> {
        self.tracker.take_signalled()
    }

    /// Waits at the exec barrier for every process spawned so far, then hands over every
    /// failure their children reported, by PID, for `Engine::spawn_failed`.
    pub fn exec_barrier(&mut self) -> Vec<(u32, String)> {
        self.wait_exec();
        self.collect_spawn_failures();
        let mut failed: Vec<(u32, String)> = self.spawn_failures.drain().collect();
        failed.sort_unstable();
        failed
    }

    /// A reported failure the engine did not take: handed over again when its child is
    /// reaped.
    pub fn keep_spawn_failure(&mut self, pid: u32, error: String) {
        self.spawn_failures.insert(pid, error);
    }

    /// Writes a reply line to the connection behind `token`.
    pub fn send(&mut self, token: ReplyToken, response: &Response) {
        self.wait_exec();
        if self.internal.remove(&token.0) {
            self.answered.insert(token.0);
            return;
        }
        let withheld = self.withheld.remove(&token.0);
        let Some(conn_id) = self.routes.remove(&token.0) else {
            log::debug!("reply {} has no client any more", token.0);
            return;
        };
        let redacted;
        let response = match withheld {
            Some(hidden) => {
                redacted = crate::access::withhold(response, &hidden);
                &redacted
            }
            None => response,
        };
        let line = match serde_json::to_string(response) {
            Ok(l) => l,
            Err(e) => {
                log::error!("cannot encode a reply: {e}");
                r#"{"status":"error","message":"internal error: reply not encodable"}"#.into()
            }
        };
        if let Some(conn) = self.conns.get_mut(&conn_id) {
            conn.pending = conn.pending.saturating_sub(1);
            conn.send(&line);
        }
    }
}

impl Effects for Host {
    fn spawn(&mut self, inst: InstanceId, spec: &SpawnSpec) -> Result<u32, SpawnFailure> {
        let fresh = !self.tracker.tracks(inst);
        if let Err(e) = self.tracker.create(inst, &spec.job, &spec.instance) {
            // Tracking falls back to the process group; the job still runs.
            log::warn!("{}: {e}; tracking by process group", spec.job);
        }
        // Limits go on before the first process enters the cgroup (it is cloned into it).
        if fresh && !spec.resources.is_empty() {
            self.apply_resources(inst, spec)
                .map_err(SpawnFailure::Permanent)?;
        }
        let cgroup = self.tracker.cgroup_path(inst);
        let mut with_socket;
        // Only a notify job's spec is copied: the session's variables (`process_env`) are
        // added where the request's environment is made, not by a copy of every spec (a
        // start of 5000 jobs in a user session left the copies' holes in the heap).
        let spec = if spec.notify {
            with_socket = spec.clone();
            if spec.notify {
                // Made before the fork, so the job can never send before it exists.
                if let std::collections::hash_map::Entry::Vacant(slot) = self.notify.entry(inst) {
                    // A random name: a predictable one could be bound first by any local user.
                    let socket = outset_sys::notify::NotifySocket::bind_random("outset/notify")
                        .map_err(|e| SpawnFailure::Retry(format!("notify socket: {e}")))?;
                    slot.insert(socket);
                    self.new_notify.push(inst);
                }
                if let Some(s) = self.notify.get(&inst) {
                    with_socket.env.push(("NOTIFY_SOCKET".into(), s.address()));
                }
            }
            &with_socket
        } else {
            spec
        };
        // Started by a `socket` event: every process of the run gets that socket; started
        // by an event sent with an fd: that fd, while the event lives.
        let passed = match self.activation.for_env(&spec.env) {
            Some(socket) => Some(spawn::Passed::Socket(socket)),
            None => spec
                .event_fd
                .and_then(|id| self.event_fds.get(&id))
                .map(|fd| spawn::Passed::EventFd(fd.clone())),
        };
        let mut pty = None;
        if spec.console == outset_job::Console::Log && self.logs.enabled() {
            match self
                .logs
                .open_pty(&spec.job, &spec.instance, spec.log_rotate)
            {
                Ok(p) => pty = Some(p),
                // Upstart's choice: the job still starts, as `console none`.
                Err(e) => log::error!(
                    "{}: cannot open a pty ({e}); its output goes to /dev/null",
                    spec.job
                ),
            }
        }
        let stdio = spawn::stdio(
            spec.console,
            pty.as_ref().map(|(_, slave)| slave.as_raw_fd()),
            self.console.as_deref(),
        );
        let spawned = spawn::spawn(
            spec,
            cgroup.as_deref(),
            self.user_mode,
            self.spawn_reports.as_mut(),
            stdio,
            passed,
            &self.process_env,
        );
        // The daemon's copy of the slave closes here: the master reports the end once
        // the job's copies are gone.
        match (&spawned, pty) {
            (Ok(s), Some((id, _slave))) => self.logs.bind(id, s.pid),
            (Err(_), Some((id, _slave))) => self.logs.cancel(id),
            _ => {}
        }
        let spawned = spawned?;
        // A pidfd per job process would make every later spawn copy and close it; the
        // tracker opens one whenever it signals (see tracker.rs).
        drop(spawned.pidfd);
        self.tracker.adopt(inst, spawned.pid);
        if spec.ptrace {
            if let Err(e) = self.ptrace.start(inst, spawned.pid) {
                log::warn!("{}: {e}; tracking without ptrace", spec.job);
            }
            // It stops itself to be seized. SIGCONT ends that group-stop whether or not it
            // has begun (a later SIGSTOP is dropped by the tracer), so it cannot come back
            // once the process is detached; untraced, it simply runs on.
            if let Err(e) = self.tracker.signal(spawned.pid, Signal::CONT.0, false) {
                log::error!("{}: cannot continue process {}: {e}", spec.job, spawned.pid);
            }
        }
        Ok(spawned.pid)
    }

    fn signal(&mut self, _inst: InstanceId, pid: u32, sig: Signal, group: bool) {
        // Queued: sent in batches, the rest before the loop sleeps (`flush_signals`).
        if let Err(e) = self.tracker.queue_signal(pid, sig.0, group) {
            log::warn!("cannot signal process {pid}: {e}");
        }
    }

    fn kill_all(&mut self, inst: InstanceId) {
        self.tracker.kill_all(inst);
    }

    fn release_event_fd(&mut self, fd: u64) {
        // Closed here, unless a spawn still holds its copy (it is closed with that).
        self.event_fds.remove(&fd);
    }

    fn instance_removed(&mut self, inst: InstanceId) {
        // Closing the socket also takes it out of the poller.
        self.notify.remove(&inst);
        self.ptrace.instance_removed(inst);
        self.resources.remove(&inst);
        self.tracker.remove(inst);
    }

    fn reply(&mut self, token: ReplyToken, response: Response) {
        if self.bus_tokens.remove(&token.0) {
            return self.bus_replies.push((token, response));
        }
        self.send(token, &response);
    }
}

/// The engine's reads: which of it to trust is the engine's decision (see docs/engine.md).
impl Probe for Host {
    fn processes(&mut self, inst: InstanceId) -> Result<Vec<u32>, String> {
        self.tracker.processes(inst)
    }

    fn read_pid_file(&mut self, path: &str) -> Result<u32, String> {
        let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        text.split_whitespace()
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| "does not start with a PID".to_string())
    }

    fn resource_problems(&mut self, inst: InstanceId) -> Vec<String> {
        self.resources
            .get(&inst)
            .map(|r| r.problems.clone())
            .unwrap_or_default()
    }

    fn describe(&mut self, pids: &[u32]) -> Vec<(u32, String)> {
        self.wait_exec();
        pids.iter()
            .map(|&pid| (pid, outset_sys::procfs::cmdline(pid).unwrap_or_default()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Conn;
    use outset_proto::{Body, JobText};
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::net::UnixStream;

    /// Issue 12 item 6: the loop's questions to the host have answers when the connection,
    /// notify socket or traced process they name is gone (it reads no field of the host).
    #[test]
    fn issue12_item6_host_answers_the_loop_for_what_is_gone() {
        let mut h = Host::new(Tracker::new(None), false);
        assert_eq!(h.conn_credentials(5), (u32::MAX, u32::MAX));
        assert!(!h.begin_conn_turn(5));
        assert!(h.next_request(5).is_none());
        assert!(h.conns_with_backlog().is_empty());
        assert!(h.recv_notify(InstanceId(1)).is_none());
        assert!(!h.has_retired() && !h.any_retired());
        // An untraced child is the daemon's to count, with no instance from ptrace.
        assert_eq!(h.child_ended(u32::MAX - 1), Some(None));
        // A reply routed to a connection that closed is dropped, with what it withheld.
        h.route(ReplyToken(7), 5);
        h.withhold(ReplyToken(7), HashMap::new());
        h.send(ReplyToken(7), &Response::error("gone"));
        assert!(h.routes.is_empty() && h.withheld.is_empty());
        h.release_traced(|_| panic!("nothing is traced"));
    }

    /// A host with `n` fake client connections: the daemon's ends of socket pairs, whose
    /// other ends the test reads.
    fn with_clients(n: usize) -> (Host, Vec<(u64, BufReader<UnixStream>)>) {
        let mut h = Host::new(Tracker::new(None), false);
        let mut conns = Conns::new(100, 1024);
        let clients = (0..n)
            .map(|_| {
                let (ours, theirs) = UnixStream::pair().unwrap();
                theirs
                    .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                    .unwrap();
                let token = conns.insert(Conn::new(ours, 0, 0, 0).unwrap());
                (token, BufReader::new(theirs))
            })
            .collect();
        h.set_conns(conns);
        (h, clients)
    }

    fn read_reply(client: &mut BufReader<UnixStream>) -> Response {
        let mut line = String::new();
        client.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))
    }

    /// Nothing more is waiting to be read by the client.
    fn nothing_more(client: &mut BufReader<UnixStream>) -> bool {
        let s = client.get_mut();
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let none = matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
        s.set_nonblocking(false).unwrap();
        none && client.buffer().is_empty()
    }

    fn pending(h: &Host, conn: u64) -> usize {
        h.conns.get(&conn).unwrap().pending
    }

    fn configs(names: &[&str]) -> Response {
        Response::Ok {
            body: Body::Configs(
                names
                    .iter()
                    .map(|n| JobText {
                        name: n.to_string(),
                        text: format!("exec /bin/{n}\n"),
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn replies_go_to_the_connection_their_token_was_routed_to() {
        let (mut h, mut clients) = with_clients(2);
        let (a, b) = (clients[0].0, clients[1].0);
        h.route(ReplyToken(1), a);
        h.route(ReplyToken(2), b);
        h.route(ReplyToken(3), a);
        assert_eq!((pending(&h, a), pending(&h, b)), (2, 1));
        // Answered out of order: each reply still reaches its own client.
        h.reply(ReplyToken(2), Response::error("for b"));
        h.reply(ReplyToken(3), Response::error("for a, second"));
        h.reply(ReplyToken(1), Response::error("for a, first"));
        assert_eq!(read_reply(&mut clients[1].1), Response::error("for b"));
        assert_eq!(
            read_reply(&mut clients[0].1),
            Response::error("for a, second")
        );
        assert_eq!(
            read_reply(&mut clients[0].1),
            Response::error("for a, first")
        );
        assert_eq!((pending(&h, a), pending(&h, b)), (0, 0));
        // A token answers once: a second reply behind it goes nowhere.
        h.reply(ReplyToken(1), Response::error("again"));
        assert!(clients.iter_mut().all(|(_, c)| nothing_more(c)));
        assert!(h.routes.is_empty());
    }

    #[test]
    fn withheld_texts_are_left_out_of_that_reply_only() {
        let (mut h, mut clients) = with_clients(1);
        let conn = clients[0].0;
        h.route(ReplyToken(1), conn);
        h.withhold(
            ReplyToken(1),
            HashMap::from([("secret".to_string(), "not readable by you".to_string())]),
        );
        h.route(ReplyToken(2), conn);
        h.send(ReplyToken(1), &configs(&["public", "secret"]));
        h.send(ReplyToken(2), &configs(&["public", "secret"]));
        let Response::Ok {
            body: Body::Configs(first),
        } = read_reply(&mut clients[0].1)
        else {
            panic!("not configs")
        };
        assert_eq!(first[0].text, "exec /bin/public\n");
        assert_eq!(first[1].name, "secret");
        assert_eq!(first[1].text, "# not shown: not readable by you\n");
        // The next reply to the same client withholds nothing: it was not asked to.
        assert_eq!(
            read_reply(&mut clients[0].1),
            configs(&["public", "secret"])
        );
        assert!(h.withheld.is_empty());
    }

    /// Issue 15 item 3: what a host exports and another imports (the descriptors handed
    /// over by number) keeps each waiting client's reply going to its own connection, with
    /// the output not yet sent and the input not yet taken.
    #[test]
    fn issue15_item3_connections_and_routes_survive_export_and_import() {
        use std::os::fd::{AsRawFd, OwnedFd};
        let (mut old, mut clients) = with_clients(2);
        let (a, b) = (clients[0].0, clients[1].0);
        old.route(ReplyToken(1), a);
        old.route(ReplyToken(2), b);
        old.conns.get_mut(&b).unwrap().send("{\"queued\":1}");
        use std::io::Write;
        clients[0]
            .1
            .get_mut()
            .write_all(b"{\"v\":1,\"cmd\":\"list\"}\n")
            .unwrap();
        old.begin_conn_turn(a);
        let state = old.export();
        assert_eq!(state.conns.len(), 2);
        let mut fds: crate::state::Fds = state
            .conns
            .iter()
            .map(|c| {
                let conn = old.conns.get(&c.token).unwrap();
                assert_eq!(conn.stream.as_raw_fd(), c.fd);
                (c.fd, OwnedFd::from(conn.stream.try_clone().unwrap()))
            })
            .collect();
        drop(old);
        let mut new = Host::new(Tracker::new(None), false);
        new.set_conns(Conns::new(1 << 32, 1024));
        new.import(state, &mut fds);
        assert!(fds.is_empty(), "every descriptor taken");
        assert_eq!((pending(&new, a), pending(&new, b)), (1, 1));
        // The request read before the switch is taken after it.
        assert!(new.begin_conn_turn(a));
        assert_eq!(
            new.next_request(a),
            Some(Incoming::Line("{\"v\":1,\"cmd\":\"list\"}".into()))
        );
        new.reply(ReplyToken(2), Response::error("for b"));
        new.reply(ReplyToken(1), Response::error("for a"));
        assert_eq!(read_reply(&mut clients[0].1), Response::error("for a"));
        let mut line = String::new();
        clients[1].1.read_line(&mut line).unwrap();
        assert_eq!(line, "{\"queued\":1}\n", "output queued before the switch");
        assert_eq!(read_reply(&mut clients[1].1), Response::error("for b"));
    }

    #[test]
    fn a_reply_without_a_route_is_dropped() {
        let (mut h, mut clients) = with_clients(1);
        h.withhold(ReplyToken(9), HashMap::new());
        h.send(ReplyToken(9), &Response::error("nobody asked"));
        assert!(nothing_more(&mut clients[0].1));
        assert!(h.withheld.is_empty());
        assert_eq!(pending(&h, clients[0].0), 0);
    }
}

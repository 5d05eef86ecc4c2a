//! The daemon's single-threaded loop: signals, control connections and job-file changes in;
//! engine inputs; effects out through [`Host`].

use std::os::fd::AsFd;
use std::time::Instant;

use outset_engine::{Engine, InstanceId, Millis, ReplyToken};
use outset_job::{ListenAddr, ReadySource};
use outset_proto::{Command, Response};
use outset_sys::inotify::Inotify;
use outset_sys::poll::Poller;
use outset_sys::signals::SignalFd;
use outset_sys::unix_socket::Listener;

use crate::confdirs::ConfDirs;
use crate::conn::{Conns, Incoming};
use crate::host::Host;

mod reexec;

const TOKEN_SIGNALS: u64 = 1;
const TOKEN_LISTENER: u64 = 2;
const TOKEN_INOTIFY: u64 = 3;
const TOKEN_BUS: u64 = 4;
const TOKEN_SPAWN_REPORTS: u64 = 5;
const TOKEN_UEVENT: u64 = 7;
/// Connection tokens start here.
const TOKEN_CONN0: u64 = 1 << 32;
/// Job pty tokens: this plus the capture's id.
const TOKEN_LOG0: u64 = 1 << 42;
/// Notify socket tokens: this plus the instance id.
const TOKEN_NOTIFY0: u64 = 1 << 48;
/// Pidfds of adopted processes that are not the daemon's children: this plus the PID.
const TOKEN_PIDFD0: u64 = 1 << 40;
/// Socket-activation listening sockets: this plus the socket's number.
const TOKEN_SOCKET0: u64 = 1 << 44;
/// From how many exits in one reaping batch the root's `cgroup.events` is read first.
const REAP_BATCH_ROOT_CHECK: usize = 4;
/// At most one pass giving memory back (engine tables shrunk, `malloc_trim`) this often.
const TRIM_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// How long the loop must have been idle before it cleans up.
const CLEANUP_AFTER: std::time::Duration = std::time::Duration::from_millis(30);
/// How long the jobs `session-end` starts or stops have before every job is stopped
/// (Upstart's quiesce waits up to its jobs' kill timeouts, 5 s by default).
const SESSION_END_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// How often readiness sources are checked while a job waits for them (never when none
/// does).
const SOURCE_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// Signal numbers (the same on every architecture outset supports).
pub mod sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGUSR2: i32 = 12;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
    pub const SIGWINCH: i32 = 28;
    pub const SIGPWR: i32 = 30;
    /// glibc's SIGRTMIN, which systemd's tools count their requests from
    /// (`SIGRTMIN+4`: power off).
    pub const SIGRTMIN: i32 = 34;
    /// Every signal the daemon takes through its signalfd.
    pub const HANDLED: [i32; 14] = [
        SIGCHLD,
        SIGHUP,
        SIGINT,
        SIGTERM,
        SIGPWR,
        SIGUSR1,
        SIGUSR2,
        SIGWINCH,
        SIGRTMIN + 3,
        SIGRTMIN + 4,
        SIGRTMIN + 5,
        SIGRTMIN + 13,
        SIGRTMIN + 14,
        SIGRTMIN + 15,
    ];
}

/// How the daemon was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// PID 1 of the machine's initial PID namespace: a real init.
    Init,
    /// PID 1 of any other PID namespace (a container): SIGTERM stops every job and exits.
    Container,
    /// A system supervisor that is not PID 1.
    System,
    /// A per-user supervisor.
    User,
}

pub struct Daemon {
    pub mode: Mode,
    /// The uid allowed to change things besides root (`--user` mode: the owner).
    pub owner_uid: u32,
    pub engine: Engine,
    pub host: Host,
    pub confdirs: ConfDirs,
    pub(crate) poller: Poller,
    signals: SignalFd,
    /// The control sockets: the path, the abstract name, or both.
    listeners: Vec<Listener>,
    inotify: Option<Inotify>,
    next_reply: u64,
    epoch: Instant,
    /// What happened: the bounded history `outsetctl timeline` reads (observe.rs).
    /// The history, shared with the engine's notice sink, which packs each record into it
    /// as it is made.
    pub(crate) observed: std::rc::Rc<std::cell::RefCell<crate::observe::Observed>>,
    /// The wall clock the sink stamps records with (set with the engine's clock).
    wall_clock: std::rc::Rc<std::cell::Cell<u64>>,
    /// How many records of the history the `monitor` watchers have been offered.
    watched_upto: u64,
    /// A session is ending: `session-end` was emitted, and every job stops once the jobs it
    /// started or stopped have settled, or at this deadline.
    session_ending: Option<(Instant, ReplyToken)>,
    /// A shutdown under way (see shutdown.rs).
    pub(crate) going_down: Option<crate::shutdown::GoingDown>,
    /// A shutdown waiting for its time.
    pub(crate) scheduled: Option<crate::shutdown::Scheduled>,
    /// The runlevels `telinit` and `runlevel` see.
    pub(crate) runlevels: outset_engine::runlevel::Runlevels,
    /// Where the runlevel is recorded.
    pub(crate) runlevel_file: std::path::PathBuf,
    /// `--cgroup-root` (see `Setup`).
    cgroup_root: Option<std::path::PathBuf>,
    /// Work was done since the loop was last idle (memory is trimmed once it is).
    busy: bool,
    /// Work happened since memory was last given back (see `TRIM_EVERY`).
    trim_due: bool,
    /// When memory was last given back.
    last_trim: Instant,
    /// When the loop last had something to do.
    last_active: Instant,
    /// Directories watched because a job waits for a file in (or below) them.
    ready_watches: std::collections::HashMap<outset_sys::inotify::Wd, std::path::PathBuf>,
    /// Paths jobs wait on with `file` events, and the directories watched for them.
    file_watches: crate::file_events::FileWatches,
    /// The bus connection `ready on dbus` checks use.
    bus: crate::bus_ready::BusReady,
    /// The session bus address given by `notify-dbus-address` (user mode), kept for the
    /// D-Bus API.
    pub dbus_address: Option<String>,
    /// The address given by `notify-cgroup-manager-address`: noted only, outset manages
    /// its cgroups itself.
    pub cgroup_manager_address: Option<String>,
    /// The daemon's binary and arguments as started: what a re-exec runs again.
    exe: std::path::PathBuf,
    argv: Vec<std::ffi::OsString>,
    /// SIGTERM re-executes (init, or `--sigterm-reexec`) instead of stopping every job.
    sigterm_reexec: bool,
    /// Adopted processes that are not children, watched through pidfds (by PID).
    adopted: std::collections::HashMap<u32, (InstanceId, outset_sys::pidfd::PidFd)>,
    /// Upstart's D-Bus API (private socket and bus).
    pub(crate) dbus: crate::dbus::Dbus,
    /// Device events (see devices.rs).
    devices: crate::devices::Devices,
}

pub struct Setup {
    pub mode: Mode,
    pub owner_uid: u32,
    pub engine: Engine,
    pub host: Host,
    pub confdirs: ConfDirs,
    pub signals: SignalFd,
    /// The control sockets (one token for all: each wake-up accepts from every one).
    pub listeners: Vec<Listener>,
    /// The daemon's open-file limit (connection limits are derived from it).
    pub fd_limit: u64,
    /// Where the runlevel is recorded.
    pub runlevel_file: std::path::PathBuf,
    /// `--cgroup-root`, tried again on reload while jobs are tracked by process group.
    pub cgroup_root: Option<std::path::PathBuf>,
    /// The daemon's binary and arguments as started (for a re-exec).
    pub exe: std::path::PathBuf,
    pub argv: Vec<std::ffi::OsString>,
    /// SIGTERM re-executes instead of stopping every job.
    pub sigterm_reexec: bool,
    /// Where to serve Upstart's D-Bus API.
    pub dbus: crate::dbus::Config,
    /// Where device events come from.
    pub devices: crate::devices::Devices,
}

impl Daemon {
    pub fn new(mut setup: Setup) -> std::io::Result<Daemon> {
        setup
            .host
            .set_conns(Conns::new(TOKEN_CONN0, setup.fd_limit));
        let poller = Poller::new()?;
        poller.add(setup.signals.as_fd(), TOKEN_SIGNALS)?;
        for listener in &setup.listeners {
            poller.add(listener.as_fd(), TOKEN_LISTENER)?;
        }
        setup
            .host
            .watch_spawn_reports(&poller, TOKEN_SPAWN_REPORTS)?;
        let inotify = match Inotify::new() {
            Ok(i) => match poller.add(i.as_fd(), TOKEN_INOTIFY) {
                Ok(()) => Some(i),
                Err(e) => {
                    log::warn!("inotify unusable, job files reload only on request: {e}");
                    None
                }
            },
            Err(e) => {
                log::warn!("inotify unavailable, job files reload only on request: {e}");
                None
            }
        };
        let mut d = Daemon {
            mode: setup.mode,
            owner_uid: setup.owner_uid,
            engine: setup.engine,
            host: setup.host,
            confdirs: setup.confdirs,
            poller,
            signals: setup.signals,
            listeners: setup.listeners,
            inotify,
            next_reply: 1,
            epoch: Instant::now(),
            observed: std::rc::Rc::new(std::cell::RefCell::new(crate::observe::Observed::new(
                crate::observe::wall_ms(),
            ))),
            wall_clock: std::rc::Rc::new(std::cell::Cell::new(crate::observe::wall_ms())),
            watched_upto: 0,
            session_ending: None,
            going_down: None,
            scheduled: None,
            runlevels: Default::default(),
            runlevel_file: setup.runlevel_file,
            cgroup_root: setup.cgroup_root,
            busy: false,
            trim_due: false,
            last_trim: Instant::now(),
            last_active: Instant::now(),
            ready_watches: std::collections::HashMap::new(),
            file_watches: Default::default(),
            bus: Default::default(),
            dbus_address: None,
            cgroup_manager_address: None,
            exe: setup.exe,
            argv: setup.argv,
            sigterm_reexec: setup.sigterm_reexec || setup.mode == Mode::Init,
            adopted: std::collections::HashMap::new(),
            dbus: crate::dbus::Dbus::new(setup.dbus),
            devices: setup.devices,
        };
        if let Some(i) = &d.inotify {
            d.confdirs.watch(i);
        }
        // From the first input on: the history covers the whole boot. Each record is packed
        // as the engine notes it; the notices themselves are kept for the D-Bus signals
        // only while someone on D-Bus may hear them (see `publish_notices`).
        let (observed, clock) = (d.observed.clone(), d.wall_clock.clone());
        d.engine.notice_sink(Box::new(move |n| {
            observed.borrow_mut().push_notice(n, clock.get());
        }));
        d.dbus_start();
        Ok(d)
    }

    fn now(&self) -> Millis {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn tick_clock(&mut self) {
        let now = self.now();
        self.engine.set_now(now);
        let wall = crate::observe::wall_ms();
        self.engine.set_wall_clock(wall);
        self.wall_clock.set(wall);
    }

    /// The end of a loop turn's work: the records the engine's notices made this turn (packed
    /// into the history as they came) are streamed to the `monitor` watchers; the notices
    /// go on to the D-Bus signals. Records a turn made beyond what the history holds are
    /// reported to watchers as dropped.
    fn publish_notices(&mut self) -> Vec<outset_engine::Notice> {
        let notices = self.engine.take_notices();
        self.engine.record_notices(self.dbus.has_audience());
        let total = self.observed.borrow().total();
        if total == self.watched_upto {
            return notices;
        }
        let since = std::mem::replace(&mut self.watched_upto, total);
        if !self.host.has_watchers() {
            return notices;
        }
        let now = crate::observe::wall_ms();
        let (lost, records) = self.observed.borrow().records_after(since);
        let mut sent = false;
        if lost > 0 {
            sent |= self
                .host
                .offer_watchers(&crate::observe::dropped_line(lost, now), now);
        }
        for r in records {
            match serde_json::to_string(&r) {
                Ok(line) => sent |= self.host.offer_watchers(&line, now),
                Err(e) => log::error!("cannot encode a record: {e}"),
            }
        }
        if sent {
            // Watchers whose records wait in their buffers are watched for writing now.
            self.sweep_conns();
        }
        notices
    }

    /// Loads the job files and hands them to the engine; how many jobs there are.
    pub fn reload(&mut self) -> usize {
        // A cgroup2 mounted (or made writable) since the start: new instances use it.
        if !self.host.has_cgroup_root()
            && let Some(root) = crate::cgroup_root(self.cgroup_root.as_deref(), self.mode, true)
        {
            log::info!(
                "cgroup2 is usable now: new instances are tracked in {}",
                root.display()
            );
            self.host.adopt_cgroup_root(root);
        }
        if let Some(i) = &self.inotify {
            self.confdirs.watch(i);
        }
        let jobs = self.confdirs.load();
        let count = jobs.len();
        log::debug!("{count} jobs loaded");
        self.host
            .activation()
            .sync(&jobs, &self.poller, TOKEN_SOCKET0);
        let created = match &self.inotify {
            Some(i) => {
                let (confdirs, ready) = (&self.confdirs, &self.ready_watches);
                self.file_watches
                    .sync(&jobs, i, |wd| confdirs.owns(wd) || ready.contains_key(&wd))
            }
            None => Vec::new(),
        };
        let wants_devices = jobs.iter().any(outset_engine::uevent::job_wants_devices);
        self.devices.want(wants_devices, &self.poller, TOKEN_UEVENT);
        let wants_dbus = jobs.iter().any(crate::dbus::signals::job_wants_dbus);
        self.tick_clock();
        self.engine.set_jobs(jobs, &mut self.host);
        self.emit_file_events(created);
        self.dbus_want_signals(wants_dbus);
        self.dbus_jobs_changed();
        count
    }

    /// `file` events, as the file bridge emitted them.
    fn emit_file_events(&mut self, events: Vec<crate::file_events::EventEnv>) {
        for env in events {
            let line: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            log::info!("emitting file {}", line.join(" "));
            self.tick_clock();
            self.engine.emit("file", env, None, &mut self.host);
        }
    }

    /// Emits an event from the daemon itself (startup, signals).
    pub fn emit_builtin(&mut self, name: &str) {
        self.emit_builtin_env(name, Vec::new());
    }

    /// Emits an event from the daemon itself with an environment.
    pub fn emit_builtin_env(&mut self, name: &str, env: Vec<(String, String)>) {
        log::info!("emitting {name}");
        self.tick_clock();
        self.engine.emit(name, env, None, &mut self.host);
    }

    /// Runs until a shutdown completes; returns the exit code.
    pub fn run(&mut self) -> i32 {
        let mut ready = Vec::new();
        loop {
            if let Some(code) = self.advance_shutdown() {
                return code;
            }
            self.watch_new_notify_sockets();
            self.host.logs.sweep(&self.poller, TOKEN_LOG0);
            let pending = self.engine.pending_sources();
            let sources_pending = !pending.is_empty();
            // Files are watched with inotify; sockets (and files without inotify) are
            // looked at every SOURCE_POLL, and only while a job waits.
            let needs_poll = pending
                .iter()
                .any(|(_, src)| !matches!(src, ReadySource::File(_)) || self.inotify.is_none());
            if !sources_pending && !self.ready_watches.is_empty() {
                self.drop_ready_watches();
            }
            if !pending
                .iter()
                .any(|(_, src)| matches!(src, ReadySource::Dbus(_)))
            {
                self.bus.idle(&self.poller);
            }
            let mut timeout = self.engine.next_deadline().map(|d| {
                std::time::Duration::from_millis(d.saturating_sub(self.now()).saturating_add(1))
            });
            // Cleanup (cgroup removal, returning memory) waits until nothing has happened for
            // a while, so it never competes with a burst of starts or stops.
            let idle_for = self.last_active.elapsed();
            if let Some(at) = self.shutdown_wake() {
                let wait = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            if let Some(at) = self
                .host
                .next_conn_wake()
                .into_iter()
                .chain(self.dbus.next_wake())
                .min()
            {
                let wait = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            let mut backlog = self.host.conns_with_backlog();
            backlog.extend(self.dbus.backlog());
            if self.busy || !backlog.is_empty() || self.engine.awaits_confirmation() {
                timeout = Some(std::time::Duration::ZERO);
            } else if self.host.has_retired() {
                let wait = CLEANUP_AFTER.saturating_sub(idle_for);
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            if self.trim_due && !self.busy {
                let wait = TRIM_EVERY.saturating_sub(self.last_trim.elapsed());
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            if let Some(at) = self.host.activation().next_wake() {
                let wait = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            if let Some((at, _)) = self.session_ending {
                let wait = at.saturating_duration_since(Instant::now());
                timeout = Some(timeout.map_or(wait, |t| t.min(wait)));
            }
            if self.host.logs.waiting() {
                // Output held in memory: the disk is tried again now and then.
                let every = crate::joblog::RETRY_EVERY;
                timeout = Some(timeout.map_or(every, |t| t.min(every)));
            }
            if needs_poll {
                timeout = Some(timeout.map_or(SOURCE_POLL, |t| t.min(SOURCE_POLL)));
            } else if self.host.any_retired() {
                // A cgroup that could not go yet is tried again shortly.
                let retry = std::time::Duration::from_millis(50);
                timeout = Some(timeout.map_or(retry, |t| t.min(retry)));
            }
            // Signals the engine decided on this turn and not sent yet go before the loop sleeps.
            self.host.flush_signals();
            ready.clear();
            if let Err(e) = self.poller.wait(&mut ready, timeout) {
                log::error!("epoll_wait: {e}");
                continue;
            }
            for &token in ready.iter() {
                match token {
                    TOKEN_SIGNALS => self.on_signals(),
                    TOKEN_LISTENER => self.on_accept(),
                    TOKEN_INOTIFY => self.on_inotify(),
                    TOKEN_BUS if self.bus.on_readable(&self.poller) => self.check_sources(),
                    TOKEN_SPAWN_REPORTS => self.host.collect_spawn_failures(),
                    crate::dbus::TOKEN_LISTENER => self.on_dbus_accept(),
                    TOKEN_UEVENT => self.on_uevents(),
                    t if t >= TOKEN_NOTIFY0 => self.on_notify(InstanceId(t - TOKEN_NOTIFY0)),
                    t if t >= TOKEN_SOCKET0 => self.on_socket(t),
                    t if t >= TOKEN_LOG0 => self.host.logs.on_readable(t - TOKEN_LOG0),
                    t if t >= TOKEN_PIDFD0 => {
                        self.on_adopted_exit(u32::try_from(t - TOKEN_PIDFD0).unwrap_or(0))
                    }
                    t if t >= crate::dbus::TOKEN_LINK0 => self.on_dbus_link(t),
                    t if t >= TOKEN_CONN0 => self.on_conn(t),
                    _ => {}
                }
            }
            // Requests left over from a connection's earlier turns, after everyone else's.
            for token in backlog {
                if !ready.contains(&token) {
                    if token >= crate::dbus::TOKEN_LINK0 {
                        self.on_dbus_link(token);
                    } else {
                        self.on_conn(token);
                    }
                }
            }
            if self.engine.next_deadline().is_some_and(|d| d <= self.now()) {
                self.tick_clock();
                self.engine.tick(&mut self.host);
            }
            self.check_session_end();
            self.sweep_conns();
            self.release_traced();
            if self.host.logs.waiting() {
                self.host.logs.flush_held(false);
            }
            if sources_pending {
                self.check_sources();
            }
            self.confirm_spawns();
            self.check_session_end();
            if self.host.activation().any_held() {
                self.rearm_sockets();
            }
            let notices = self.publish_notices();
            self.dbus_end_turn(notices);
            if !ready.is_empty() {
                self.busy = true;
                self.last_active = Instant::now();
            } else if self.busy {
                // The first idle moment after work: give freed memory back, unless that was
                // done a moment ago (a stop of thousands of jobs is many short bursts of
                // reaping; trimming after each one walked the whole heap every time).
                self.busy = false;
                self.trim_due = true;
                self.trim_if_due();
            } else {
                self.trim_if_due();
                // Not behind the trim: the wait above is zero while cgroups are due for
                // removal, and a sweep that waited for the trim spun the loop until then.
                if self.last_active.elapsed() >= CLEANUP_AFTER && self.host.has_retired() {
                    self.host.sweep_retired(64);
                }
            }
        }
    }

    /// Gives freed memory back if work happened since and the last time is `TRIM_EVERY` ago.
    fn trim_if_due(&mut self) {
        if self.trim_due && self.last_trim.elapsed() >= TRIM_EVERY {
            self.trim_due = false;
            self.last_trim = Instant::now();
            self.engine.shrink();
            outset_sys::process::release_free_memory();
        }
    }

    fn on_signals(&mut self) {
        let signals = match self.signals.read() {
            Ok(s) => s,
            Err(e) => {
                log::error!("reading signalfd: {e}");
                return;
            }
        };
        let mut reap = false;
        for signo in signals {
            match signo {
                sig::SIGCHLD => reap = true,
                sig::SIGHUP => {
                    log::info!("SIGHUP: reloading configuration, reopening job logs");
                    self.reload();
                    self.host.logs.reopen();
                }
                sig::SIGINT => match self.mode {
                    Mode::Init | Mode::Container => self.emit_builtin("control-alt-delete"),
                    Mode::System | Mode::User => self.shutdown("SIGINT"),
                },
                sig::SIGPWR => self.emit_builtin("power-status-changed"),
                // Upstart's: join the bus now (a `dbus` job sends it once the bus is up).
                sig::SIGUSR1 => self.dbus_join_now(),
                // Upstart re-execs itself on SIGTERM as init (after package upgrades); an
                // init must never exit, so a failed re-exec only logs why.
                sig::SIGTERM if self.sigterm_reexec => {
                    log::info!("SIGTERM: re-executing");
                    let why = self.reexec(None, None);
                    log::error!("re-exec failed, carrying on: {why}");
                }
                sig::SIGTERM if self.mode == Mode::User => self.end_session("shutdown"),
                sig::SIGTERM => self.shutdown("SIGTERM"),
                sig::SIGWINCH if matches!(self.mode, Mode::Init | Mode::Container) => {
                    self.emit_builtin("kbdrequest")
                }
                other => match crate::shutdown::signal_request(other) {
                    Some((action, force)) if matches!(self.mode, Mode::Init | Mode::Container) => {
                        self.begin_shutdown(&format!("signal {other}"), action, force)
                    }
                    _ => log::debug!("signal {other} ignored"),
                },
            }
        }
        if reap {
            self.reap();
        }
    }

    /// Device events waiting on the uevent socket, emitted as the bridge emitted them.
    fn on_uevents(&mut self) {
        for (name, env) in self.devices.read() {
            log::debug!("device event {name}");
            self.tick_clock();
            self.engine.emit(&name, env, None, &mut self.host);
        }
    }

    fn watch_new_notify_sockets(&mut self) {
        self.host.watch_new_notify(&self.poller, TOKEN_NOTIFY0);
    }

    /// sd_notify messages for an instance; only its own processes are heard.
    fn on_notify(&mut self, id: InstanceId) {
        self.tick_clock();
        loop {
            let Some(received) = self.host.recv_notify(id) else {
                return;
            };
            match received {
                Ok(Some(d)) => {
                    if !self.host.sent_by_member(id, &d) {
                        log::warn!(
                            "notify message from process {} (uid {}), which is not part of the job; ignored",
                            d.pid,
                            d.uid
                        );
                        continue;
                    }
                    self.engine.notify(id, d.uid, &d.text, &mut self.host);
                }
                Ok(None) => return,
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    log::warn!("{e}");
                }
                Err(e) => {
                    log::error!("reading a notify socket: {e}");
                    return;
                }
            }
        }
    }

    /// A connection waits on a socket-activation socket: `socket` is emitted with the
    /// bridge's variables, and while a job that names the socket has an instance the socket
    /// is left to it (see activation.rs).
    fn on_socket(&mut self, token: u64) {
        let Some((env, jobs)) = self.host.activation().fired(token) else {
            return;
        };
        let line: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        log::info!("emitting socket {}", line.join(" "));
        self.tick_clock();
        self.engine.emit("socket", env, None, &mut self.host);
        if jobs.iter().any(|j| self.job_has_instance(j)) {
            self.host.activation().hold(token, &self.poller);
        }
    }

    /// Whether `job` has an instance (in any state).
    fn job_has_instance(&self, job: &str) -> bool {
        self.engine
            .instance_ids()
            .into_iter()
            .any(|id| self.engine.instance_name(id).is_some_and(|(j, _)| j == job))
    }

    /// Held sockets whose jobs have all stopped are watched again.
    fn rearm_sockets(&mut self) {
        let engine = &self.engine;
        let running = |job: &str| {
            engine
                .instance_ids()
                .into_iter()
                .any(|id| engine.instance_name(id).is_some_and(|(j, _)| j == job))
        };
        self.host.activation().rearm(running, &self.poller);
    }

    /// Checks the readiness sources jobs wait for (bounded polling, only while one waits).
    fn check_sources(&mut self) {
        self.tick_clock();
        for (id, src) in self.engine.pending_sources() {
            let ok = match &src {
                ReadySource::File(path) => {
                    let exists = std::path::Path::new(path).exists();
                    if !exists {
                        self.watch_for_file(std::path::Path::new(path));
                    }
                    exists
                }
                ReadySource::Listening(addr) => match self.host.instance_processes(id) {
                    Ok(pids) => outset_sys::net::held_by(&listen_spec(addr), &pids),
                    Err(e) => {
                        log::debug!("`listening` check: {e}");
                        false
                    }
                },
                // The session bus for a user supervisor, else the system bus; answered
                // from the loop's watch, never by waiting for the bus.
                ReadySource::Dbus(name) => {
                    self.bus
                        .owned(name, self.mode == Mode::User, &self.poller, TOKEN_BUS)
                }
            };
            if ok {
                self.engine.source_state(id, &src, true, &mut self.host);
            }
        }
    }

    /// Watches the nearest existing directory on the way to `path`, so its creation (or that
    /// of a missing directory above it) wakes the loop.
    fn watch_for_file(&mut self, path: &std::path::Path) {
        let Some(inotify) = &self.inotify else {
            return;
        };
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d.is_dir() {
                break;
            }
            dir = d.parent();
        }
        let Some(dir) = dir else {
            return;
        };
        if self.ready_watches.values().any(|w| w == dir) {
            return;
        }
        use outset_sys::inotify::*;
        // MASK_ADD: the directory may also be a conf dir, whose watch must keep its events.
        let mask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MASK_ADD;
        match inotify.add_watch(dir, mask) {
            Ok(wd) => {
                self.ready_watches.insert(wd, dir.to_path_buf());
            }
            Err(e) => log::debug!("cannot watch {}: {e}", dir.display()),
        }
    }

    /// No job waits for a file any more.
    fn drop_ready_watches(&mut self) {
        for (wd, _) in self.ready_watches.drain() {
            // A directory the conf dirs or file events also watch shares the descriptor:
            // keep it.
            if !self.confdirs.owns(wd)
                && !self.file_watches.owns(wd)
                && let Some(i) = &self.inotify
            {
                let _ = i.rm_watch(wd);
            }
        }
    }

    /// Removes the last cgroups before exiting, giving killed leftovers a moment to die.
    pub(crate) fn drain_retired(&mut self) {
        for _ in 0..100 {
            if !self.host.any_retired() {
                return;
            }
            self.host.sweep_retired(usize::MAX);
            self.reap();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Ends a user session as Upstart's Session Init does: `session-end TYPE=<kind>`
    /// (`shutdown` for SIGTERM; Upstart's `EndSession` method, `logout`, needs the D-Bus
    /// API), so jobs with `stop on session-end` stop as they wrote; then every job stops and
    /// the daemon exits.
    pub fn end_session(&mut self, kind: &str) {
        if self.going_down.is_some() || self.session_ending.is_some() {
            return;
        }
        log::info!("ending the session: emitting session-end TYPE={kind}");
        let token = ReplyToken(self.next_reply);
        self.next_reply += 1;
        self.host.route_internal(token);
        self.session_ending = Some((Instant::now() + SESSION_END_WAIT, token));
        self.tick_clock();
        self.engine.emit(
            "session-end",
            vec![("TYPE".to_string(), kind.to_string())],
            Some(token),
            &mut self.host,
        );
        self.check_session_end();
    }

    /// Once `session-end` has finished (the jobs it started ran, those it stopped are
    /// down), or its time is up, every job stops, as Upstart's quiesce.
    fn check_session_end(&mut self) {
        let Some((deadline, token)) = self.session_ending else {
            return;
        };
        if self.host.answered(token) {
            self.session_ending = None;
            self.shutdown("session-end handled");
        } else if Instant::now() >= deadline {
            self.session_ending = None;
            self.shutdown("session-end still running after 5 s");
        }
    }
    /// Once per turn, after everything that may have spawned: waits at the exec barrier for
    /// the turn's spawns (one wait for the batch, see linux-layer.md), gives the engine every
    /// failure their children reported, then lets it send the `start` replies it held, so a
    /// client never hears "running" of a job whose main process failed before exec.
    fn confirm_spawns(&mut self) {
        // What a confirmation sets off (a failed run's post-stop) may spawn again: those
        // are confirmed too, before the loop sleeps; a bound, as any loop here has.
        for _ in 0..8 {
            if !self.engine.awaits_confirmation() {
                return;
            }
            self.confirm_batch();
        }
    }

    fn confirm_batch(&mut self) {
        let failed = self.host.exec_barrier();
        self.tick_clock();
        for (pid, error) in failed {
            // Not the engine's (or not any more): the reap hands it over as before.
            if !self.engine.spawn_failed(pid, &error, &mut self.host) {
                self.host.keep_spawn_failure(pid, error);
            }
        }
        self.engine.spawns_confirmed(&mut self.host);
    }

    /// Reaps every child that ended (orphans included: the daemon is PID 1 or a subreaper).
    /// While a job's launch chain is being tracked, each child's cgroup is read before it is
    /// reaped so exits of processes the daemon did not spawn count for their job.
    fn reap(&mut self) {
        self.tick_clock();
        // A child writes its failure report before it exits: read now, every reaped child
        // that failed before exec is known as such.
        self.host.collect_spawn_failures();
        // Sends any signal still queued first: none may wait past a reaping, since its PID
        // could be reused after.
        let signalled = self.host.take_signalled();
        let tracking = self.engine.tracking_exits();
        // Processes the daemon signalled are waited for by PID first (a stop of thousands of
        // jobs would otherwise scan every child per reaped one); while a launch chain is
        // tracked every child's cgroup is read first, so that path takes them all.
        let mut raw: Vec<(u32, i32, Option<String>)> = if tracking {
            Vec::new()
        } else {
            outset_sys::reap::reap_these(&signalled)
                .into_iter()
                .map(|(pid, status)| (pid, status, None))
                .collect()
        };
        raw.extend(outset_sys::reap::reap_all_raw(tracking));
        // A batch of several exits (a stop of many jobs) checks whether the whole cgroup tree
        // is empty once, instead of every stopping instance's cgroup; a lone exit reads its
        // own cgroup only.
        if raw.len() >= REAP_BATCH_ROOT_CHECK {
            self.host.begin_reap_batch();
        }
        for (pid, raw_status, cgroup) in raw {
            let status = match outset_sys::reap::exit_status(raw_status) {
                Some(status) => {
                    // Read before the engine may remove the instance with its cgroup.
                    if status == outset_proto::ExitStatus::Signaled(sig::SIGKILL) {
                        self.host.check_oom_kills(pid);
                    }
                    status
                }
                None if outset_sys::reap::stop_signal(raw_status).is_none() => continue,
                None => {
                    if self.host.child_stopped(pid, raw_status) {
                        self.engine.stopped(pid, &mut self.host);
                    }
                    continue;
                }
            };
            let Some(exiting) = self.host.child_ended(pid) else {
                // A traced process that is not the daemon's child ended without an exit
                // event (SIGKILL): its parent reaps it; without ptrace it would not be seen.
                log::debug!("traced process {pid} ended ({status:?}); left to its parent");
                continue;
            };
            if let Some(error) = self.host.take_spawn_failure(pid)
                && self.engine.spawn_failed(pid, &error, &mut self.host)
            {
                continue;
            }
            if self.engine.exited(pid, status, &mut self.host) {
                continue;
            }
            let inst = cgroup
                .and_then(|c| self.host.instance_of_cgroup(&c))
                .or(exiting);
            match inst {
                Some(inst) => self.engine.exited_in(inst, pid, status, &mut self.host),
                None => log::debug!("reaped process {pid} ({status:?})"),
            }
        }
        self.engine.after_reap(&mut self.host);
        self.host.end_reap_batch();
        self.release_traced();
    }

    /// `track ptrace`: once the engine knows an instance's main PID, its processes are let
    /// go.
    fn release_traced(&mut self) {
        let engine = &self.engine;
        self.host.release_traced(|inst| engine.main_pid(inst));
    }

    fn on_inotify(&mut self) {
        let events = match self.inotify.as_mut().map(|i| i.read_events()) {
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                log::error!("reading inotify: {e}");
                return;
            }
            None => return,
        };
        let mut changed = false;
        let mut ready_event = false;
        let mut overflow = false;
        let mine: Vec<&outset_sys::inotify::Event> = events
            .iter()
            .filter(|ev| self.file_watches.owns(ev.wd))
            .collect();
        let files = match &self.inotify {
            Some(i) if !mine.is_empty() => {
                let (confdirs, ready) = (&self.confdirs, &self.ready_watches);
                self.file_watches
                    .on_events(&mine, i, |wd| confdirs.owns(wd) || ready.contains_key(&wd))
            }
            _ => Vec::new(),
        };
        for ev in &events {
            if ev.mask & outset_sys::inotify::IN_Q_OVERFLOW != 0 {
                changed = true;
                ready_event = true;
                overflow = true;
                continue;
            }
            if self.ready_watches.contains_key(&ev.wd) {
                ready_event = true;
                if ev.mask & outset_sys::inotify::IN_IGNORED != 0 {
                    self.ready_watches.remove(&ev.wd);
                }
            }
            if self.confdirs.owns(ev.wd) && self.confdirs.on_event(ev) {
                changed = true;
            }
        }
        self.emit_file_events(files);
        if overflow && let Some(i) = &self.inotify {
            let (confdirs, ready) = (&self.confdirs, &self.ready_watches);
            self.file_watches
                .rescan(i, |wd| confdirs.owns(wd) || ready.contains_key(&wd));
        }
        if changed {
            log::debug!("job files changed; reloading");
            self.reload();
        }
        if ready_event {
            self.check_sources();
        }
    }

    /// Accepts new connections and serves what they already sent (a client's request is
    /// usually there with its connect), saving each a loop turn.
    fn on_accept(&mut self) {
        let (mode, owner) = (self.mode, self.owner_uid);
        let new = self
            .host
            .accept_conns(&self.listeners, &self.poller, |uid| {
                may_change(mode, owner, uid)
            });
        for token in new {
            self.on_conn(token);
        }
    }

    /// One turn of a connection: its output flushed, then its share of requests, each
    /// taken only while its replies still fit (conn.rs bounds both).
    fn on_conn(&mut self, token: u64) {
        if !self.host.begin_conn_turn(token) {
            return;
        }
        while let Some(incoming) = self.host.next_request(token) {
            self.request(token, incoming);
        }
    }

    /// Updates what each connection is watched for and drops those that are done.
    fn sweep_conns(&mut self) {
        self.host
            .sweep_conns(&self.poller, &self.listeners, TOKEN_LISTENER);
    }

    fn respond(&mut self, conn: u64, response: Response) {
        let token = self.route(conn);
        self.host.send(token, &response);
    }

    /// A reply token routed to a connection.
    fn route(&mut self, conn: u64) -> ReplyToken {
        let token = ReplyToken(self.next_reply_token());
        self.host.route(token, conn);
        token
    }

    /// A fresh reply token number.
    pub(crate) fn next_reply_token(&mut self) -> u64 {
        let n = self.next_reply;
        self.next_reply += 1;
        n
    }

    /// A fresh reply token.
    pub(crate) fn new_token(&mut self) -> ReplyToken {
        let token = ReplyToken(self.next_reply);
        self.next_reply += 1;
        token
    }

    pub(crate) fn may_change(&self, uid: u32) -> bool {
        may_change(self.mode, self.owner_uid, uid)
    }

    /// The jobs (all, or just `job`) whose files `uid` could not read, with the reason.
    fn unreadable_jobs(
        &self,
        job: Option<&str>,
        uid: u32,
        gid: u32,
    ) -> std::collections::HashMap<String, String> {
        self.confdirs
            .sources(job)
            .into_iter()
            .filter_map(|(name, files)| {
                let closed = files
                    .iter()
                    .find(|f| !crate::access::may_read(f, uid, gid))?;
                Some((
                    name.to_string(),
                    format!(
                        "{} is not readable by uid {uid}; its job's text is shown only to those who can read it",
                        closed.display()
                    ),
                ))
            })
            .collect()
    }

    fn request(&mut self, conn: u64, incoming: Incoming) {
        let line = match incoming {
            Incoming::Line(l) => l,
            Incoming::TooLong => {
                return self.respond(
                    conn,
                    Response::error(format!(
                        "request too long (the limit is {} bytes)",
                        outset_proto::MAX_LINE
                    )),
                );
            }
            Incoming::NotUtf8 => {
                return self.respond(conn, Response::error("malformed request: not UTF-8"));
            }
        };
        let (uid, gid) = self.host.conn_credentials(conn);
        let request = match outset_proto::parse_request_as(&line, self.may_change(uid)) {
            Ok(r) => r,
            Err(outset_proto::Refusal::Invalid(e)) => {
                return self.respond(conn, Response::error(e));
            }
            Err(outset_proto::Refusal::Denied) => {
                let who = match self.mode {
                    Mode::User => "the owner of this session",
                    _ => "root",
                };
                return self.respond(
                    conn,
                    Response::error(format!("Permission denied: only {who} may do that")),
                );
            }
        };
        if let Command::ShowConfig { job } = &request.command
            && !self.may_change(uid)
        {
            let hidden = self.unreadable_jobs(job.as_deref(), uid, gid);
            if let Some(j) = job
                && let Some(why) = hidden.get(j)
            {
                return self.respond(conn, Response::error(format!("Permission denied: {why}")));
            }
            if !hidden.is_empty() {
                let token = self.route(conn);
                self.host.withhold(token, hidden);
                self.tick_clock();
                return self.engine.command(request.command, token, &mut self.host);
            }
        }
        if let Some(response) = self.power_command(&request.command) {
            return self.respond(conn, response);
        }
        let command = match request.command {
            Command::Telinit { level, env, wait } => {
                match outset_engine::runlevel::parse_level(&level) {
                    Some(level) => self.telinit_emit(level, env, wait),
                    None => return self.respond(conn, Response::error("illegal runlevel")),
                }
            }
            cmd => cmd,
        };
        self.observe_emit(&command);
        self.tick_clock();
        match command {
            Command::NotifyDbusAddress { address } => {
                let reply = self.notify_dbus_address(address);
                self.respond(conn, reply);
            }
            Command::NotifyCgroupManagerAddress { address } => {
                log::info!(
                    "cgroup manager address {address} noted; outset manages job cgroups itself"
                );
                self.cgroup_manager_address = Some(address);
                self.respond(
                    conn,
                    Response::Ok {
                        body: outset_proto::Body::Done,
                    },
                );
            }
            Command::Reexec { binary } => {
                let token = self.route(conn);
                let why = self.reexec(binary.map(std::path::PathBuf::from), Some(token));
                log::error!("re-exec failed, carrying on: {why}");
                self.host
                    .send(token, &Response::error(format!("reexec: {why}")));
            }
            Command::ReloadConfiguration => {
                log::info!("reloading configuration on request");
                self.reload();
                self.host.logs.reopen();
                self.respond(
                    conn,
                    Response::Ok {
                        body: outset_proto::Body::Done,
                    },
                );
            }
            Command::NotifyDiskWriteable => {
                log::info!("the disk is writable: writing held job output");
                self.host.logs.flush_held(true);
                self.respond(
                    conn,
                    Response::Ok {
                        body: outset_proto::Body::Done,
                    },
                );
            }
            Command::LogPriority { priority } => {
                let reply = match priority {
                    None => Ok(crate::logger::priority()),
                    Some(p) => crate::logger::set_priority(&p).map(|()| {
                        log::info!("log priority set to {p}");
                        p
                    }),
                };
                let reply = match reply {
                    Ok(p) => Response::Ok {
                        body: outset_proto::Body::Priority(p),
                    },
                    Err(e) => Response::error(e),
                };
                self.respond(conn, reply);
            }
            Command::Log {
                job,
                instance,
                lines,
                after,
            } => {
                let reply = self.job_log(&job, instance.as_deref(), lines, after, uid, gid);
                self.respond(conn, reply);
            }
            Command::Monitor => {
                self.respond(
                    conn,
                    Response::Ok {
                        body: outset_proto::Body::Done,
                    },
                );
                self.host.watch(conn);
            }
            Command::History { since_ms } => {
                let h = self
                    .observed
                    .borrow()
                    .history(since_ms, crate::observe::wall_ms());
                self.respond(
                    conn,
                    Response::Ok {
                        body: outset_proto::Body::History(h),
                    },
                );
            }
            cmd => {
                let token = self.route(conn);
                self.engine.command(cmd, token, &mut self.host);
            }
        }
    }

    /// `outsetctl log`: for those who may change state, or may read the file.
    fn job_log(
        &self,
        job: &str,
        instance: Option<&str>,
        lines: usize,
        after: Option<outset_proto::LogCursor>,
        uid: u32,
        gid: u32,
    ) -> Response {
        if !self.host.logs.enabled() {
            return Response::error("job output is not logged (--no-log)");
        }
        if !self.engine.has_job(job) && !self.host.logs.has_output(job, instance.unwrap_or("")) {
            return Response::error(format!("Unknown job: {job}"));
        }
        let chunk = self
            .host
            .logs
            .tail(job, instance.unwrap_or(""), lines, after);
        if !self.may_change(uid)
            && !crate::access::may_read(std::path::Path::new(&chunk.path), uid, gid)
        {
            return Response::error(format!(
                "Permission denied: {} is not readable by uid {uid}",
                chunk.path
            ));
        }
        Response::Ok {
            body: outset_proto::Body::Log(chunk),
        }
    }
}

impl Daemon {
    /// `notify-dbus-address`: Upstart refuses it for PID 1 and otherwise keeps the first
    /// address for its session bus connection.
    fn notify_dbus_address(&mut self, address: String) -> Response {
        if outset_sys::process::pid() == 1 {
            return Response::error("Not permissible to notify D-Bus address for PID 1");
        }
        match &self.dbus_address {
            Some(old) => log::info!("D-Bus address {address} ignored: {old} was given first"),
            None if self.mode == Mode::User => {
                // A session's bus: Upstart's API is served there from now on (dbus.md).
                log::info!("D-Bus address {address} given: joining that bus");
                self.dbus_address = Some(address.clone());
                self.dbus_rejoin(Some(address));
            }
            None => {
                log::info!("D-Bus address {address} noted (the system daemon stays on its bus)");
                self.dbus_address = Some(address);
            }
        }
        Response::Ok {
            body: outset_proto::Body::Done,
        }
    }
}

/// Whether `uid` may change state: root, and in `--user` mode the session's owner.
fn may_change(mode: Mode, owner: u32, uid: u32) -> bool {
    uid == 0 || (mode == Mode::User && uid == owner)
}

/// `listening …` as the Linux layer looks for it; a host name that is not an address
/// matches any local address.
fn listen_spec(addr: &ListenAddr) -> outset_sys::net::Listen {
    let ip = |a: &Option<String>| a.as_deref().and_then(|a| a.parse().ok());
    match addr {
        ListenAddr::Tcp { addr, port } => outset_sys::net::Listen::Tcp {
            addr: ip(addr),
            port: *port,
        },
        ListenAddr::Udp { addr, port } => outset_sys::net::Listen::Udp {
            addr: ip(addr),
            port: *port,
        },
        ListenAddr::Unix(path) => outset_sys::net::Listen::Unix(path.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outset_sys::net::Listen;

    #[test]
    fn who_may_change_state() {
        for mode in [Mode::Init, Mode::Container, Mode::System, Mode::User] {
            assert!(may_change(mode, 1000, 0), "{mode:?}: root");
            assert!(!may_change(mode, 1000, 1001), "{mode:?}: another uid");
        }
        // The session's owner only in `--user` mode: elsewhere the owner field is moot.
        assert!(may_change(Mode::User, 1000, 1000));
        assert!(!may_change(Mode::System, 1000, 1000));
    }

    #[test]
    fn listening_sources_as_the_linux_layer_takes_them() {
        let tcp = |addr: Option<&str>| ListenAddr::Tcp {
            addr: addr.map(String::from),
            port: 80,
        };
        assert_eq!(
            listen_spec(&tcp(Some("127.0.0.1"))),
            Listen::Tcp {
                addr: Some("127.0.0.1".parse().unwrap()),
                port: 80
            }
        );
        assert_eq!(
            listen_spec(&tcp(Some("::1"))),
            Listen::Tcp {
                addr: Some("::1".parse().unwrap()),
                port: 80
            }
        );
        // A host name is not resolved: any local address will do.
        for addr in [None, Some("localhost")] {
            assert_eq!(
                listen_spec(&tcp(addr)),
                Listen::Tcp {
                    addr: None,
                    port: 80
                }
            );
        }
        assert_eq!(
            listen_spec(&ListenAddr::Udp {
                addr: Some("0.0.0.0".into()),
                port: 53
            }),
            Listen::Udp {
                addr: Some("0.0.0.0".parse().unwrap()),
                port: 53
            }
        );
        assert_eq!(
            listen_spec(&ListenAddr::Unix("/run/x.sock".into())),
            Listen::Unix("/run/x.sock".into())
        );
    }
}

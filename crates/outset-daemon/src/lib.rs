//! The outset daemon: one single-threaded epoll loop wiring the engine to the Linux layer.

mod access;
mod activation;
pub mod args;
#[doc(hidden)]
pub mod bench_support;
pub mod builtin_events;
mod bus_ready;
mod confdirs;
mod conn;
mod dbus;
mod devices;
mod event_loop;
mod file_events;
mod host;
mod joblog;
mod logger;
mod observe;
pub mod paths;
mod ptrace_track;
mod resources;
pub mod session;
mod shutdown;
mod spawn;
mod state;
mod tracker;

use std::path::PathBuf;

use crate::args::Args;
use crate::event_loop::{Daemon, Mode, Setup, sig};

/// Runs the daemon; returns the process exit code.
pub fn main() -> i32 {
    let is_init = outset_sys::process::pid() == 1;
    let args = match args::parse(std::env::args_os().collect()) {
        Ok(a) => a,
        // An init that exits panics the kernel: a bad option value leaves the defaults.
        Err(e) if is_init => {
            logger::init(log::LevelFilter::Info);
            log::error!(
                "bad command line ({}); going on with the default options",
                e.to_string().lines().next().unwrap_or_default()
            );
            args::defaults()
        }
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    if let Some(fd) = args.check_state {
        return match state::check(fd) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("outset: {e}");
                1
            }
        };
    }
    logger::init(args.log_level());
    if !args.ignored.is_empty() {
        log::info!(
            "ignoring command-line words outset has no use for: {}",
            args.ignored.join(" ")
        );
    }
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            if is_init {
                // An init that exits panics the kernel: a shell, else keep reaping.
                emergency_shell();
                reap_forever();
            }
            1
        }
    }
}

/// PID 1 that cannot run jobs: says so on the console and becomes a shell if there is one.
fn emergency_shell() {
    log::error!("starting an emergency shell");
    let e = outset_sys::process::exec_emergency_shell(outset_engine::DEFAULT_PATH);
    log::error!("no emergency shell: {e}");
}

/// Whether an init must give up on jobs for a shell: it is the machine's init and there
/// is no job to run at all.
fn needs_emergency_shell(mode: Mode, jobs: usize) -> bool {
    mode == Mode::Init && jobs == 0
}

/// The daemon's rotation of job logs, from `--log-rotate-size` and `--log-rotate-keep`.
fn log_rotate(args: &Args) -> Result<outset_job::LogRotate, String> {
    if args.log_rotate_size == "off" {
        return Ok(outset_job::LogRotate::OFF);
    }
    let max_size = outset_job::parse::parse_byte_size(&args.log_rotate_size).ok_or_else(|| {
        format!(
            "--log-rotate-size: bad size `{}` (bytes, or a number with K, M or G, or `off`)",
            args.log_rotate_size
        )
    })?;
    if args.log_rotate_keep > outset_job::parse::MAX_LOG_KEEP {
        return Err(format!(
            "--log-rotate-keep: at most {}",
            outset_job::parse::MAX_LOG_KEEP
        ));
    }
    Ok(outset_job::LogRotate {
        max_size,
        keep: args.log_rotate_keep,
    })
}

/// The last resort of a PID 1 whose setup failed: reap orphans, never exit.
fn reap_forever() -> ! {
    log::error!("setup failed; only reaping orphans from now on");
    loop {
        let _ = outset_sys::reap::reap_all_raw(false);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

fn mode(args: &Args) -> Mode {
    if outset_sys::process::pid() == 1 {
        if outset_sys::process::in_initial_pid_namespace() {
            Mode::Init
        } else {
            Mode::Container
        }
    } else if args.user {
        Mode::User
    } else {
        Mode::System
    }
}

/// Where instance cgroups go: `--cgroup-root`, else `outset` beside the daemon's own cgroup
/// (system) or below it (user). `None` when cgroup2 is unusable: tracking falls back to
/// process groups.
pub(crate) fn cgroup_root(
    explicit: Option<&std::path::Path>,
    mode: Mode,
    quiet: bool,
) -> Option<PathBuf> {
    let root = match explicit {
        Some(r) => r.to_path_buf(),
        None => {
            let mount = outset_sys::cgroup::cgroup2_mount()?;
            match mode {
                Mode::User => mount
                    .join(outset_sys::process::own_cgroup().unwrap_or_default())
                    .join("outset"),
                _ => mount.join("outset"),
            }
        }
    };
    match outset_sys::cgroup::Cgroup::create(&root) {
        Ok(_) => Some(root),
        Err(e) if quiet => {
            log::debug!("cgroup {} still unusable: {e}", root.display());
            None
        }
        Err(e) => {
            log::warn!(
                "cannot use cgroup {}: {e}; tracking jobs by process group",
                root.display()
            );
            None
        }
    }
}

/// The API filesystems, each unless already mounted, before any job runs (PID 1 of the
/// machine only). A failure is said on the console; the boot goes on with what works.
fn early_mounts() {
    use outset_sys::mounts;
    let mut mounted = mounts::mounts().unwrap_or_default();
    for m in &mounts::EARLY_MOUNTS {
        // Read again once /proc is there: without it nothing was known to be mounted.
        if mounts::missing(std::slice::from_ref(m), &mounted).is_empty() {
            log::debug!("{} is already mounted", m.target);
            continue;
        }
        match mounts::mount(m) {
            Ok(()) => log::info!("mounted {} at {}", m.fstype, m.target),
            Err(e) => log::error!("cannot mount {} at {}: {e}", m.fstype, m.target),
        }
        if m.target == "/proc" {
            mounted = mounts::mounts().unwrap_or_default();
        }
    }
}

/// The state behind `--state-fd`, or `None` when it cannot be taken: then it is kept in
/// a file beside the control socket for inspection, the descriptors it names are closed,
/// and the daemon starts without it (recovering its instances from the cgroup tree).
fn take_state(fd: i32, socket: &std::path::Path) -> Option<(state::State, state::Fds)> {
    use std::os::fd::AsFd;
    let text = match outset_sys::handover::take_fd(fd)
        .and_then(|f| outset_sys::handover::read_state(f.as_fd()))
    {
        Ok(t) => t,
        Err(e) => {
            log::warn!("no re-exec state on fd {fd}: {e}; recovering jobs from the cgroup tree");
            return None;
        }
    };
    match state::parse(&text) {
        Ok(s) => {
            let fds = take_all(s.fds.iter().copied());
            Some((s, fds))
        }
        Err(e) => {
            let keep = socket.with_file_name("outset-state.refused.json");
            let kept = match std::fs::write(&keep, &text) {
                Ok(()) => format!("kept in {}", keep.display()),
                Err(we) => format!("not kept ({}: {we})", keep.display()),
            };
            log::warn!("re-exec state refused: {e}; {kept}; recovering jobs from the cgroup tree");
            drop(take_all(state::envelope_fds(&text).into_iter()));
            None
        }
    }
}

/// Takes every descriptor a state names that is open, before this image opens any of its
/// own: a number is then never both a handed-over descriptor and one of this image's.
/// Dropped, they close (a refused state's clients see their connection end).
fn take_all(fds: impl Iterator<Item = i32>) -> state::Fds {
    fds.filter_map(|fd| match outset_sys::handover::take_fd(fd) {
        Ok(owned) => Some((fd, owned)),
        Err(e) => {
            log::warn!("descriptor {fd} named in the re-exec state: {e}");
            None
        }
    })
    .collect()
}

/// The control listeners a state hands over (the socket path's and the abstract one),
/// each with who it lets in; one that cannot be taken is said and left out.
fn handed_listeners(
    fds: &mut state::Fds,
    d: &state::DaemonState,
) -> Vec<outset_sys::unix_socket::Listener> {
    d.all_listeners()
        .into_iter()
        .filter_map(|(fd, only_uid)| {
            let taken = fds
                .remove(&fd)
                .ok_or_else(|| {
                    std::io::Error::other(format!("descriptor {fd} was not handed over"))
                })
                .and_then(|owned| outset_sys::unix_socket::Listener::from_fd(owned, only_uid));
            match taken {
                Ok(l) => Some(l),
                Err(e) => {
                    log::error!("control socket descriptor {fd} not taken over: {e}");
                    None
                }
            }
        })
        .collect()
}

fn run(args: Args) -> Result<i32, String> {
    let mut mode = mode(&args);
    // PID 1 without /proc cannot read its namespace: it is taken for the machine's init
    // (a container runtime mounts /proc for its init), and asked again once /proc is there.
    if mode == Mode::Init {
        early_mounts();
        mode = self::mode(&args);
        // The machine's init logs to the kernel log once /dev is there, as Upstart's did
        // (a container's init keeps stderr: the kernel log is the host's).
        logger::to_kmsg();
    }
    let uid = outset_sys::process::euid();
    let user = mode == Mode::User;
    if matches!(mode, Mode::System | Mode::User)
        && let Err(e) = outset_sys::reap::set_child_subreaper()
    {
        log::warn!("cannot become a subreaper, orphans will escape tracking: {e}");
    }
    if mode == Mode::Init
        && let Err(e) = outset_sys::process::disable_ctrl_alt_del()
    {
        log::warn!("cannot route Ctrl-Alt-Del to control-alt-delete: {e}");
    }
    if mode == Mode::Init
        && let Err(e) = outset_sys::power::accept_kbd_requests(sig::SIGWINCH)
    {
        log::warn!("cannot route the keyboard request to kbdrequest: {e}");
    }
    let socket = args.socket.clone().unwrap_or_else(|| {
        let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR");
        outset_proto::socket::default_socket(user, uid, runtime_dir.as_deref())
    });
    // Jobs find the daemon through OUTSET_SOCKET, whatever their working directory.
    let socket = std::path::absolute(&socket).unwrap_or(socket);
    // A re-exec's state, when it can be taken (else the instances are recovered from the
    // cgroup tree below). Taken before this image opens any descriptor it keeps, so the
    // descriptors a refused state names, closed here, can only be handed-over ones.
    let mut handed = args.state_fd.and_then(|fd| take_state(fd, &socket));
    let signals =
        outset_sys::signals::SignalFd::new(&sig::HANDLED).map_err(|e| format!("signalfd: {e}"))?;
    let fd_limit = outset_sys::process::raise_nofile_limit();
    // System mode: anyone may connect and read; changes are checked against the caller's
    // uid. User mode: the socket is the owner's alone.
    let (socket_mode, dir_mode) = if user { (0o600, 0o700) } else { (0o666, 0o755) };
    let mut listeners = handed
        .as_mut()
        .map(|(s, fds)| handed_listeners(fds, &s.daemon))
        .unwrap_or_default();
    if listeners.is_empty() {
        match outset_sys::unix_socket::Listener::bind(&socket, socket_mode, dir_mode) {
            Ok(l) => listeners.push(l),
            // PID 1 carries on: the abstract socket still answers.
            Err(e) if matches!(mode, Mode::Init | Mode::Container) => {
                log::error!("control socket {}: {e}", socket.display());
            }
            Err(e) => return Err(format!("control socket {}: {e}", socket.display())),
        }
        // Also an abstract socket, which no mount over the path's directory can hide.
        match outset_proto::socket::abstract_name(&socket) {
            Some(name) => {
                match outset_sys::unix_socket::Listener::bind_abstract(&name, user.then_some(uid)) {
                    Ok(l) => {
                        log::debug!("also listening on @{name}");
                        listeners.push(l);
                    }
                    Err(e) => log::warn!("abstract control socket @{name}: {e}"),
                }
            }
            None => log::warn!(
                "no abstract control socket: {} is too long for one",
                socket.display()
            ),
        }
    }
    if listeners.is_empty() {
        log::error!("no control socket at all: the daemon cannot be reached");
    }
    let confdirs = paths::confdirs(
        &args.prepend_confdirs,
        &args.confdirs,
        &args.append_confdirs,
        user,
        std::env::var_os(paths::CONFDIR_ENV).as_deref(),
    );
    for note in args.ignored_flags() {
        log::info!("{note}");
    }
    if args.no_dbus {
        log::info!("--no-dbus: Upstart's D-Bus API on the private socket only, on no bus");
    } else if args.session {
        log::info!("--session: Upstart's D-Bus API on the session bus");
    }
    let root = cgroup_root(args.cgroup_root.as_deref(), mode, false);
    let daemon_env: Vec<(String, String)> = std::env::vars().collect();
    let mut base_env = if user && !args.no_inherit_env {
        daemon_env.clone()
    } else {
        vec![
            ("PATH".to_string(), outset_engine::DEFAULT_PATH.to_string()),
            ("TERM".to_string(), "linux".to_string()),
        ]
    };
    // `initctl`, `start`, `stop` run by a job reach this daemon without setup.
    base_env.retain(|(k, _)| k != outset_proto::socket::SOCKET_ENV);
    base_env.push((
        outset_proto::socket::SOCKET_ENV.to_string(),
        socket.to_string_lossy().into_owned(),
    ));
    // A user daemon is a session, as Upstart's Session Init: its jobs learn its address
    // (UPSTART_SESSION, and outset's own OUTSET_SESSION: the control socket), and a session
    // file lets `initctl list-sessions` find it. The variables are given per process (the
    // host's spawn), as Upstart's `job_process_start` set them, not through the job
    // environment table: `list-env` does not show them and `set-env`/`unset-env` cannot
    // change them.
    let session = user.then(|| session::Session::new(uid, outset_sys::process::pid(), &socket));
    let session_file = session
        .as_ref()
        .and_then(|s| s.register(std::env::var_os("XDG_RUNTIME_DIR").as_deref()));
    let tracker = tracker::Tracker::new(root.clone());
    let opts = outset_engine::Options {
        base_env,
        daemon_env,
        version: outset_proto::version_line(
            env!("CARGO_PKG_VERSION"),
            &format!("{mode:?} mode, tracking by {}", tracker.mode()),
        ),
        track_ptrace: args.track == "ptrace",
        confirm_spawns: true,
        // Upstart refuses changes to the global table of PID 1 (any PID namespace's).
        fixed_env_table: outset_sys::process::pid() == 1,
    };
    let mut restored = None;
    if let Some((st, fds)) = handed {
        let logs = st.logs();
        match logs.and_then(|logs| {
            outset_engine::Engine::restore(opts.clone(), st.engine, st.clock_ms)
                .map(|engine| (engine, logs))
        }) {
            Ok((engine, logs)) => restored = Some((engine, st.clock_ms, st.daemon, logs, fds)),
            // The descriptors handed over close with `fds`: clients see their end.
            Err(e) => {
                log::warn!("re-exec state refused: {e}; recovering jobs from the cgroup tree")
            }
        }
    }
    let (mut engine, restore) = match restored {
        Some((engine, clock, d, logs, fds)) => (engine, Some((clock, d, logs, fds))),
        None => (outset_engine::Engine::new(opts), None),
    };
    let mut host = host::Host::new(tracker, user);
    if let Some(s) = &session {
        host.set_process_env(s.env());
    }
    host.set_resource_control(args.no_cgroups, mode == Mode::Init);
    let logdir = args
        .logdir
        .clone()
        .unwrap_or_else(|| paths::default_logdir(user));
    let logdir = std::path::absolute(&logdir).unwrap_or(logdir);
    if user && !args.no_log {
        // The user's own cache: made if missing (a system log directory may be on a disk
        // not mounted yet; output waits in memory for it instead).
        let _ = std::fs::create_dir_all(&logdir);
    }
    let rotate = log_rotate(&args)?;
    host.set_logs(joblog::Logs::new(joblog::LogConfig {
        dir: logdir.clone(),
        enabled: !args.no_log,
        user,
        rotate,
    }));
    engine.set_log_dir((!args.no_log).then(|| logdir.to_string_lossy().into_owned()));
    host.set_console(args.console_device.clone().or_else(|| {
        matches!(mode, Mode::Init | Mode::Container).then(|| PathBuf::from("/dev/console"))
    }));
    let mut confdirs = confdirs::ConfDirs::new(confdirs);
    confdirs.default_console = match args.default_console.as_str() {
        "output" => outset_job::Console::Output,
        "owner" => outset_job::Console::Owner,
        "none" => outset_job::Console::None,
        _ => outset_job::Console::Log,
    };
    let mut daemon = Daemon::new(Setup {
        mode,
        owner_uid: uid,
        engine,
        host,
        confdirs,
        signals,
        listeners,
        fd_limit,
        runlevel_file: shutdown::runlevel_file(&socket),
        cgroup_root: args.cgroup_root.clone(),
        exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe")),
        argv: std::env::args_os().collect(),
        sigterm_reexec: args.sigterm_reexec,
        dbus: dbus::Config {
            private: dbus::private_address(
                args.dbus_private.as_deref(),
                user,
                uid,
                outset_sys::process::pid(),
            ),
            bus: dbus::bus_address(
                if args.no_dbus {
                    Some("none")
                } else {
                    args.dbus_bus.as_deref()
                },
                user || args.session,
            ),
            user: user || args.session,
        },
        devices: devices::Devices::new(
            devices::Source::from_arg(&args.uevent_source),
            args.uevent_socket.clone(),
        ),
    })
    .map_err(|e| format!("event loop: {e}"))?;
    log::info!(
        "outset {} starting ({mode:?} mode, socket {}, {})",
        env!("CARGO_PKG_VERSION"),
        socket.display(),
        daemon.host.tracking()
    );
    match restore {
        Some((clock, d, logs, fds)) => {
            log::info!("state taken over from the previous image");
            daemon.restore(clock, d, logs, fds);
            // Job files changed meanwhile apply as a reload does; it takes the handed-over
            // socket-activation listeners.
            daemon.reload();
            daemon.host.activation().drop_unclaimed();
            // The state's text and what parsing it took go back to the system at once.
            outset_sys::process::release_free_memory();
        }
        None => {
            let jobs = daemon.reload();
            if needs_emergency_shell(mode, jobs) {
                log::error!(
                    "no job could be loaded from {}",
                    daemon
                        .confdirs
                        .dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                emergency_shell();
                log::error!("going on without jobs; the control socket still answers");
            }
            // A crash, a plain restart or a refused state: what still runs is adopted,
            // never started twice.
            daemon.adopt_cgroups();
            if args.restart {
                log::info!("--restart: startup event not emitted");
            } else if !args.no_startup_event && args.state_fd.is_none() {
                // The runlevel a boot word asked for, as rc-sysinit-style jobs read it.
                let env: Vec<(String, String)> = args
                    .default_runlevel
                    .map(|l| ("DEFAULT_RUNLEVEL".to_string(), l.to_string()))
                    .into_iter()
                    .collect();
                daemon.emit_builtin_env(&args.startup_event, env);
            }
        }
    }
    let code = daemon.run();
    let _ = std::fs::remove_file(&socket);
    if let Some(f) = session_file {
        let _ = std::fs::remove_file(f);
    }
    if let Some(root) = root
        && args.cgroup_root.is_none()
    {
        let _ = std::fs::remove_dir(root);
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue13_item8_only_the_machines_init_without_jobs_gets_a_shell() {
        assert!(needs_emergency_shell(Mode::Init, 0));
        assert!(!needs_emergency_shell(Mode::Init, 1));
        for mode in [Mode::Container, Mode::System, Mode::User] {
            assert!(!needs_emergency_shell(mode, 0), "{mode:?}");
        }
    }
}

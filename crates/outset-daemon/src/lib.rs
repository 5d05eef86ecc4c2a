//! The outset daemon: one single-threaded epoll loop wiring the engine to the Linux layer.

mod access;
pub mod args;
mod bus_ready;
mod confdirs;
mod conn;
mod event_loop;
mod host;
mod joblog;
mod logger;
pub mod paths;
mod ptrace_track;
mod spawn;
mod tracker;

use std::path::PathBuf;

use clap::Parser;

use crate::args::Args;
use crate::event_loop::{Daemon, Mode, Setup, sig};

/// Runs the daemon; returns the process exit code.
pub fn main() -> i32 {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    logger::init(args.debug);
    let is_init = outset_sys::process::pid() == 1;
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            log::error!("{e}");
            if is_init {
                // An init that exits panics the kernel: keep reaping instead.
                reap_forever();
            }
            1
        }
    }
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
fn cgroup_root(args: &Args, mode: Mode) -> Option<PathBuf> {
    let root = match &args.cgroup_root {
        Some(r) => r.clone(),
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
        Err(e) => {
            log::warn!(
                "cannot use cgroup {}: {e}; tracking jobs by process group",
                root.display()
            );
            None
        }
    }
}

fn run(args: Args) -> Result<i32, String> {
    let mode = mode(&args);
    // The machine's init logs to the kernel log, as Upstart's did (a container's init
    // keeps stderr: the kernel log is the host's).
    if mode == Mode::Init {
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
    let signals = outset_sys::signals::SignalFd::new(&[
        sig::SIGCHLD,
        sig::SIGHUP,
        sig::SIGINT,
        sig::SIGTERM,
        sig::SIGPWR,
    ])
    .map_err(|e| format!("signalfd: {e}"))?;
    let fd_limit = outset_sys::process::raise_nofile_limit();
    let socket = args.socket.clone().unwrap_or_else(|| {
        let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR");
        outset_proto::socket::default_socket(user, uid, runtime_dir.as_deref())
    });
    // Jobs find the daemon through OUTSET_SOCKET, whatever their working directory.
    let socket = std::path::absolute(&socket).unwrap_or(socket);
    // System mode: anyone may connect and read; changes are checked against the caller's
    // uid. User mode: the socket is the owner's alone.
    let (socket_mode, dir_mode) = if user { (0o600, 0o700) } else { (0o666, 0o755) };
    let listener = outset_sys::unix_socket::Listener::bind(&socket, socket_mode, dir_mode)
        .map_err(|e| format!("control socket {}: {e}", socket.display()))?;
    let confdirs = if args.confdirs.is_empty() {
        paths::default_confdirs(user)
    } else {
        args.confdirs.clone()
    };
    let root = cgroup_root(&args, mode);
    let daemon_env: Vec<(String, String)> = std::env::vars().collect();
    let mut base_env = if user {
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
    let tracker = tracker::Tracker::new(root.clone());
    let mut engine = outset_engine::Engine::new(outset_engine::Options {
        base_env,
        daemon_env,
        version: format!(
            "outset {} ({mode:?} mode, tracking by {})",
            env!("CARGO_PKG_VERSION"),
            tracker.mode()
        ),
        track_ptrace: args.track == "ptrace",
        confirm_spawns: true,
    });
    let mut host = host::Host::new(tracker, user);
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
        listener,
        fd_limit,
    })
    .map_err(|e| format!("event loop: {e}"))?;
    log::info!(
        "outset {} starting ({mode:?} mode, socket {}, {})",
        env!("CARGO_PKG_VERSION"),
        socket.display(),
        daemon.host.tracking()
    );
    daemon.reload();
    if !args.no_startup_event {
        daemon.emit_builtin(&args.startup_event);
    }
    let code = daemon.run();
    let _ = std::fs::remove_file(&socket);
    if let Some(root) = root
        && args.cgroup_root.is_none()
    {
        let _ = std::fs::remove_dir(root);
    }
    Ok(code)
}

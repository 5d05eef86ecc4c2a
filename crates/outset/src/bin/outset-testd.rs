//! `outset-testd`: a configurable fake daemon for outset's tests and benchmarks.
//!
//! It starts the way real daemons do, on command: forks N times (each fork is a re-exec of
//! itself, so the process tree is the same as a forking daemon's), lets the launcher wait or
//! fail, runs and reaps a helper first, writes a pid file, listens on a port, notifies on
//! `NOTIFY_SOCKET`, ignores SIGTERM, spawns children, and so on. Options:
//!
//! ```text
//! --forks N            fork N times before becoming the daemon (intermediates exit)
//! --parent-wait-ms MS  the launcher waits MS before exiting (a parent that waits)
//! --parent-exit CODE   the launcher exits with CODE after forking
//! --helper             run and reap a short-lived helper process before forking
//! --pidfile PATH       the daemon writes its pid here (after --pidfile-delay-ms MS)
//! --listen PORT        the daemon listens on 127.0.0.1:PORT (after --listen-delay-ms MS)
//! --notify             the daemon sends READY=1 to $NOTIFY_SOCKET (after --notify-delay-ms MS)
//! --mainpid PID        with --notify, also send MAINPID=PID
//! --status TEXT        with --notify, send STATUS=TEXT first
//! --ignore-term        the daemon ignores SIGTERM (it must be killed)
//! --children N         the daemon spawns N sleeping children
//! --escape             the daemon starts a setsid'd double-forked escapee
//! --stop-self          the daemon raises SIGSTOP once (expect stop)
//! --exit-after-ms MS   the daemon exits after MS with --exit-code CODE (default 0)
//! --touch PATH         the daemon creates PATH once ready (ready on file)
//! --dbus-name NAME     the daemon owns NAME on $DBUS_SESSION_BUS_ADDRESS (after --dbus-delay-ms)
//! --serve-fd3 PATH     socket activation: write LISTEN_FDS, LISTEN_PID, UPSTART_FDS,
//!                      LISTEN_FDNAMES and its PID to PATH, then answer every connection on
//!                      the listening socket at fd 3 with `served by PID N` and close it
//! ```

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[derive(Debug, Default, Clone)]
struct Opts {
    forks: u32,
    parent_wait_ms: u64,
    parent_exit: i32,
    helper: bool,
    pidfile: Option<String>,
    pidfile_delay_ms: u64,
    listen: Option<u16>,
    listen_delay_ms: u64,
    notify: bool,
    notify_delay_ms: u64,
    mainpid: Option<u32>,
    status: Option<String>,
    ignore_term: bool,
    children: u32,
    escape: bool,
    stop_self: bool,
    exit_after_ms: Option<u64>,
    exit_code: i32,
    touch: Option<String>,
    dbus_name: Option<String>,
    dbus_delay_ms: u64,
    serve_fd3: Option<String>,
    /// Internal: marks a forked daemon-side copy, with the forks still to do.
    level: Option<u32>,
    /// Internal: run as a sleeping child.
    sleeper: bool,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut it = args.iter();
    fn val<'a>(it: &mut impl Iterator<Item = &'a String>, flag: &str) -> Result<String, String> {
        it.next()
            .cloned()
            .ok_or_else(|| format!("{flag} needs a value"))
    }
    fn num<T: std::str::FromStr>(s: String, flag: &str) -> Result<T, String> {
        s.parse().map_err(|_| format!("{flag}: bad number {s}"))
    }
    while let Some(a) = it.next() {
        match a.as_str() {
            "--forks" => o.forks = num(val(&mut it, a)?, a)?,
            "--parent-wait-ms" => o.parent_wait_ms = num(val(&mut it, a)?, a)?,
            "--parent-exit" => o.parent_exit = num(val(&mut it, a)?, a)?,
            "--helper" => o.helper = true,
            "--pidfile" => o.pidfile = Some(val(&mut it, a)?),
            "--pidfile-delay-ms" => o.pidfile_delay_ms = num(val(&mut it, a)?, a)?,
            "--listen" => o.listen = Some(num(val(&mut it, a)?, a)?),
            "--listen-delay-ms" => o.listen_delay_ms = num(val(&mut it, a)?, a)?,
            "--notify" => o.notify = true,
            "--notify-delay-ms" => o.notify_delay_ms = num(val(&mut it, a)?, a)?,
            "--mainpid" => o.mainpid = Some(num(val(&mut it, a)?, a)?),
            "--status" => o.status = Some(val(&mut it, a)?),
            "--ignore-term" => o.ignore_term = true,
            "--children" => o.children = num(val(&mut it, a)?, a)?,
            "--escape" => o.escape = true,
            "--stop-self" => o.stop_self = true,
            "--exit-after-ms" => o.exit_after_ms = Some(num(val(&mut it, a)?, a)?),
            "--exit-code" => o.exit_code = num(val(&mut it, a)?, a)?,
            "--touch" => o.touch = Some(val(&mut it, a)?),
            "--dbus-name" => o.dbus_name = Some(val(&mut it, a)?),
            "--dbus-delay-ms" => o.dbus_delay_ms = num(val(&mut it, a)?, a)?,
            "--serve-fd3" => o.serve_fd3 = Some(val(&mut it, a)?),
            "--level" => o.level = Some(num(val(&mut it, a)?, a)?),
            "--sleeper" => o.sleeper = true,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(o)
}

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn sleep_forever() -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Re-runs this binary with the same options plus `extra`, as a "fork" of the current process.
fn fork_self(args: &[String], extra: &[String]) -> std::io::Result<std::process::Child> {
    let exe = std::env::current_exe()?;
    let mut filtered: Vec<String> = Vec::new();
    let mut skip = false;
    for a in args {
        if skip {
            skip = false;
            continue;
        }
        if a == "--level" {
            skip = true;
            continue;
        }
        filtered.push(a.clone());
    }
    Command::new(exe)
        .args(&filtered)
        .args(extra)
        .stdin(Stdio::null())
        .spawn()
}

fn run() -> Result<i32, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse(&args)?;
    let me = std::process::id();
    if o.sleeper {
        sleep_forever();
    }
    let remaining = o.level.unwrap_or(o.forks);
    let launcher = o.level.is_none();
    if launcher && o.helper {
        // A short-lived helper, run and reaped by us before forking (like exim or squid).
        let status = Command::new("true").status().map_err(|e| e.to_string())?;
        if !status.success() {
            return Err("helper failed".into());
        }
    }
    if remaining > 0 {
        let child = fork_self(&args, &["--level".into(), (remaining - 1).to_string()])
            .map_err(|e| format!("fork: {e}"))?;
        println!("testd {me}: forked {}", child.id());
        if launcher && o.parent_wait_ms > 0 {
            sleep_ms(o.parent_wait_ms);
        }
        // Leave the child behind without reaping it: it is reparented to the subreaper.
        std::mem::forget(child);
        let code = if launcher { o.parent_exit } else { 0 };
        std::process::exit(code);
    }
    daemon(&o, &args)
}

fn daemon(o: &Opts, args: &[String]) -> Result<i32, String> {
    let me = std::process::id();
    println!("testd {me}: daemon running");
    let _ = std::io::stdout().flush();
    if o.ignore_term {
        // `trap '' TERM` in a shell that then execs us would also work; std has no sigaction,
        // so a shell wrapper re-executes us with TERM ignored (ignored signals survive exec).
        if std::env::var_os("OUTSET_TESTD_TERM_IGNORED").is_none() {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c")
                .arg("trap '' TERM; exec \"$0\" \"$@\"")
                .arg(exe)
                .args(args)
                .args(["--level", "0"])
                .env("OUTSET_TESTD_TERM_IGNORED", "1");
            use std::os::unix::process::CommandExt;
            let err = cmd.exec();
            return Err(format!("exec: {err}"));
        }
    }
    for _ in 0..o.children {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let child = Command::new(exe)
            .arg("--sleeper")
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawn child: {e}"))?;
        std::mem::forget(child);
    }
    if o.escape {
        // setsid + double fork: the escapee is in its own session, orphaned at once.
        let child = Command::new("setsid")
            .args(["-f", "sh", "-c", "sleep 1000 & exit 0"])
            .stdin(Stdio::null())
            .spawn()
            .map_err(|e| format!("escape: {e}"))?;
        std::mem::forget(child);
    }
    if o.stop_self {
        let _ = Command::new("kill")
            .args(["-STOP", &me.to_string()])
            .status();
    }
    if let Some(path) = &o.pidfile {
        sleep_ms(o.pidfile_delay_ms);
        let tmp = format!("{path}.tmp{me}");
        std::fs::write(&tmp, format!("{me}\n")).map_err(|e| format!("pidfile: {e}"))?;
        std::fs::rename(&tmp, path).map_err(|e| format!("pidfile: {e}"))?;
    }
    let _listener = match o.listen {
        Some(port) => {
            sleep_ms(o.listen_delay_ms);
            Some(
                std::net::TcpListener::bind(("127.0.0.1", port))
                    .map_err(|e| format!("listen {port}: {e}"))?,
            )
        }
        None => None,
    };
    if o.notify {
        sleep_ms(o.notify_delay_ms);
        notify(o)?;
    }
    if let Some(path) = &o.touch {
        std::fs::write(path, b"ready\n").map_err(|e| format!("touch: {e}"))?;
    }
    // Held (and so owned) for as long as the daemon lives.
    let _bus_name = match &o.dbus_name {
        Some(name) => {
            sleep_ms(o.dbus_delay_ms);
            let address = std::env::var("DBUS_SESSION_BUS_ADDRESS")
                .map_err(|_| "DBUS_SESSION_BUS_ADDRESS not set".to_string())?;
            Some(
                outset_sys::dbus::request_name(&address, name, Duration::from_secs(2))
                    .map_err(|e| format!("dbus: {e}"))?,
            )
        }
        None => None,
    };
    if let Some(path) = &o.serve_fd3 {
        return serve_fd3(path);
    }
    if let Some(ms) = o.exit_after_ms {
        sleep_ms(ms);
        return Ok(o.exit_code);
    }
    if let Some(l) = &_listener {
        // Accept and drop connections so clients see a live server.
        for conn in l.incoming() {
            drop(conn);
        }
    }
    sleep_forever();
}

/// A socket-activated server: what it was given, then a line per connection.
fn serve_fd3(path: &str) -> Result<i32, String> {
    let me = std::process::id();
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| "-".into());
    let line = format!(
        "LISTEN_FDS={} LISTEN_PID={} UPSTART_FDS={} LISTEN_FDNAMES={} PID={me}\n",
        var("LISTEN_FDS"),
        var("LISTEN_PID"),
        var("UPSTART_FDS"),
        var("LISTEN_FDNAMES")
    );
    let tmp = format!("{path}.tmp{me}");
    std::fs::write(&tmp, line).map_err(|e| format!("{path}: {e}"))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{path}: {e}"))?;
    let listener = outset_sys::activation::inherited(3).map_err(|e| e.to_string())?;
    loop {
        let conn = outset_sys::activation::accept(&listener).map_err(|e| format!("accept: {e}"))?;
        let mut f = std::fs::File::from(conn);
        // A client gone already is no error of the server's.
        let _ = f.write_all(format!("served by PID {me}\n").as_bytes());
    }
}

fn notify(o: &Opts) -> Result<(), String> {
    let path = std::env::var("NOTIFY_SOCKET").map_err(|_| "NOTIFY_SOCKET not set".to_string())?;
    let sock = std::os::unix::net::UnixDatagram::unbound().map_err(|e| e.to_string())?;
    let mut msg = String::new();
    if let Some(s) = &o.status {
        msg.push_str(&format!("STATUS={s}\n"));
    }
    if let Some(p) = o.mainpid {
        msg.push_str(&format!("MAINPID={p}\n"));
    }
    msg.push_str("READY=1\n");
    if let Some(abs) = path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abs.as_bytes())
            .map_err(|e| e.to_string())?;
        sock.send_to_addr(msg.as_bytes(), &addr)
            .map_err(|e| format!("notify: {e}"))?;
    } else {
        sock.send_to(msg.as_bytes(), &path)
            .map_err(|e| format!("notify: {e}"))?;
    }
    Ok(())
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("outset-testd: {e}");
            std::process::exit(2);
        }
    }
}

complete -c outset -l confdir -d 'Directory of job files; repeatable, searched in order (the first owning a name wins). Replaces the default directories (system mode: `$UPSTART_CONFDIR`, else /etc/init)' -r -F
complete -c outset -l prepend-confdir -d 'A job directory searched before the others; repeatable' -r -F
complete -c outset -l append-confdir -d 'A job directory searched after the others; repeatable' -r -F
complete -c outset -l logdir -d 'Directory of `console log` job output (default: /var/log/outset; in --user mode the user\'s cache directory, `$XDG_CACHE_HOME/outset`)' -r -F
complete -c outset -l default-console -d 'The console of jobs without a `console` stanza: log, output, owner or none' -r -f -a "log\t''
output\t''
owner\t''
none\t''"
complete -c outset -l log-rotate-size -d 'Rotate a job\'s log once it would pass SIZE bytes (K, M, G suffixes; `off`: never), unless the job\'s `log rotate` says otherwise' -r
complete -c outset -l log-rotate-keep -d 'How many rotated files (`JOB.log.1`, …) to keep' -r
complete -c outset -l console-device -d 'The terminal `console output` and `console owner` jobs get (default: /dev/console when the daemon is PID 1, else the daemon\'s own stdin, stdout and stderr)' -r -F
complete -c outset -l socket -d 'Control socket path' -r -F
complete -c outset -l cgroup-root -d 'cgroup v2 directory under which job cgroups are created' -r -F
complete -c outset -l uevent-source -d 'Where device events come from: `auto` (udevd\'s messages while udevd runs, else the kernel\'s), `kernel` or `udev` (see docs/devices.md)' -r -f -a "auto\t''
kernel\t''
udev\t''"
complete -c outset -l uevent-socket -d 'Test hook: device events are read from a Unix datagram socket made at PATH (each datagram one uevent in either wire format) instead of netlink' -r -F
complete -c outset -l startup-event -d 'Name of the startup event' -r
complete -c outset -l state-fd -d 'Take the state a re-exec handed over from this fd (a memfd; docs/reexec.md)' -r
complete -c outset -l check-state -d 'Only check that the state behind FD can be taken, then exit 0 (or 1 with why): what a re-exec asks of its target before it execs' -r
complete -c outset -l track -d 'How jobs are tracked: `cgroup` (each job\'s `track` stanza decides) or `ptrace` (every job\'s launch chain is also followed with ptrace, as `track ptrace` does)' -r -f -a "cgroup\t''
ptrace\t''"
complete -c outset -l dbus-private -d 'Where to serve Upstart\'s D-Bus API as a private server: a `unix:abstract=NAME` address, `none`, or `auto` (the default): Upstart\'s `unix:abstract=/com/ubuntu/upstart` (`--user`: `…/upstart-session/UID/PID`)' -r
complete -c outset -l dbus-bus -d 'The bus to serve Upstart\'s D-Bus API on as `com.ubuntu.Upstart`: an address, `none`, or `auto` (the default): the system bus (`--user`: the session bus), joined when it appears' -r
complete -c outset -l user -d 'Run as a per-user supervisor (subreaper, user paths, changes allowed for the owner)'
complete -c outset -l no-inherit-env -d 'User mode: jobs do not inherit the daemon\'s environment (only PATH and TERM, as in system mode, where this is always so)'
complete -c outset -l no-log -d 'Log no job output: `console log` behaves as `console none`'
complete -c outset -l no-startup-event -d 'Do not emit the startup event'
complete -c outset -l sigterm-reexec -d 'SIGTERM re-executes the daemon, keeping every job, as it does for init (PID 1 of the initial PID namespace), instead of stopping every job'
complete -c outset -l debug -d 'Log debug messages too'
complete -c outset -s v -l verbose -d 'Log informational messages (Upstart\'s `--verbose`; outset logs them by default)'
complete -c outset -s q -l quiet -d 'Log errors only (`--debug` wins over it)'
complete -c outset -l restart -d 'Upstart\'s re-exec marker: the startup event is not emitted (outset\'s own re-exec passes `--state-fd` instead)'
complete -c outset -l write-state-file -d 'Upstart: also write the re-exec state to a file. Accepted and ignored: outset hands its state over in memory, and keeps a refused one in `outset-state.refused.json`'
complete -c outset -l session -d 'Upstart: serve the D-Bus API on the session bus instead of the system bus (as `--user` does)'
complete -c outset -l no-dbus -d 'Upstart: join no D-Bus bus (the API stays on the private socket; `ready on dbus` conditions still look at the system bus). Same as `--dbus-bus none`'
complete -c outset -l no-cgroups -d 'Upstart: ignore `cgroup` stanzas. outset applies neither `cgroup` nor `resource` stanzas then (each job says so in `status --json`); its own per-instance cgroups are how it tracks jobs, so they stay'
complete -c outset -l no-sessions -d 'Upstart: disable chroot sessions (its code names the flag `--chroot-sessions`). outset has no chroot sessions: both are accepted and ignored'
complete -c outset -s h -l help -d 'Print help'
complete -c outset -s V -l version -d 'Print version'

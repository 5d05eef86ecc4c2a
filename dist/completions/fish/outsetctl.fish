# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_outsetctl_global_optspecs
    string join \n socket= json n/no-wait user session system dest= q/quiet v/verbose h/help V/version
end

function __fish_outsetctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_outsetctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_outsetctl_using_subcommand
    set -l cmd (__fish_outsetctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c outsetctl -n "__fish_outsetctl_needs_command" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_needs_command" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_needs_command" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -s V -l version -d 'Print version'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "start" -d 'Start a job instance'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "stop" -d 'Stop a job instance'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "restart" -d 'Stop a job instance and start it again'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "reload" -d 'Send a job instance its reload signal'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "status" -d 'Show a job\'s instances (with --json also when each was spawned, became ready and last changed state)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "list" -d 'Show every job and instance'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "emit" -d 'Emit an event'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "reload-configuration" -d 'Make the daemon re-read its job directories'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "show-config" -d 'Show jobs\' emits, start on and stop on conditions, as initctl does'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "check-config" -d 'Report conditions on events no job emits and on jobs that do not exist, over the daemon\'s jobs or, given paths (containing `/`, ending in `.conf`, or existing), over those job files with no daemon; exit 1 if anything is in error'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "graph" -d 'Draw the jobs and the events that start, stop and connect them, as DOT or SVG'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "usage" -d 'Show a job\'s `usage` stanza'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "list-env" -d 'Print the job environment table, sorted (inside a job: that job\'s environment)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "get-env" -d 'Print one variable of the job environment table'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "set-env" -d 'Set variables in the job environment table (a bare VARIABLE is set empty); jobs started from then on receive them (inside a job: its later processes)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "unset-env" -d 'Remove variables from the job environment table'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "reset-env" -d 'Put the job environment table back as it was when the daemon started'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "notify-dbus-address" -d 'Tell a user daemon the address of its session\'s D-Bus bus'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "notify-cgroup-manager-address" -d 'Tell the daemon where a cgroup manager listens (noted only: outset manages its cgroups itself)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "list-sessions" -d 'List the user\'s sessions: `PID UPSTART_SESSION` per running session daemon'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "log" -d 'Show a job\'s `console log` output: its last lines, and with -f what follows, across rotations (`-n N` is taken as `--lines N` after `log`)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "notify-disk-writeable" -d 'Tell the daemon the disk is writable: job output held in memory is written now'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "monitor" -d 'Watch events and job state changes as they happen, one line each (with --json one JSON object per line), until interrupted. A watcher that does not keep up is told how many records it missed (`dropped N records`)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "timeline" -d 'Show what happened since the daemon started (or in the last SECONDS) as a chart: one bar per instance run from starting to spawned to ready to stopped, and the events; text for a terminal, or with --svg an SVG picture. The daemon keeps the last 4096 records'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "log-priority" -d 'Show the daemon\'s log priority, or set it: debug, info, message, warn, error or fatal'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "reexec" -d 'Make the daemon re-execute itself (its own binary, or PATH), keeping every job, event and waiting client; answered by the new image'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "version" -d 'Print the daemon\'s version, as initctl does (`init (upstart 1.13.2) outset …`)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "shutdown" -d 'Bring the system down: `shutdown [-r|-h|-H|-P] [-c] [now|+MIN|HH:MM] [MESSAGE]`; without -r/-h/-H/-P, go to runlevel 1 (maintenance)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "reboot" -d 'Reboot (with -f at once, without stopping jobs)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "halt" -d 'Halt (with -p power off; with -f at once)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "poweroff" -d 'Power off (with -f at once)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "telinit" -d 'Change the runlevel (`runlevel RUNLEVEL=N PREVLEVEL=M`); 0 powers off, 6 reboots, q reloads the configuration'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "runlevel" -d 'Print the previous and current runlevel (`N 2`)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "trace" -d 'Run a command under ptrace, print its forks, execs and exits, and recommend the `expect` stanza that matches how it starts (needs ptrace; root for a cgroup)'
complete -c outsetctl -n "__fish_outsetctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand start" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand stop" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand restart" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l all -d 'Also list every live process of each instance with its command line, and when it was spawned, became ready and last changed state (UTC)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand status" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand emit" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reload-configuration" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -s e -l enumerate -d 'One line per event or job a condition mentions'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l normalised -d 'outset\'s own view instead: each job\'s whole normalised job file'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand show-config" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s i -l ignore-events -d 'Events to take as emitted (comma-separated; repeatable)' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s w -l warn -d 'An `or` is satisfied only if both sides are'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l show -d 'With paths: also print each job\'s normalised configuration'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l syntax-only -d 'With paths: only parse, check no condition'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand check-config" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l renderer -d 'Who draws the SVG (implies --svg): `dot` (Graphviz) or `outset` (its own layout)' -r -f -a "outset\t'outset\'s own layered layout'
dot\t'Graphviz\'s `dot -Tsvg`'"
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l job -d 'Only this job\'s neighbourhood: the jobs up to --depth steps before and after it (a step is one event) and the events between them' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l depth -d 'How many steps from --job' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l conf-dir -d 'Read job files from DIR (repeatable; the first to hold a name wins) instead of asking the daemon: no daemon needed' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l svg -d 'Print SVG instead of DOT'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand graph" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand usage" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -s g -l global -d 'The global table even inside a job (which otherwise means the job\'s own environment, from $UPSTART_JOB and $UPSTART_INSTANCE)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-env" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -s g -l global -d 'The global table even inside a job (which otherwise means the job\'s own environment, from $UPSTART_JOB and $UPSTART_INSTANCE)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand get-env" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s g -l global -d 'The global table even inside a job (which otherwise means the job\'s own environment, from $UPSTART_JOB and $UPSTART_INSTANCE)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s r -l retain -d 'Keep a variable\'s value if it is already set'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand set-env" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -s g -l global -d 'The global table even inside a job (which otherwise means the job\'s own environment, from $UPSTART_JOB and $UPSTART_INSTANCE)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand unset-env" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -s g -l global -d 'The global table even inside a job (which otherwise means the job\'s own environment, from $UPSTART_JOB and $UPSTART_INSTANCE)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reset-env" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-dbus-address" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-cgroup-manager-address" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand list-sessions" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l lines -d 'How many of the last lines to show' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -s f -l follow -d 'Keep printing new output as it comes'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand notify-disk-writeable" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand monitor" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l last -d 'Only the last SECONDS' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l svg -d 'Write a self-contained SVG picture instead of text'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand timeline" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand log-priority" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l binary -d 'The binary to execute instead of the daemon\'s own' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reexec" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand version" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s r -d 'Reboot'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s h -d 'Halt or power off (power off)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s H -d 'Halt'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s P -d 'Power off'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s c -d 'Cancel a scheduled shutdown'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand shutdown" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s f -l force -d 'At once: no job is stopped (only the filesystems are synced)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s p -l poweroff -d 'Power off (`halt -p`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s w -l wtmp-only -d 'Only what sysvinit\'s `-w` does: write the wtmp record. outset writes none: nothing is done'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s d -d 'Accepted for sysvinit\'s scripts (`halt -d -f -i -h`), and ignored'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s i
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s h
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand reboot" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s f -l force -d 'At once: no job is stopped (only the filesystems are synced)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s p -l poweroff -d 'Power off (`halt -p`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s w -l wtmp-only -d 'Only what sysvinit\'s `-w` does: write the wtmp record. outset writes none: nothing is done'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s d -d 'Accepted for sysvinit\'s scripts (`halt -d -f -i -h`), and ignored'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s i
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s h
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand halt" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s f -l force -d 'At once: no job is stopped (only the filesystems are synced)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s p -l poweroff -d 'Power off (`halt -p`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s w -l wtmp-only -d 'Only what sysvinit\'s `-w` does: write the wtmp record. outset writes none: nothing is done'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s d -d 'Accepted for sysvinit\'s scripts (`halt -d -f -i -h`), and ignored'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s i
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s h
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand poweroff" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -s e -d 'More variables for the `runlevel` event' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand telinit" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand runlevel" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l timeout -d 'Give up after SECS even if processes are still busy' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l ready -d 'A readiness source to watch for, as `ready on` takes it: `file PATH`, `listening tcp:[ADDR:]PORT|udp:…|unix:PATH`' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l cgroup-root -d 'Run the command in a new cgroup below this cgroup2 directory (which must exist) instead of below the cgroup2 mount\'s root' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l socket -d 'The daemon\'s control socket (default: $OUTSET_SOCKET, else the system daemon\'s or, for --user, non-root users and inside a session, the per-user daemon\'s)' -r -F
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l dest -d 'initctl\'s D-Bus destination name; only valid with --system. outset has one system daemon, so it changes nothing' -r
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l keep -d 'Leave the processes the command left running instead of killing them'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l json -d 'Print read verbs\' results as JSON'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -s n -l no-wait -d 'Reply as soon as the request is accepted instead of when the job has settled'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l user -d 'Talk to the per-user daemon (the default for non-root users, and inside a session, where $UPSTART_SESSION is set)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l session -d 'Talk to the user\'s session daemon (initctl\'s `--session`: the same as --user)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -l system -d 'Talk to the system daemon, even from a user session'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -s q -l quiet -d 'Print errors only: results are not printed, the exit status tells'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -s v -l verbose -d 'Also print informational messages on stderr'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand trace" -s h -l help -d 'Print help'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "start" -d 'Start a job instance'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "stop" -d 'Stop a job instance'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "restart" -d 'Stop a job instance and start it again'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "reload" -d 'Send a job instance its reload signal'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "status" -d 'Show a job\'s instances (with --json also when each was spawned, became ready and last changed state)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "list" -d 'Show every job and instance'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "emit" -d 'Emit an event'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "reload-configuration" -d 'Make the daemon re-read its job directories'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "show-config" -d 'Show jobs\' emits, start on and stop on conditions, as initctl does'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "check-config" -d 'Report conditions on events no job emits and on jobs that do not exist, over the daemon\'s jobs or, given paths (containing `/`, ending in `.conf`, or existing), over those job files with no daemon; exit 1 if anything is in error'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "graph" -d 'Draw the jobs and the events that start, stop and connect them, as DOT or SVG'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "usage" -d 'Show a job\'s `usage` stanza'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "list-env" -d 'Print the job environment table, sorted (inside a job: that job\'s environment)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "get-env" -d 'Print one variable of the job environment table'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "set-env" -d 'Set variables in the job environment table (a bare VARIABLE is set empty); jobs started from then on receive them (inside a job: its later processes)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "unset-env" -d 'Remove variables from the job environment table'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "reset-env" -d 'Put the job environment table back as it was when the daemon started'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "notify-dbus-address" -d 'Tell a user daemon the address of its session\'s D-Bus bus'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "notify-cgroup-manager-address" -d 'Tell the daemon where a cgroup manager listens (noted only: outset manages its cgroups itself)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "list-sessions" -d 'List the user\'s sessions: `PID UPSTART_SESSION` per running session daemon'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "log" -d 'Show a job\'s `console log` output: its last lines, and with -f what follows, across rotations (`-n N` is taken as `--lines N` after `log`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "notify-disk-writeable" -d 'Tell the daemon the disk is writable: job output held in memory is written now'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "monitor" -d 'Watch events and job state changes as they happen, one line each (with --json one JSON object per line), until interrupted. A watcher that does not keep up is told how many records it missed (`dropped N records`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "timeline" -d 'Show what happened since the daemon started (or in the last SECONDS) as a chart: one bar per instance run from starting to spawned to ready to stopped, and the events; text for a terminal, or with --svg an SVG picture. The daemon keeps the last 4096 records'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "log-priority" -d 'Show the daemon\'s log priority, or set it: debug, info, message, warn, error or fatal'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "reexec" -d 'Make the daemon re-execute itself (its own binary, or PATH), keeping every job, event and waiting client; answered by the new image'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "version" -d 'Print the daemon\'s version, as initctl does (`init (upstart 1.13.2) outset …`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "shutdown" -d 'Bring the system down: `shutdown [-r|-h|-H|-P] [-c] [now|+MIN|HH:MM] [MESSAGE]`; without -r/-h/-H/-P, go to runlevel 1 (maintenance)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "reboot" -d 'Reboot (with -f at once, without stopping jobs)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "halt" -d 'Halt (with -p power off; with -f at once)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "poweroff" -d 'Power off (with -f at once)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "telinit" -d 'Change the runlevel (`runlevel RUNLEVEL=N PREVLEVEL=M`); 0 powers off, 6 reboots, q reloads the configuration'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "runlevel" -d 'Print the previous and current runlevel (`N 2`)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "trace" -d 'Run a command under ptrace, print its forks, execs and exits, and recommend the `expect` stanza that matches how it starts (needs ptrace; root for a cgroup)'
complete -c outsetctl -n "__fish_outsetctl_using_subcommand help; and not __fish_seen_subcommand_from start stop restart reload status list emit reload-configuration show-config check-config graph usage list-env get-env set-env unset-env reset-env notify-dbus-address notify-cgroup-manager-address list-sessions log notify-disk-writeable monitor timeline log-priority reexec version shutdown reboot halt poweroff telinit runlevel trace help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

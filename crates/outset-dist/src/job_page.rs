//! `outset-job(5)`: the job-file language, its stanza list generated from the parser's own
//! (`outset_job::stanzas::STANZAS`, which the parser refuses any other keyword than).

use outset_job::stanzas::{Origin, STANZAS};

use crate::{VERSION, roff};

const DESCRIPTION: &str = "outset reads Upstart 1.13 job files unchanged, plus a few stanzas \
of its own. A job is a `.conf` file under a job directory (/etc/init by default); its name is \
the path below the directory without `.conf`, so net/web.conf is the job `net/web`. A \
`.override` file beside it is read as more lines at the end of the job: single-value stanzas \
replace, accumulating ones add. Each line is a stanza: a keyword and its arguments.";

const LEXICAL: &[&str] = &[
    "Words are separated by spaces and tabs; a newline ends a stanza, a backslash-newline joins \
     lines.",
    "`#` at the start of a word begins a comment, which runs to the end of the line.",
    "Single and double quotes group text into one word; a quoted word is never a keyword.",
    "After `exec` the rest of the line is kept as written, for the shell; a line with shell \
     characters runs as `/bin/sh -e -c \"exec LINE\"`.",
    "A `script` block ends at a line holding only `end script`; the body runs as `/bin/sh -e`.",
    "Numbers are plain decimal integers. An error is reported as FILE:LINE:COLUMN: MESSAGE, and \
     a job file with an error is not loaded.",
];

const EXPRESSIONS: &str = "`start on`, `stop on` and `ready on` take an expression: \
EVENT [VALUE]... [KEY=VALUE|KEY!=VALUE]..., combined with `and` and `or` (equal precedence, \
left to right) and parentheses, which may continue the expression over several lines. Values \
are fnmatch(3) patterns and may hold $VAR references. outset emits `startup`, `starting`, \
`started`, `stopping`, `stopped`, `runlevel` and the events `outsetctl emit` sends; \
`socket` and `file` events come from the daemon itself (start on socket PROTO=inet PORT=80, \
start on file FILE=PATH EVENT=create).";

const EXAMPLE: &str = "description \"a small web server\"
start on (filesystem and net-device-up IFACE!=lo)
stop on runlevel [!2345]

respawn
respawn limit 10 5
env PORT=8080
ready on listening tcp:127.0.0.1:8080

pre-start exec mkdir -p /run/web
exec /usr/sbin/web --port $PORT";

fn origin(o: Origin) -> &'static str {
    match o {
        Origin::Upstart => "",
        Origin::ChromiumOs => " (ChromiumOS)",
        Origin::Outset => " (outset)",
    }
}

/// The page, as roff.
pub fn render() -> String {
    let mut p = format!(
        ".TH outset\\-job 5 \"\" \"outset {VERSION}\" outset\n\
         .SH NAME\n\
         outset\\-job \\- outset's job files (Upstart's job-file language)\n\
         .SH SYNOPSIS\n\
         /etc/init/\\fIJOB\\fR.conf, /etc/init/\\fIJOB\\fR.override\n\
         .SH DESCRIPTION\n{}\n",
        roff::text(DESCRIPTION)
    );
    p.push_str(".SS \"Lexical rules\"\n");
    for rule in LEXICAL {
        p.push_str(&format!(".IP \\(bu 2\n{}\n", roff::text(rule)));
    }
    p.push_str(&format!(
        ".SH \"EVENT EXPRESSIONS\"\n{}\n",
        roff::text(EXPRESSIONS)
    ));
    p.push_str(
        ".SH STANZAS\nStanzas marked (outset) are outset's own; Upstart reports them as unknown.\n",
    );
    for s in STANZAS {
        p.push_str(&format!(
            ".TP\n\\fB{}\\fR{}\n{}\n",
            roff::escape(s.synopsis),
            origin(s.origin),
            roff::text(s.text)
        ));
    }
    p.push_str(".SH EXAMPLE\n");
    p.push_str(&roff::literal(EXAMPLE));
    p.push_str(
        ".SH FILES\n\
         .TP\n/etc/init/*.conf\nThe system daemon's jobs (or $UPSTART_CONFDIR).\n\
         .TP\n~/.config/upstart/*.conf, ~/.init/*.conf\nA per-user daemon's jobs.\n\
         .TP\n/usr/share/doc/outset/job\\-files.md\nThe full reference, with every check and error.\n\
         .TP\n/usr/share/doc/outset/examples/\nExample jobs.\n",
    );
    p.push_str(".SH \"SEE ALSO\"\n\\fBoutset\\fR(8), \\fBoutsetctl\\fR(8), \\fBoutsetctl\\-check\\-config\\fR(8)\n");
    p
}

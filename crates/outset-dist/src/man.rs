//! Section 8 pages from the clap definitions: `outset(8)`, `outsetctl(8)`, one
//! `outsetctl-VERB(8)` per verb, and a page for each name the client answers to
//! (`initctl`, `start`, `shutdown`, …), which the package installs beside the compatibility
//! links, away from the system's own pages.

use std::path::PathBuf;

use clap::{Command, CommandFactory};
use clap_mangen::Man;

use crate::{GenFile, VERSION, roff};

/// The names under which `outsetctl` acts as one of its verbs (`start X` is
/// `outsetctl start X`), then `initctl`, which takes the whole command line as it is.
pub fn compat_names() -> Vec<&'static str> {
    let mut names = vec!["initctl"];
    names.extend(outset_ctl::VERB_ALIASES);
    names
}

fn man(cmd: Command) -> Man {
    Man::new(cmd)
        .section("8")
        .source(format!("outset {VERSION}"))
        .manual("outset")
}

fn render(man: &Man, extra: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = man.render(&mut bytes);
    bytes.extend_from_slice(extra.as_bytes());
    empty_date(bytes)
}

/// clap_mangen writes no argument at all for an empty date, which shifts the source and
/// manual into the date's and source's places on `.TH`: give the date as `""`. (No date:
/// the pages must come out the same on every run.)
fn empty_date(bytes: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let fixed: Vec<String> = text
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix(".TH ") {
            Some(rest) => match rest.split_once("  \"") {
                Some((head, tail)) => format!(".TH {head} \"\" \"{tail}"),
                None => line.to_string(),
            },
            None => line.to_string(),
        })
        .collect();
    fixed.concat().into_bytes()
}

fn see_also(pages: &[&str]) -> String {
    let list: Vec<String> = pages
        .iter()
        .map(|p| match p.split_once('(') {
            Some((name, sec)) => format!("\\fB{}\\fR({sec}", roff::escape(name)),
            None => roff::escape(p),
        })
        .collect();
    format!(".SH \"SEE ALSO\"\n{}\n", list.join(", "))
}

fn section(title: &str, body: &str) -> String {
    format!(".SH \"{title}\"\n{}\n", roff::text(body))
}

/// `outsetctl` as clap builds it, global options propagated to every verb.
pub fn outsetctl_command() -> Command {
    let mut cmd = outset_ctl::Cli::command();
    cmd.build();
    cmd
}

/// The verbs a page is made for: every one `outsetctl --help` lists.
pub fn verbs(cmd: &Command) -> Vec<&Command> {
    cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect()
}

const DAEMON_NOTES: &str = "Words on the command line that are not options (the kernel's \
`single`, `S`, `1` to `5`, `splash`, ...) never stop the daemon: runlevel words set the \
default runlevel of the `startup` event, the rest is logged and ignored. Running outset as \
PID 1 is described in /usr/share/doc/outset/pid1.md.";

const CTL_NOTES: &str = "The client is also installed under Upstart's and sysvinit's names: \
as `initctl` it takes the same command line; as `start`, `stop`, `restart`, `status`, \
`reload`, `shutdown`, `reboot`, `halt`, `poweroff`, `telinit` or `runlevel` it runs that verb \
(`start web` is `outsetctl start web`). The Debian package puts these links in \
/usr/lib/outset/compat/bin, not over the system's own tools: see \
/usr/share/doc/outset/packaging.md.";

/// Every section 8 page and `outset-job(5)`, as files under `dist/`.
pub fn pages() -> Vec<GenFile> {
    let mut out = Vec::new();
    let file = |path: String, bytes: Vec<u8>| GenFile {
        path: PathBuf::from(path),
        bytes,
    };

    let daemon = outset_daemon::args::Args::command();
    let extra = section("NOTES", DAEMON_NOTES) + &see_also(&["outsetctl(8)", "outset-job(5)"]);
    out.push(file(
        "man/man8/outset.8".into(),
        render(&man(daemon), &extra),
    ));

    let ctl = outsetctl_command();
    let extra = section("NOTES", CTL_NOTES) + &see_also(&["outset(8)", "outset-job(5)"]);
    out.push(file(
        "man/man8/outsetctl.8".into(),
        render(&man(ctl.clone()), &extra),
    ));
    for verb in verbs(&ctl) {
        let name = verb.get_name();
        let extra = see_also(&["outsetctl(8)"]);
        let bytes = if verb.has_subcommands() {
            // `help VERB`: its verbs are outsetctl's, each with its page already.
            let m = man(verb.clone());
            let mut bytes = head(&m, false);
            bytes.extend_from_slice(verb_list(verb).as_bytes());
            bytes.extend_from_slice(extra.as_bytes());
            bytes
        } else {
            render(&man(verb.clone()), &extra)
        };
        out.push(file(format!("man/man8/outsetctl-{name}.8"), bytes));
    }

    for name in compat_names() {
        let note = format!(
            "`{name}` is a link to outsetctl(8) (in the Debian package, \
             /usr/lib/outset/compat/bin/{name}). {}",
            if name == "initctl" {
                "It takes outsetctl's whole command line.".to_string()
            } else {
                format!("`{name} ARGS` runs `outsetctl {name} ARGS`.")
            }
        );
        let bytes = if name == "initctl" {
            initctl_page(&ctl, &note)
        } else {
            let Some(verb) = ctl.find_subcommand(name) else {
                // Every alias is a verb (argv0.rs); a test checks the pages are all there.
                continue;
            };
            let cmd = verb.clone().name(name).display_name(name).bin_name(name);
            let extra = section("NOTES", &note) + &see_also(&["outsetctl(8)"]);
            render(&man(cmd), &extra)
        };
        out.push(file(format!("man/compat/man8/{name}.8"), bytes));
    }

    out.push(file(
        "man/man5/outset-job.5".into(),
        crate::job_page::render().into_bytes(),
    ));
    out
}

/// `initctl(8)`: outsetctl's page under its Upstart name, its verbs pointing at the
/// `outsetctl-VERB(8)` pages.
fn initctl_page(ctl: &Command, note: &str) -> Vec<u8> {
    let cmd = ctl
        .clone()
        .name("initctl")
        .display_name("initctl")
        .bin_name("initctl");
    let mut bytes = head(&man(cmd.clone()), true);
    let mut text = verb_list(&cmd);
    text.push_str(&section("NOTES", note));
    text.push_str(&see_also(&["outsetctl(8)", "outset(8)"]));
    bytes.extend_from_slice(text.as_bytes());
    bytes
}

/// A page's title, name, synopsis, description and (with `options`) options sections.
fn head(m: &Man, options: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    // Rendering into a Vec cannot fail.
    let _ = m.render_title(&mut bytes);
    let mut bytes = empty_date(bytes);
    let _ = m.render_name_section(&mut bytes);
    let _ = m.render_synopsis_section(&mut bytes);
    let _ = m.render_description_section(&mut bytes);
    if options {
        let _ = m.render_options_section(&mut bytes);
    }
    bytes
}

/// `.SH COMMANDS`: each of outsetctl's verbs, pointing at its page.
fn verb_list(cmd: &Command) -> String {
    let mut text = String::from(".SH COMMANDS\n");
    for verb in verbs(cmd) {
        let name = roff::escape(verb.get_name());
        let mut about = verb.get_about().map(|a| a.to_string()).unwrap_or_default();
        // clap drops an about's final full stop.
        if !about.is_empty() && !about.ends_with(['.', ')']) {
            about.push('.');
        }
        text.push_str(&format!(
            ".TP\n\\fB{name}\\fR\n{}\nSee \\fBoutsetctl\\-{name}\\fR(8).\n",
            roff::text(&about)
        ));
    }
    text
}

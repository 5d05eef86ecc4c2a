//! Issue 18 item 3: `outsetctl graph`, run as a user runs it: DOT that parses and names
//! every job and event of `examples/`, `--job`'s neighbourhood, SVG by Graphviz or by
//! outset (and which one said), pictures that are well-formed and looked at in headless
//! Chromium, a medium conf dir drawn legibly, and the daemon's jobs drawn as its conf dir's.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::screenshot::{chromium_screenshot, decode_png, png_is_not_blank};
use crate::common::{OUTSETCTL, daemon, installed};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// `outsetctl ARGS` with no daemon to ask (a socket that does not exist) and `path` as PATH.
fn ctl_path(args: &[&str], path: &str) -> Output {
    Command::new(OUTSETCTL)
        .args(["--socket", "/nonexistent/outset-graph-test.sock"])
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap()
}

fn ctl(args: &[&str]) -> Output {
    ctl_path(args, &std::env::var("PATH").unwrap_or_default())
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// The jobs of a conf dir and every event their stanzas name (a job event as `EVENT JOB`),
/// read with the job parser, apart from the graph code.
fn jobs_and_events(dir: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(e: &outset_job::Expr, out: &mut BTreeSet<String>) {
        match e {
            outset_job::Expr::And(a, b) | outset_job::Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
            }
            outset_job::Expr::Event(m) => {
                let job = match m.args.first() {
                    Some(outset_job::Arg::Positional(j))
                        if ["starting", "started", "stopping", "stopped"]
                            .contains(&m.name.as_str()) =>
                    {
                        format!(" {j}")
                    }
                    _ => String::new(),
                };
                out.insert(format!("{}{job}", m.name));
            }
            outset_job::Expr::Ready(_) => {}
        }
    }
    let loaded = outset_job::confdir::load_dir(dir);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let mut jobs = BTreeSet::new();
    let mut events = BTreeSet::new();
    for j in &loaded.jobs {
        jobs.insert(j.name.clone());
        events.extend(j.config.emits.iter().cloned());
        for e in [&j.config.start_on, &j.config.stop_on]
            .into_iter()
            .flatten()
        {
            walk(e, &mut events);
        }
    }
    (jobs, events)
}

fn labels(d: &outset_testkit::dot::Dot) -> BTreeSet<String> {
    d.nodes
        .values()
        .filter_map(|a| a.get("label").cloned())
        .collect()
}

/// Issue 18 item 3: `graph --conf-dir examples/` is DOT (the strict reader's, and Graphviz's
/// where installed) with a box for every job and a node for every event, and every edge
/// between declared nodes.
#[test]
fn issue18_item3_examples_graph_is_dot_naming_every_job_and_event() {
    let text = ok(&ctl(&["graph", "--conf-dir", examples().to_str().unwrap()]));
    let d = outset_testkit::dot::parse(&text).unwrap_or_else(|e| panic!("not DOT: {e}\n{text}"));
    let (jobs, events) = jobs_and_events(&examples());
    assert_eq!(jobs.len(), 5);
    assert!(events.contains("started clock") && events.contains("startup"));
    let names = labels(&d);
    for j in &jobs {
        assert_eq!(d.nodes[&format!("job:{j}")]["shape"], "box", "{j}");
    }
    for e in &events {
        assert!(names.contains(e), "event {e} not in\n{text}");
        assert_ne!(d.nodes[&format!("event:{e}")]["shape"], "box", "{e}");
    }
    for (a, b, _) in &d.edges {
        assert!(
            d.nodes.contains_key(a) && d.nodes.contains_key(b),
            "{a} -> {b}"
        );
    }
    // flaky: started on `started clock`, stopped on `stopped clock`, both clock's.
    let edge = |a: &str, b: &str| d.edges.iter().any(|(x, y, _)| x == a && y == b);
    assert!(edge("event:started clock", "job:flaky"));
    assert!(edge("event:stopped clock", "job:flaky"));
    assert!(edge("job:clock", "event:started clock"));
    assert!(edge("event:startup", "job:greeter"));

    if let Some(dot_bin) = installed("dot") {
        let svg_path = tempfile::tempdir().unwrap();
        let dot_file = svg_path.path().join("g.dot");
        std::fs::write(&dot_file, &text).unwrap();
        let out = Command::new(dot_bin)
            .arg("-Tsvg")
            .arg(&dot_file)
            .output()
            .unwrap();
        let svg = ok(&out);
        outset_testkit::xml::parse(&svg).unwrap();
    }
}

/// Issue 18 item 3: `--job` keeps the job's neighbourhood, `--depth` widens it (forker,
/// which only shares `started clock` with flaky, stays out), and an unknown job or a
/// `--depth` without `--job` is an error.
#[test]
fn issue18_item3_job_restricts_to_its_neighbourhood() {
    let ex = examples();
    let conf = ex.to_str().unwrap();
    let nodes = |args: &[&str]| -> BTreeSet<String> {
        let mut a = vec!["graph", "--conf-dir", conf];
        a.extend_from_slice(args);
        let d = outset_testkit::dot::parse(&ok(&ctl(&a))).unwrap();
        d.nodes.keys().cloned().collect()
    };
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        nodes(&["--job", "flaky"]),
        set(&[
            "job:flaky",
            "job:clock",
            "event:started clock",
            "event:stopped clock"
        ])
    );
    assert_eq!(
        nodes(&["--job", "flaky", "--depth", "2"]),
        set(&[
            "job:flaky",
            "job:clock",
            "event:started clock",
            "event:stopped clock",
            "event:stopped greeter",
            "event:stopping shutdown-demo",
            "job:greeter",
            "job:shutdown-demo",
        ])
    );
    assert_eq!(
        nodes(&["--job", "worker"]),
        set(&["job:worker", "event:work"])
    );
    let out = ctl(&["graph", "--conf-dir", conf, "--job", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown job nope"));
    let out = ctl(&["graph", "--conf-dir", conf, "--depth", "2"]);
    assert_eq!(out.status.code(), Some(2), "--depth needs --job");
    let out = ctl(&["graph", "--conf-dir", "/nonexistent/outset-conf"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a directory"));
}

/// A label drawn in outset's SVG: its box from the `<text>` position and length (the
/// renderer's monospace metrics, a little smaller for tolerance).
#[derive(Debug)]
struct Label {
    text: String,
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = tag[start..].find('"')?;
    Some(tag[start..start + len].to_string())
}

fn svg_labels(svg: &str) -> Vec<Label> {
    let mut out = Vec::new();
    for part in svg.split("<text ").skip(1) {
        let (tag, rest) = part.split_once('>').unwrap();
        let tag = &format!(" {tag}");
        let text = rest.split_once("</text>").unwrap().0;
        let chars = text
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .chars()
            .count() as f64;
        let x: f64 = attr(tag, "x")
            .unwrap_or_else(|| panic!("{tag:?}"))
            .parse()
            .unwrap();
        let y: f64 = attr(tag, "y").unwrap().parse().unwrap();
        let w = chars * 7.0;
        let (x0, x1) = if tag.contains("text-anchor=\"middle\"") {
            (x - w / 2.0, x + w / 2.0)
        } else {
            (x, x + w)
        };
        out.push(Label {
            text: text.to_string(),
            x0,
            x1,
            y0: y - 9.0,
            y1: y + 1.0,
        });
    }
    out
}

fn svg_polylines(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split("<polyline ")
        .skip(1)
        .map(|part| {
            attr(&format!(" {part}"), "points")
                .unwrap()
                .split(' ')
                .map(|p| {
                    let (x, y) = p.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Whether segment a–b passes through the rectangle (Liang–Barsky clipping).
fn crosses(a: (f64, f64), b: (f64, f64), l: &Label) -> bool {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - l.x0),
        (dx, l.x1 - a.0),
        (-dy, a.1 - l.y0),
        (dy, l.y1 - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
        }
    }
    t0 <= t1
}

/// Legibility of outset's own SVG: no two labels overlap, and no edge runs over a label.
fn assert_legible(svg: &str) {
    let labels = svg_labels(svg);
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            let apart = a.x1 <= b.x0 || b.x1 <= a.x0 || a.y1 <= b.y0 || b.y1 <= a.y0;
            assert!(apart, "labels overlap: {a:?} and {b:?}");
        }
    }
    for line in svg_polylines(svg) {
        for seg in line.windows(2) {
            for l in &labels {
                assert!(
                    !crosses(seg[0], seg[1], l),
                    "an edge ({:?} to {:?}) runs over label {:?}",
                    seg[0],
                    seg[1],
                    l.text
                );
            }
        }
    }
}

/// Issue 18 item 3: outset's own SVG of examples/ is well-formed XML that says who drew
/// it, names every job and event, is legible, and shows the graph in Chromium: more job
/// boxes and start-on edges on screen than the legend alone (the picture of an empty conf
/// dir) has.
#[test]
fn issue18_item3_own_svg_is_well_formed_legible_and_seen_in_chromium() {
    let ex = examples();
    let conf = ex.to_str().unwrap();
    let out = ctl(&["-v", "graph", "--renderer", "outset", "--conf-dir", conf]);
    let svg = ok(&out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("graph rendered by outset"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let xml = outset_testkit::xml::parse(&svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(xml.root, "svg");
    assert_eq!(
        xml.comments.first().map(String::as_str),
        Some(" rendered by outset ")
    );
    let (jobs, events) = jobs_and_events(&ex);
    let texts: BTreeSet<&str> = xml.texts.iter().map(String::as_str).collect();
    for name in jobs.iter().chain(&events) {
        assert!(texts.contains(name.as_str()), "{name} not drawn");
    }
    assert_legible(&svg);

    let Some(_) = installed("chromium") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("examples.svg");
    std::fs::write(&full, &svg).unwrap();
    let empty_conf = dir.path().join("empty");
    std::fs::create_dir(&empty_conf).unwrap();
    let legend_only = dir.path().join("empty.svg");
    let empty_svg = ok(&ctl(&[
        "graph",
        "--renderer",
        "outset",
        "--conf-dir",
        empty_conf.to_str().unwrap(),
    ]));
    std::fs::write(&legend_only, empty_svg).unwrap();

    let png = chromium_screenshot(&full);
    assert!(png_is_not_blank(&png), "{} is blank", png.display());
    let shot = decode_png(&png);
    let base = decode_png(&chromium_screenshot(&legend_only));
    let job_grey = [0xdc, 0xdc, 0xdc];
    let start_blue = [0x1f, 0x5f, 0xbf];
    // Five job boxes and one of a missing job, beside the legend's two.
    assert!(
        shot.count_near(job_grey, 6) > base.count_near(job_grey, 6) * 3,
        "job boxes: {} on screen, {} in the legend",
        shot.count_near(job_grey, 6),
        base.count_near(job_grey, 6)
    );
    assert!(shot.count_near(start_blue, 40) > base.count_near(start_blue, 40) * 3);
}

/// Issue 18 item 3: with Graphviz's `dot` on PATH, `--svg` is Graphviz's picture, marked as
/// such (in the SVG, and on stderr with -v); `--renderer outset` still draws outset's own.
#[test]
fn issue18_item3_svg_by_graphviz_when_dot_is_on_path() {
    let Some(dot_bin) = installed("dot") else {
        return;
    };
    let ex = examples();
    let conf = ex.to_str().unwrap();
    let path = dot_bin.parent().unwrap().to_str().unwrap().to_string();
    let out = ctl_path(&["-v", "graph", "--svg", "--conf-dir", conf], &path);
    let svg = ok(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("graph rendered by graphviz dot"));
    let xml = outset_testkit::xml::parse(&svg).unwrap();
    assert_eq!(xml.root, "svg");
    assert!(
        xml.comments
            .iter()
            .any(|c| c == " rendered by graphviz dot ")
    );
    assert!(xml.texts.iter().any(|t| t == "flaky"));
    let forced = ok(&ctl_path(
        &["graph", "--renderer", "dot", "--conf-dir", conf],
        &path,
    ));
    assert!(forced.contains("<!-- rendered by graphviz dot -->"));
    let own = ok(&ctl_path(
        &["graph", "--renderer", "outset", "--conf-dir", conf],
        &path,
    ));
    assert!(own.contains("<!-- rendered by outset -->"));

    if installed("chromium").is_some() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dot.svg");
        std::fs::write(&file, &svg).unwrap();
        assert!(png_is_not_blank(&chromium_screenshot(&file)));
    }
}

/// Issue 18 item 3: with no `dot` on PATH, `--svg` is outset's own picture, and
/// `--renderer dot` says that Graphviz is missing.
#[test]
fn issue18_item3_svg_without_dot_is_outsets_own() {
    let empty = tempfile::tempdir().unwrap();
    let path = empty.path().to_str().unwrap();
    let ex = examples();
    let conf = ex.to_str().unwrap();
    let out = ctl_path(&["-v", "graph", "--svg", "--conf-dir", conf], path);
    let svg = ok(&out);
    assert!(
        svg.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- rendered by outset -->\n"
        )
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("graph rendered by outset"));
    outset_testkit::xml::parse(&svg).unwrap();
    let out = ctl_path(&["graph", "--renderer", "dot", "--conf-dir", conf], path);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dot is not on PATH"));
    assert!(out.stdout.is_empty());
}

/// A medium conf dir from the corpus: Upstart's own jobs and Debian's, and Ubuntu's
/// packaged services (about 40 jobs), copied under the names they install as.
fn medium_conf_dir(root: &Path, into: &Path) -> usize {
    let mut n = 0;
    let mut add = |from: &Path, name: &str| {
        let to = into.join(format!("{name}.conf"));
        if !to.exists() {
            std::fs::copy(from, to).unwrap();
            n += 1;
        }
    };
    for sub in ["upstart/conf", "upstart/debian-conf", "upstart/extra-conf"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".conf") {
                add(&f, stem);
            }
        }
    }
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ubuntu-"))
        })
        .collect();
    dirs.sort();
    for d in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            if let Some(stem) = name.strip_suffix(".upstart") {
                add(&f, stem.rsplit('.').next().unwrap());
            }
        }
    }
    n
}

/// Issue 18 item 3: outset's own picture of a medium, real conf dir is legible (no label
/// over another, no edge over a label) and shows in Chromium.
#[test]
fn issue18_item3_medium_conf_dir_is_drawn_legibly() {
    let Some(root) = outset_testkit::corpus::corpus_dir() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let n = medium_conf_dir(&root, &conf);
    assert!(n >= 30, "only {n} jobs");
    let svg = ok(&ctl(&[
        "graph",
        "--renderer",
        "outset",
        "--conf-dir",
        conf.to_str().unwrap(),
    ]));
    let xml = outset_testkit::xml::parse(&svg).unwrap();
    let (jobs, _) = jobs_and_events(&conf);
    assert_eq!(jobs.len(), n);
    for j in &jobs {
        assert!(xml.texts.iter().any(|t| t == j), "{j} not drawn");
    }
    assert_legible(&svg);
    if installed("chromium").is_some() {
        let file = dir.path().join("medium.svg");
        std::fs::write(&file, &svg).unwrap();
        assert!(png_is_not_blank(&chromium_screenshot(&file)));
    }
}

/// Issue 18 item 3: without `--conf-dir` the graph is of the running daemon's jobs: the
/// same as of the conf dir it loaded.
#[test]
fn issue18_item3_daemon_graph_is_its_conf_dirs() {
    let Some(d) = daemon(|d| {
        for e in std::fs::read_dir(examples()).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            d.write_job(&name, &std::fs::read_to_string(&p).unwrap());
        }
    }) else {
        return;
    };
    let live = d.ctl_ok(&["graph"]);
    let offline = ok(&ctl(&["graph", "--conf-dir", d.confdir.to_str().unwrap()]));
    assert_eq!(live, offline);
    assert!(live.contains("\"job:flaky\""));
    let live_job = d.ctl_ok(&["graph", "--job", "clock", "--svg", "--renderer", "outset"]);
    outset_testkit::xml::parse(&live_job).unwrap();
    assert!(live_job.contains(">clock</text>") && !live_job.contains(">worker</text>"));
}

/// The legibility check itself catches overlapping labels and an edge over a label.
#[test]
fn issue18_item3_legibility_check_catches_overlaps() {
    let fine = "<text x=\"50\" y=\"20\" text-anchor=\"middle\">apple</text>\
                <text x=\"50\" y=\"60\" text-anchor=\"middle\">pear</text>\
                <polyline points=\"0,40 100,40\"/>";
    assert_legible(fine);
    let overlapping = "<text x=\"50\" y=\"20\" text-anchor=\"middle\">apple</text>\
                       <text x=\"60\" y=\"24\" text-anchor=\"middle\">pear</text>";
    assert!(std::panic::catch_unwind(|| assert_legible(overlapping)).is_err());
    let crossed = "<text x=\"50\" y=\"20\" text-anchor=\"middle\">apple</text>\
                   <polyline points=\"0,0 100,40\"/>";
    assert!(std::panic::catch_unwind(|| assert_legible(crossed)).is_err());
}

/// Issue 18 item 3: a job file that does not parse is reported on stderr with its place, and
/// the rest of the conf dir is still drawn.
#[test]
fn issue18_item3_conf_dir_parse_errors_are_reported_and_the_rest_drawn() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("good.conf"),
        "start on startup\nexec /bin/true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.conf"),
        "start on (startup\nexec /bin/true\n",
    )
    .unwrap();
    let out = ctl(&["graph", "--conf-dir", dir.path().to_str().unwrap()]);
    let text = ok(&out);
    let d = outset_testkit::dot::parse(&text).unwrap();
    assert!(d.nodes.contains_key("job:good"));
    assert!(!d.nodes.contains_key("job:bad"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.conf:"), "{err}");
}

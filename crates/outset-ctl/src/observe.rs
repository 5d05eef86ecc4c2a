//! `outsetctl monitor` (events and state changes as they happen) and `outsetctl timeline`
//! (what happened since the daemon started, or in the last seconds, as a chart: text for a
//! terminal, or a self-contained SVG written here by hand).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use outset_proto::{Body, Command as Proto, History, Record, Request, Response};

use crate::client;
use crate::verbs::{Io, fail};

/// `monitor`: asks the daemon to stream records and prints each as it comes (one line of
/// text, or with `--json` the record's JSON object) until the daemon closes the connection
/// or output fails.
pub fn run_monitor(socket: &Path, json: bool, io: &mut Io) -> i32 {
    let mut stream = match client::connect(socket) {
        Ok(s) => s,
        Err(e) => return fail(io, &e.to_string()),
    };
    let mut line = match serde_json::to_string(&Request::new(Proto::Monitor)) {
        Ok(l) => l,
        Err(e) => return fail(io, &e.to_string()),
    };
    line.push('\n');
    if let Err(e) = stream.write_all(line.as_bytes()) {
        return fail(io, &e.to_string());
    }
    let mut reader = BufReader::new(stream);
    let mut first = String::new();
    match reader.read_line(&mut first) {
        Ok(0) => return fail(io, "the daemon closed the connection"),
        Ok(_) => match serde_json::from_str::<Response>(first.trim_end()) {
            Ok(Response::Ok { .. }) => {}
            Ok(Response::Error { message }) => return fail(io, &message),
            Err(e) => return fail(io, &format!("Malformed reply from outset: {e}")),
        },
        Err(e) => return fail(io, &e.to_string()),
    }
    for l in reader.lines() {
        let l = match l {
            Ok(l) => l,
            Err(e) => return fail(io, &e.to_string()),
        };
        let out = if json {
            l
        } else {
            match serde_json::from_str::<Record>(&l) {
                Ok(r) => r.text_line(),
                Err(e) => return fail(io, &format!("Malformed record from outset: {e}")),
            }
        };
        if writeln!(io.out, "{out}")
            .and_then(|()| io.out.flush())
            .is_err()
        {
            // The reader went away (`monitor | head`): done.
            return 0;
        }
    }
    0
}

/// `timeline`: fetches the daemon's history (the last `last` seconds, else since it
/// started) and prints it as text or SVG.
pub fn run_timeline(socket: &Path, svg: bool, last: Option<f64>, json: bool, io: &mut Io) -> i32 {
    let since_ms = match last {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            Some(now.saturating_sub((s * 1000.0) as u64))
        }
        Some(s) => return fail(io, &format!("--last: bad number of seconds {s}")),
        None => None,
    };
    let h = match client::request(socket, Proto::History { since_ms }) {
        Ok(Response::Ok {
            body: Body::History(h),
        }) => h,
        Ok(Response::Ok { .. }) => return fail(io, "Malformed reply from outset: not a history"),
        Ok(Response::Error { message }) => return fail(io, &message),
        Err(e) => return fail(io, &e.to_string()),
    };
    let tl = Timeline::of(&h, since_ms);
    let text = if svg {
        tl.svg()
    } else if json {
        serde_json::to_string_pretty(&h).unwrap_or_default() + "\n"
    } else {
        tl.text()
    };
    let _ = io.out.write_all(text.as_bytes());
    0
}

/// One run of an instance: from `starting` to back in `waiting`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    pub label: String,
    /// When it entered `starting` (or was first seen), ms from the timeline's start.
    pub start: u64,
    pub spawned: Option<u64>,
    pub ready: Option<u64>,
    /// Back in `waiting`; `None`: still up at the end.
    pub end: Option<u64>,
}

/// The chart's data: bars in the order their runs started, events as marks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timeline {
    /// The wall clock at the chart's 0 (ms since the Unix epoch).
    pub origin_ms: u64,
    /// Its length in ms.
    pub span: u64,
    pub bars: Vec<Bar>,
    /// (ms from the start, event name)
    pub events: Vec<(u64, String)>,
    /// Records the daemon no longer had (its history is bounded).
    pub forgotten: u64,
}

impl Timeline {
    pub fn of(h: &History, since_ms: Option<u64>) -> Timeline {
        let origin = since_ms.unwrap_or(h.started_ms).max(
            h.started_ms
                .min(h.records.first().map_or(h.started_ms, Record::time_ms)),
        );
        let at = |t: u64| t.saturating_sub(origin);
        let mut bars: Vec<Bar> = Vec::new();
        let mut open: std::collections::HashMap<(String, String), usize> =
            std::collections::HashMap::new();
        let mut events = Vec::new();
        for r in &h.records {
            match r {
                Record::Event { time_ms, name, env } => {
                    events.push((at(*time_ms), event_label(name, env)));
                }
                Record::State {
                    time_ms,
                    job,
                    instance,
                    state,
                    ..
                } => {
                    let t = at(*time_ms);
                    let key = (job.clone(), instance.clone());
                    let i = match open.get(&key) {
                        Some(&i) if state != "starting" => i,
                        _ => {
                            if state == "waiting" {
                                // The end of a run whose start the history no longer has.
                                continue;
                            }
                            let label = if instance.is_empty() {
                                job.clone()
                            } else {
                                format!("{job} ({instance})")
                            };
                            bars.push(Bar {
                                label,
                                start: t,
                                spawned: None,
                                ready: None,
                                end: None,
                            });
                            open.insert(key.clone(), bars.len() - 1);
                            bars.len() - 1
                        }
                    };
                    let bar = &mut bars[i];
                    match state.as_str() {
                        "spawned" => bar.spawned = bar.spawned.or(Some(t)),
                        "post-start" | "running" => bar.ready = bar.ready.or(Some(t)),
                        "waiting" => {
                            bar.end = Some(t);
                            open.remove(&key);
                        }
                        _ => {}
                    }
                }
                Record::Dropped { .. } => {}
            }
        }
        let last = h.records.last().map_or(0, |r| at(r.time_ms()));
        Timeline {
            origin_ms: origin,
            span: at(h.now_ms).max(last).max(1),
            bars,
            events,
            forgotten: h.forgotten,
        }
    }

    /// The text chart: a row per run (`-` starting, `=` spawned until ready, `#` ready
    /// until stopped), its times in ms, then the events with their times.
    pub fn text(&self) -> String {
        const WIDTH: u64 = 60;
        let col = |t: u64| usize::try_from(t.saturating_mul(WIDTH) / self.span).unwrap_or(0);
        let name_w = self
            .bars
            .iter()
            .map(|b| b.label.chars().count())
            .max()
            .unwrap_or(3)
            .clamp(3, 40);
        let mut s = format!(
            "timeline from {} for {} ms (one column: {} ms)\n",
            outset_proto::rfc3339_ms(self.origin_ms),
            self.span,
            self.span.div_ceil(WIDTH)
        );
        if self.forgotten > 0 {
            s.push_str(&format!(
                "({} older records were no longer kept)\n",
                self.forgotten
            ));
        }
        let ms = |t: Option<u64>| t.map_or("-".to_string(), |t| t.to_string());
        s.push_str(&format!(
            "{:name_w$} {:>8} {:>8} {:>8} {:>8}\n",
            "JOB", "START", "SPAWNED", "READY", "STOPPED"
        ));
        for b in &self.bars {
            let mut row = vec![b' '; WIDTH as usize + 1];
            let end = b.end.unwrap_or(self.span);
            let spawned = b.spawned.unwrap_or(end);
            let ready = b.ready.unwrap_or(end);
            for (from, to, ch) in [
                (b.start, spawned, b'-'),
                (spawned, ready, b'='),
                (ready, end, b'#'),
            ] {
                let (a, z) = (col(from), col(to).max(col(from) + usize::from(to > from)));
                for c in row.iter_mut().take(z.min(WIDTH as usize + 1)).skip(a) {
                    *c = ch;
                }
            }
            let label: String = b.label.chars().take(name_w).collect();
            s.push_str(&format!(
                "{label:name_w$} {:>8} {:>8} {:>8} {:>8} |{}|\n",
                b.start,
                ms(b.spawned),
                ms(b.ready),
                ms(b.end),
                String::from_utf8_lossy(&row).trim_end()
            ));
        }
        if !self.events.is_empty() {
            s.push_str("events:\n");
            for (t, name) in &self.events {
                s.push_str(&format!("{t:>8} ms  {name}\n"));
            }
        }
        s
    }

    /// The chart as a self-contained SVG: a row per run (grey: starting, amber: spawned
    /// until ready, green: ready until stopped), events as red marks with their names.
    pub fn svg(&self) -> String {
        const LEFT: u64 = 220;
        const CHART: u64 = 900;
        const ROW: u64 = 22;
        let ev_rows = self.events.len().min(40) as u64;
        let top = 40 + ev_rows * 14;
        let height = top + ROW * self.bars.len() as u64 + 56;
        let width = LEFT + CHART + 40;
        let x = |t: u64| LEFT + t.saturating_mul(CHART) / self.span;
        let mut s = String::new();
        s.push_str(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"
        ));
        s.push_str(&format!(
            "<rect x=\"0\" y=\"0\" width=\"{width}\" height=\"{height}\" fill=\"#ffffff\"/>\n"
        ));
        s.push_str(&format!(
            "<text x=\"10\" y=\"20\" font-size=\"14\">{}</text>\n",
            escape(&format!(
                "outset timeline from {} for {} ms",
                outset_proto::rfc3339_ms(self.origin_ms),
                self.span
            ))
        ));
        // A grid line every tenth of the span, with its time.
        for i in 0..=10u64 {
            let t = self.span * i / 10;
            let gx = x(t);
            s.push_str(&format!(
                "<line x1=\"{gx}\" y1=\"{top}\" x2=\"{gx}\" y2=\"{}\" stroke=\"#dddddd\"/>\n<text x=\"{gx}\" y=\"{}\" font-size=\"10\" text-anchor=\"middle\">{t} ms</text>\n",
                height - 46,
                height - 32
            ));
        }
        for (i, (t, name)) in self.events.iter().take(40).enumerate() {
            let ex = x(*t);
            let ey = 34 + i as u64 * 14;
            // Labels in the right half go to the mark's left, so none runs off the picture.
            let (lx, anchor) = if ex > LEFT + CHART / 2 {
                (ex - 3, "end")
            } else {
                (ex + 3, "start")
            };
            s.push_str(&format!(
                "<line x1=\"{ex}\" y1=\"{ey}\" x2=\"{ex}\" y2=\"{}\" stroke=\"#d03030\" stroke-dasharray=\"3,3\"/>\n<text x=\"{lx}\" y=\"{}\" fill=\"#d03030\" font-size=\"11\" text-anchor=\"{anchor}\">{} ({t} ms)</text>\n",
                height - 46,
                ey + 10,
                escape(name)
            ));
        }
        for (i, b) in self.bars.iter().enumerate() {
            let y = top + i as u64 * ROW;
            let end = b.end.unwrap_or(self.span);
            let spawned = b.spawned.unwrap_or(end);
            let ready = b.ready.unwrap_or(end);
            s.push_str(&format!(
                "<text x=\"10\" y=\"{}\">{}</text>\n",
                y + 15,
                escape(&b.label)
            ));
            for (from, to, color, what) in [
                (b.start, spawned, "#a0a0a0", "starting"),
                (spawned, ready, "#e8a020", "spawned"),
                (ready, end, "#40a040", "ready"),
            ] {
                if to <= from && !(what == "ready" && b.ready.is_some() && b.end.is_none()) {
                    continue;
                }
                let (x0, x1) = (x(from), x(to));
                s.push_str(&format!(
                    "<rect x=\"{x0}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{color}\"><title>{} {what} {from}-{to} ms</title></rect>\n",
                    y + 3,
                    (x1 - x0).max(2),
                    ROW - 6,
                    escape(&b.label)
                ));
            }
        }
        // The legend, under the time axis.
        let ly = height - 6;
        let mut lx = 10;
        for (color, what) in [
            ("#a0a0a0", "starting"),
            ("#e8a020", "spawned, not ready yet"),
            ("#40a040", "ready (post-start, running) until stopped"),
            ("#d03030", "event"),
        ] {
            s.push_str(&format!(
                "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/>\n<text x=\"{}\" y=\"{ly}\" font-size=\"11\">{what}</text>\n",
                ly - 9,
                lx + 14
            ));
            // About 7 px a character at 11 px.
            lx += 14 + 7 * what.len() as u64 + 24;
        }
        s.push_str("</svg>\n");
        s
    }
}

/// An event as a mark names it: a job event (`started`, …) with its job and instance.
fn event_label(name: &str, env: &[String]) -> String {
    let var = |k: &str| {
        env.iter()
            .find_map(|e| e.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .filter(|v| !v.is_empty())
    };
    match (var("JOB"), var("INSTANCE")) {
        (Some(job), Some(inst)) => format!("{name} {job} ({inst})"),
        (Some(job), None) => format!("{name} {job}"),
        _ => name.to_string(),
    }
}

/// Text for XML (one escape for every picture outsetctl draws).
pub use crate::graph::svg::escape;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn state(t: u64, job: &str, state: &str) -> Record {
        Record::State {
            time_ms: t,
            job: job.into(),
            instance: String::new(),
            goal: "start".into(),
            state: state.into(),
            pid: None,
        }
    }

    #[test]
    fn issue18_item4_runs_become_bars_in_order() {
        let h = History {
            started_ms: 1000,
            now_ms: 1100,
            forgotten: 0,
            records: vec![
                Record::Event {
                    time_ms: 1000,
                    name: "a<&>".into(),
                    env: vec![],
                },
                state(1010, "x", "starting"),
                state(1020, "x", "spawned"),
                state(1030, "x", "post-start"),
                state(1040, "y", "starting"),
                state(1050, "y", "spawned"),
                state(1060, "x", "waiting"),
            ],
        };
        let tl = Timeline::of(&h, None);
        assert_eq!(tl.span, 100);
        assert_eq!(
            tl.bars,
            vec![
                Bar {
                    label: "x".into(),
                    start: 10,
                    spawned: Some(20),
                    ready: Some(30),
                    end: Some(60)
                },
                Bar {
                    label: "y".into(),
                    start: 40,
                    spawned: Some(50),
                    ready: None,
                    end: None
                }
            ]
        );
        let text = tl.text();
        assert!(text.contains("\nx "), "{text}");
        assert!(text.contains("a<&>"), "{text}");
        let svg = tl.svg();
        assert!(svg.contains("a&lt;&amp;&gt;"), "{svg}");
        assert!(!svg.contains("a<&>"));
    }
}

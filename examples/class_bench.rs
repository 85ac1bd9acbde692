//! The class of 500: everything a big live class puts on one server at once,
//! on this machine with the load generators beside it. A release
//! `classcast serve` (a separate process: its CPU and RSS from /proc/<pid>),
//! SQLite and local files, the default ladder, the session recorded; one 720p
//! WHIP publisher (`classcast publish`, the GStreamer test pattern); N WebRTC
//! viewers over WHEP (the count-only aiortc viewers of
//! ../shared/tools/janus-fanout/viewers.py, through benches/class_viewers.py,
//! which also counts each viewer's video frames); a classroom of S students +
//! the instructor on the session WebSocket with chat at a fixed total rate.
//! After the settle period, one window: server CPU and RSS, the load
//! generators' CPU, WebRTC loss and frame rate per viewer, chat delivery
//! latency and losses, HLS segment lateness; then the class ends and the
//! recording must turn `ready`.
//!
//! Run as `make bench` does (ICE on 127.x inside a network namespace, 500+
//! sockets):
//! `ulimit -Sn 4096; benches/netns.sh target/release/examples/class_bench`
//! Options: `--students 500 --viewers 100 --rate 100 --seconds 60 --settle 10`,
//! `--server PATH` (another classcast binary), `--perf` (a 15 s `perf record
//! -g` of the server mid-window), `--no-write` (leave BENCHMARKS.md alone).
//! Environment: FANOUT_TOOLS (the janus-fanout folder), PY (a python with
//! aiortc), BENCH_ICE_IP (set by netns.sh), CLASS_BENCH_QUIET_WAIT (s, 300). Writes "The class of 500" section
//! of BENCHMARKS.md (the run's logs go to target/bench/class/); exits non-zero when a chat message was lost or
//! duplicated, a viewer did not connect, or WebRTC video loss reached 0.5 %.

#[path = "common/bench.rs"]
mod bench;
#[path = "common/classroom.rs"]
mod classroom;
#[path = "common/report.rs"]
mod report;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench::{percentile, percentile_f, status_kb, Server};
use classcast::auth::Role;
use classroom::Classroom;

type Error = Box<dyn std::error::Error>;

/// Other processes may use this much of a core before the run starts…
const QUIET_CPU: f64 = 0.25;
/// …or we stop waiting for that after this long (seconds; CLASS_BENCH_QUIET_WAIT).
const QUIET_WAIT_S: u64 = 300;
/// The WebRTC loss (% of video packets) at or above which the run fails.
const MAX_LOSS_PCT: f64 = 0.5;
/// The publisher's frame rate (`classcast publish`'s default).
const SOURCE_FPS: f64 = 30.0;

/// What the runs of 2026-12-06 showed beyond the figures (not measured by
/// this program): the same bench before and after the ladder's passthrough.
const NOTES: &str = "
Reading it: viewers.py's loss counts gaps between the packets a viewer received, so a viewer that stops receiving \
altogether shows no loss; its frame rate and \"at the end\" show it. Before the ladder passed the 720p rung through \
(every rung encoded, server about 1.3 cores), the machine had no time left for the load generators: the aiortc \
viewers stopped receiving 25–35 s into the window, one after another (aioice's consent check sends one binding \
request every 4–6 s with a single 0.5 s try and closes after 6 misses), decoding 12–14 fps, while the server kept \
sending to all of them (its `packets_sent` grew steadily, no kernel UDP drops). With the passthrough the server \
needs about 0.2 of a core less and every viewer keeps up.
";

struct Options {
    students: usize,
    viewers: usize,
    rate: u32,
    seconds: u32,
    settle: u32,
    write: bool,
    perf: bool,
    server: Option<PathBuf>,
}

impl Options {
    fn parse() -> Result<Self, Error> {
        let mut o = Options {
            students: 500,
            viewers: 100,
            rate: 100,
            seconds: 60,
            settle: 10,
            write: true,
            perf: false,
            server: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or(format!("{a} needs a value"));
            match a.as_str() {
                "--students" => o.students = value()?.parse()?,
                "--viewers" => o.viewers = value()?.parse()?,
                "--rate" => o.rate = value()?.parse()?,
                "--seconds" => o.seconds = value()?.parse()?,
                "--settle" => o.settle = value()?.parse()?,
                "--no-write" => o.write = false,
                "--perf" => o.perf = true,
                "--server" => o.server = Some(value()?.into()),
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if o.students == 0 || o.viewers == 0 || o.rate == 0 || o.seconds == 0 {
            return Err("--students, --viewers, --rate and --seconds must be positive".into());
        }
        if !classroom::students_suffice(o.students, o.rate) {
            return Err(format!(
                "{} students cannot carry {} messages/s within the chat rate limit",
                o.students, o.rate
            )
            .into());
        }
        Ok(o)
    }

    fn command(&self) -> String {
        let mut c =
            String::from("ulimit -Sn 4096; benches/netns.sh target/release/examples/class_bench");
        for (flag, value, default) in [
            ("--students", self.students, 500),
            ("--viewers", self.viewers, 100),
            ("--rate", self.rate as usize, 100),
            ("--seconds", self.seconds as usize, 60),
            ("--settle", self.settle as usize, 10),
        ] {
            if value != default {
                c += &format!(" {flag} {value}");
            }
        }
        c
    }
}

/// A child process killed on drop (the publisher, the viewers).
struct Proc(Child);

impl Proc {
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn get_json(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<serde_json::Value, Error> {
    Ok(http
        .get(url)
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// Waits until the session is live and every rung of its ladder has a
/// segment; returns the rungs' names.
async fn wait_ladder(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<Vec<String>, Error> {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(60) {
        let v = report::session_view(http, base, token, id).await?;
        let rungs = v["hls"]["rungs"].as_array().cloned().unwrap_or_default();
        if v["live"].as_bool() == Some(true)
            && !rungs.is_empty()
            && rungs
                .iter()
                .all(|r| r["segments"].as_u64().unwrap_or(0) >= 1)
        {
            return Ok(rungs
                .iter()
                .map(|r| r["name"].as_str().unwrap_or("?").to_owned())
                .collect());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Err(format!("session {id}: the ladder did not start within 60 s").into())
}

/// What the HLS poller saw during the window.
#[derive(Default)]
struct HlsSeen {
    /// Per new segment (listed in every rung): the slowest rung's lateness, ms.
    lateness_ms: Vec<f64>,
    /// Segments per rung at the window's start and end.
    segments: Vec<(String, u64, u64)>,
    /// The ladder's `dropped_input_frames` at the start and end.
    dropped_input: (u64, u64),
    /// The server's largest VmRSS seen, kB.
    rss_peak_kb: u64,
}

/// Polls `GET /api/sessions/{id}` every 250 ms until `stop`, as ladder_bench
/// does: each time every rung has a new segment, the slowest rung's
/// `last_segment_latency_ms` (its last frame into the ladder → listed).
async fn poll_hls(
    http: reqwest::Client,
    base: String,
    token: String,
    id: String,
    pid: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> HlsSeen {
    let mut seen = HlsSeen::default();
    let mut first: Option<Vec<(String, u64)>> = None;
    let mut last_min = 0;
    let started = Instant::now();
    for tick in 0u64.. {
        seen.rss_peak_kb = seen.rss_peak_kb.max(status_kb(&pid, "VmRSS"));
        // Every 5 s, the server's view of its WebRTC viewers (to tell a
        // server that stopped sending from viewers that stopped taking).
        if tick % 20 == 0 {
            if let Ok(v) =
                get_json(&http, &format!("{base}/api/sessions/{id}/viewers"), &token).await
            {
                let list = v["viewers"].as_array().cloned().unwrap_or_default();
                let sum = |k: &str| list.iter().filter_map(|x| x[k].as_u64()).sum::<u64>();
                let mut states = std::collections::BTreeMap::new();
                for x in &list {
                    *states
                        .entry(x["connection_state"].as_str().unwrap_or("?").to_owned())
                        .or_insert(0) += 1;
                }
                eprintln!(
                    "{:>3} s: server's viewers {states:?}, packets sent {}, frames forwarded {} dropped {}, levels {}",
                    started.elapsed().as_secs(),
                    sum("packets_sent"),
                    sum("frames_forwarded"),
                    sum("frames_dropped"),
                    v["by_level"]
                );
            }
        }
        if let Ok(v) = report::session_view(&http, &base, &token, &id).await {
            let rungs = v["hls"]["rungs"].as_array().cloned().unwrap_or_default();
            let counts: Vec<(String, u64)> = rungs
                .iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or("?").to_owned(),
                        r["segments"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let dropped = v["hls"]["dropped_input_frames"].as_u64().unwrap_or(0);
            let min = counts.iter().map(|(_, n)| *n).min().unwrap_or(0);
            match &first {
                None => {
                    first = Some(counts.clone());
                    seen.dropped_input.0 = dropped;
                    last_min = min;
                }
                Some(start) => {
                    if min > last_min {
                        if let Some(worst) = rungs
                            .iter()
                            .filter_map(|r| r["last_segment_latency_ms"].as_f64())
                            .reduce(f64::max)
                        {
                            seen.lateness_ms.push(worst);
                        }
                        last_min = min;
                    }
                    seen.segments = start
                        .iter()
                        .zip(&counts)
                        .map(|((name, a), (_, b))| (name.clone(), *a, *b))
                        .collect();
                }
            }
            seen.dropped_input.1 = dropped;
        }
        tokio::select! {
            _ = stop.changed() => break,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    seen
}

/// `perf record -g` of `pid` for 15 s after `delay`; the report's top lines.
fn profile(pid: String, delay: Duration, out: PathBuf) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let data = out.with_extension("data");
        let recorded = Command::new("perf")
            .args(["record", "-F", "499", "-g", "-p", &pid, "-o"])
            .arg(&data)
            .args(["--", "sleep", "15"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !recorded.is_ok_and(|s| s.success()) {
            return "perf record failed (is linux-perf installed?)".into();
        }
        let report = Command::new("perf")
            .args(["report", "--stdio", "--no-children", "--sort", "dso,symbol"])
            .arg("-i")
            .arg(&data)
            .stderr(Stdio::null())
            .output();
        let text = report
            .map(|r| String::from_utf8_lossy(&r.stdout).into_owned())
            .unwrap_or_default();
        let _ = std::fs::write(out.with_extension("txt"), &text);
        // The top symbols: the report's first non-comment lines with a share.
        text.lines()
            .filter(|l| {
                !l.starts_with('#') && l.trim_start().starts_with(|c: char| c.is_ascii_digit())
            })
            .take(25)
            // Without the padding and the empty trailing columns.
            .map(|l| {
                let mut words: Vec<&str> = l.split_whitespace().collect();
                while words.last() == Some(&"-") {
                    words.pop();
                }
                words.join(" ")
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

/// Waits (up to `limit`) for viewers.py's "K/N viewers receiving video" line.
async fn viewers_up(viewers: &mut Proc, stderr: &Path, limit: Duration) -> Result<String, Error> {
    let t0 = Instant::now();
    loop {
        let text = std::fs::read_to_string(stderr).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("viewers receiving video after"))
        {
            // Its log line without the time stamp and logger.
            return Ok(line
                .rsplit_once(" INFO ")
                .map_or(line, |(_, m)| m)
                .to_owned());
        }
        if let Some(status) = viewers.0.try_wait()? {
            return Err(format!("viewers.py exited {status}: {text}").into());
        }
        if t0.elapsed() > limit {
            return Err(format!("viewers not up after {limit:?}: {text}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The per-viewer figures of viewers.py's JSON.
struct ViewerFigures {
    requested: u64,
    connected: u64,
    at_end: u64,
    loss_pct: f64,
    /// Per viewer (connected ones), sorted.
    loss_pct_each: Vec<f64>,
    fps_each: Vec<f64>,
    mbps_each: Vec<f64>,
    udp_drops: serde_json::Value,
    errors: Vec<String>,
}

fn viewer_figures(v: &serde_json::Value) -> ViewerFigures {
    let window_s = v["window_s"].as_f64().unwrap_or(f64::NAN);
    let rows: Vec<&serde_json::Value> = v["per_viewer"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|r| r["ok"].as_bool() == Some(true))
                .collect()
        })
        .unwrap_or_default();
    let num = |r: &serde_json::Value, k: &str| r[k].as_f64().unwrap_or(0.0);
    let mut loss_pct_each: Vec<f64> = rows
        .iter()
        .map(|r| {
            let (got, lost) = (num(r, "video_packets"), num(r, "video_lost"));
            if got + lost > 0.0 {
                100.0 * lost / (got + lost)
            } else {
                100.0
            }
        })
        .collect();
    let mut fps_each: Vec<f64> = rows.iter().map(|r| num(r, "frames") / window_s).collect();
    let mut mbps_each: Vec<f64> = rows
        .iter()
        .map(|r| 8.0 * num(r, "video_bytes") / window_s / 1e6)
        .collect();
    for xs in [&mut loss_pct_each, &mut fps_each, &mut mbps_each] {
        xs.sort_by(|a, b| a.total_cmp(b));
    }
    ViewerFigures {
        requested: v["viewers_requested"].as_u64().unwrap_or(0),
        connected: v["viewers_connected"].as_u64().unwrap_or(0),
        at_end: v["viewers_connected_at_end"].as_u64().unwrap_or(0),
        // No packets at all counts as everything lost.
        loss_pct: v["video_loss_pct"].as_f64().unwrap_or(100.0),
        loss_pct_each,
        fps_each,
        mbps_each,
        udp_drops: v["udp_socket_drops"].clone(),
        errors: v["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Ends the class and waits (up to 60 s) for its recording to be `ready`:
/// (seconds from the end to ready, the recording's JSON).
async fn end_and_record(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<(f64, serde_json::Value), Error> {
    let ended = Instant::now();
    http.post(format!("{base}/api/sessions/{id}/end"))
        .bearer_auth(token)
        .send()
        .await?
        .error_for_status()?;
    let url = format!("{base}/api/sessions/{id}/recordings");
    let mut last = serde_json::Value::Null;
    while ended.elapsed() < Duration::from_secs(60) {
        let v = get_json(http, &url, token).await?;
        // The list may be bare or under "recordings".
        let list = v
            .as_array()
            .or_else(|| v["recordings"].as_array())
            .cloned()
            .unwrap_or_default();
        if let Some(r) = list.first() {
            last = r.clone();
            if matches!(r["state"].as_str(), Some("ready") | Some("failed")) {
                return Ok((ended.elapsed().as_secs_f64(), last));
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    Ok((f64::NAN, last))
}

/// CPU seconds of each measured process and of the machine at one instant.
struct CpuSample {
    server: f64,
    publisher: f64,
    viewers: f64,
    me: f64,
    machine: f64,
    at: Instant,
}

impl CpuSample {
    fn take(server: &str, publisher: &str, viewers: &str) -> Self {
        CpuSample {
            server: report::cpu_seconds(server),
            publisher: report::cpu_seconds(publisher),
            viewers: report::cpu_seconds(viewers),
            me: report::cpu_seconds("self"),
            machine: bench::machine_cpu_seconds(),
            at: Instant::now(),
        }
    }
}

/// % of one core, over the window, of everything measured.
struct Cpu {
    server: f64,
    publisher: f64,
    viewers: f64,
    me: f64,
    others: f64,
    machine: f64,
}

fn cpu(a: &CpuSample, b: &CpuSample) -> Cpu {
    let s = b.at.duration_since(a.at).as_secs_f64();
    let pct = |x: f64, y: f64| 100.0 * (y - x) / s;
    let (server, publisher, viewers, me, machine) = (
        pct(a.server, b.server),
        pct(a.publisher, b.publisher),
        pct(a.viewers, b.viewers),
        pct(a.me, b.me),
        pct(a.machine, b.machine),
    );
    Cpu {
        server,
        publisher,
        viewers,
        me,
        others: (machine - server - publisher - viewers - me).max(0.0),
        machine,
    }
}

/// Everything the table reports.
struct Run {
    background_pct: f64,
    rungs: Vec<String>,
    join_s: f64,
    receivers: usize,
    viewers_line: String,
    cpu: Cpu,
    rss_end_mb: f64,
    rss_peak_mb: f64,
    window_s: f64,
    v: ViewerFigures,
    sent: u64,
    expected: u64,
    tally: classroom::Tally,
    queue_full: usize,
    broker_lag: usize,
    hls: HlsSeen,
    recording: Result<(f64, serde_json::Value), String>,
    profile: Option<String>,
}

impl Run {
    fn chat_lost(&self) -> u64 {
        self.expected - self.tally.delivered().min(self.expected)
    }

    fn failures(&self) -> Vec<String> {
        let mut f = Vec::new();
        if self.chat_lost() > 0 || self.tally.duplicates > 0 {
            f.push(format!(
                "chat: {} lost, {} duplicated",
                self.chat_lost(),
                self.tally.duplicates
            ));
        }
        if self.v.connected < self.v.requested || self.v.at_end < self.v.requested {
            f.push(format!(
                "WebRTC: {} of {} viewers connected, {} at the end",
                self.v.connected, self.v.requested, self.v.at_end
            ));
        }
        if self.v.loss_pct.is_nan() || self.v.loss_pct >= MAX_LOSS_PCT {
            f.push(format!("WebRTC video loss {:.2} %", self.v.loss_pct));
        }
        f
    }
}

fn table(o: &Options, r: &Run) -> String {
    let mut t = format!(
        "One class on one 2-core machine, load generators included: a release `classcast serve` (SQLite, local files, \
         the default ladder {}, the session recorded), one 1280x720 30 fps WHIP publisher (`classcast publish`, GStreamer \
         test pattern, x264 ultrafast 2 Mb/s + Opus), {} WebRTC viewers over WHEP (aiortc, `--rx count` from \
         `../shared/tools/janus-fanout/viewers.py` through `benches/class_viewers.py`: SRTP datagrams counted from their \
         clear RTP headers, no decode and no RTCP, hence `--viewer-rtcp-timeout 1h`; a frame = a video packet with the \
         marker bit), and {} students + the instructor on the classroom WebSocket with {} chat messages/s in total from \
         random students (each message due to all {} sockets). One {} s window after a {} s settle; ICE on 127.0.0.x in a \
         network namespace (`benches/netns.sh`). Machine busy before the start: {:.0} % of a core.\n\n",
        r.rungs.join("/"),
        o.viewers,
        o.students,
        o.rate,
        r.receivers,
        o.seconds,
        o.settle,
        r.background_pct,
    );
    if r.background_pct > QUIET_CPU * 100.0 {
        t += &format!(
            "**The machine was busy with other work when the run started ({:.0} % of a core): \
             these figures include that contention.**\n\n",
            r.background_pct
        );
    }
    t += "| measure | value |\n|---|---|\n";
    let mut row = |name: &str, value: String| t += &format!("| {name} | {value} |\n");
    let c = &r.cpu;
    row(
        "**server CPU** (% of one core, window)",
        format!("**{:.0}**", c.server),
    );
    row(
        "server RSS at the end / peak (MiB)",
        format!("{:.0} / {:.0}", r.rss_end_mb, r.rss_peak_mb),
    );
    row(
        "load generators' CPU (% of one core): aiortc viewers / WebSocket clients (the bench process) / publisher",
        format!("{:.0} / {:.0} / {:.0}", c.viewers, c.me, c.publisher),
    );
    row(
        "other processes / machine busy (% of one core, of 200)",
        format!("{:.0} / {:.0}", c.others, c.machine),
    );
    let v = &r.v;
    row(
        "WebRTC viewers connected / at the end of the window",
        format!(
            "{} / {} of {} (viewers.py: \"{}\")",
            v.connected, v.at_end, v.requested, r.viewers_line
        ),
    );
    row(
        "**WebRTC video loss**, all viewers (%)",
        format!("**{:.3}**", v.loss_pct),
    );
    row(
        "loss per viewer, median / worst (%)",
        format!(
            "{:.3} / {:.3}",
            percentile_f(&mut v.loss_pct_each.clone(), 0.5),
            v.loss_pct_each.last().copied().unwrap_or(f64::NAN)
        ),
    );
    row(
        &format!("**frame rate per viewer**, min / median (fps; the source sends {SOURCE_FPS:.0})"),
        format!(
            "**{:.1}** / {:.1}",
            v.fps_each.first().copied().unwrap_or(f64::NAN),
            percentile_f(&mut v.fps_each.clone(), 0.5)
        ),
    );
    row(
        "video per viewer, min / median (Mb/s)",
        format!(
            "{:.2} / {:.2}",
            v.mbps_each.first().copied().unwrap_or(f64::NAN),
            percentile_f(&mut v.mbps_each.clone(), 0.5)
        ),
    );
    row(
        "kernel UDP drops during the window, by whose socket",
        format!("{}", v.udp_drops),
    );
    row(
        "chat: sockets welcomed / messages sent",
        format!(
            "{} in {:.1} s / {} in {:.1} s",
            r.receivers, r.join_s, r.sent, r.window_s
        ),
    );
    row(
        "chat deliveries expected / delivered",
        format!("{} / {}", r.expected, r.tally.delivered()),
    );
    row(
        "**chat lost** / duplicates",
        format!("**{}** / {}", r.chat_lost(), r.tally.duplicates),
    );
    let all = &r.tally.all;
    row(
        "**chat delivery latency** p50 / **p95** / p99 / max (ms)",
        format!(
            "{:.1} / **{:.1}** / {:.1} / {:.0}",
            percentile(all, 0.5),
            percentile(all, 0.95),
            percentile(all, 0.99),
            all.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0)
        ),
    );
    let (first, last) = r.tally.first_last_sorted();
    row(
        "per message, first / last receiver p95 (ms)",
        format!(
            "{:.1} / {:.1}",
            percentile(&first, 0.95),
            percentile(&last, 0.95)
        ),
    );
    row(
        "server: sockets closed for a full queue / \"broker subscriber fell behind\"",
        format!("{} / {}", r.queue_full, r.broker_lag),
    );
    let mut late = r.hls.lateness_ms.clone();
    row(
        "**HLS segment lateness** (last frame into the ladder → listed in every rung) p50 / p95 / max (ms)",
        format!(
            "{:.0} / **{:.0}** / {:.0} over {} segments",
            percentile_f(&mut late, 0.5),
            percentile_f(&mut late, 0.95),
            late.last().copied().unwrap_or(f64::NAN),
            late.len()
        ),
    );
    row(
        "HLS segments written in the window, per rung",
        r.hls
            .segments
            .iter()
            .map(|(n, a, b)| format!("{n} {}", b.saturating_sub(*a)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    row(
        "ladder input frames dropped in the window",
        format!(
            "{}",
            r.hls.dropped_input.1.saturating_sub(r.hls.dropped_input.0)
        ),
    );
    row(
        "recording: end of class → `ready`",
        match &r.recording {
            Ok((s, rec)) => format!(
                "{} in {:.1} s ({} s, {:.1} MB)",
                rec["state"].as_str().unwrap_or("?"),
                s,
                rec["duration_seconds"]
                    .as_f64()
                    .map_or("?".into(), |d| format!("{d:.0}")),
                rec["size_bytes"].as_f64().unwrap_or(f64::NAN) / 1e6
            ),
            Err(e) => format!("error: {e}"),
        },
    );
    let failures = r.failures();
    row(
        &format!("target: no chat message lost or duplicated, every viewer connected, WebRTC loss < {MAX_LOSS_PCT} %"),
        if failures.is_empty() {
            "met".into()
        } else {
            format!("**not met**: {}", failures.join("; "))
        },
    );
    t += NOTES;
    if let Some(p) = &r.profile {
        t += &format!(
            "\nServer profile (`perf record -g`, 15 s mid-window, top symbols):\n\n```\n{p}\n```\n"
        );
    }
    t
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Options::parse()?;
    let need = (o.students + 1) as u64 + 128;
    let limit = bench::open_files_limit();
    if limit < need {
        return Err(format!(
            "open files limit {limit} < {need}: raise it (`ulimit -Sn 4096`) and run again"
        )
        .into());
    }
    let ice_ip = std::env::var("BENCH_ICE_IP").map_err(|_| {
        "BENCH_ICE_IP is not set: run under benches/netns.sh (ICE on 127.x in a network namespace)"
    })?;
    let tools = report::fanout_tools()?;
    let python = std::env::var_os("PY")
        .map(PathBuf::from)
        .unwrap_or_else(|| report::manifest().join("target/pyenv/bin/python"));
    let bin = bench::classcast_bin(o.server.as_deref())?;
    // The logs of the run (server, publisher, viewers, profile) stay here.
    let work = report::manifest().join("target/bench/class");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let quiet_wait = std::env::var("CLASS_BENCH_QUIET_WAIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(QUIET_WAIT_S);
    let background = bench::wait_for_quiet(QUIET_CPU, Duration::from_secs(quiet_wait)).await;
    let ladder = report::manifest().join("pipelines/ladder.toml");
    let ladder = ladder.to_string_lossy();
    let max_views = (o.viewers + 10).to_string();
    let mut server = Server::start(
        &bin,
        &[
            "--ladder",
            &ladder,
            // The count-only viewers send no RTCP: with the default (10 s)
            // the server would reap them mid-window.
            "--viewer-rtcp-timeout",
            "1h",
            // The viewers share one student token.
            "--max-views-per-user",
            &max_views,
        ],
        &[
            // Every client is 127.0.0.1: the per-address and per-user limits
            // would stop the load.
            ("CLASSCAST_MAX_CONNECTIONS_PER_IP", "0"),
            ("CLASSCAST_MAX_CONNECTIONS", "0"),
            ("CLASSCAST_RATE_LIMIT_IP", "off"),
            ("CLASSCAST_RATE_LIMIT_USER", "off"),
        ],
    )?;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let instructor = report::token("class-instructor", Role::Instructor, None)?;
    let session: serde_json::Value = http
        .post(format!("{base}/api/sessions"))
        .bearer_auth(&instructor)
        .json(&serde_json::json!({
            "title": "The class of 500",
            "record": true,
            "max_webrtc_viewers": o.viewers + 10,
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = session["id"].as_str().ok_or("no session id")?.to_owned();

    eprintln!("publishing 1280x720 into {id}");
    let publisher_log = std::fs::File::create(work.join("publisher.log"))?;
    let publisher = Proc(
        Command::new(&bin)
            .args(["publish", "--whip-url", &format!("{base}/whip/{id}")])
            .args(["--token", &instructor, "--width", "1280", "--height", "720"])
            .stdout(Stdio::null())
            .stderr(publisher_log)
            .spawn()?,
    );
    let rungs = wait_ladder(&http, &base, &instructor, &id).await?;
    eprintln!("ladder up: {}", rungs.join(", "));

    let tokens = classroom::tokens(instructor.clone(), &id, o.students)?;
    let receivers = tokens.len();
    eprintln!("connecting {receivers} classroom sockets");
    let url = format!("ws://127.0.0.1:{}/ws/sessions/{id}", server.port);
    let class = Classroom::join(&url, &tokens).await?;
    eprintln!("{receivers} welcomed in {:.1} s", class.join_s);

    eprintln!("starting {} WebRTC viewers", o.viewers);
    let viewer_token = report::token("class-viewer", Role::Student, Some(&id))?;
    let json = work.join("viewers.json");
    let viewers_err = work.join("viewers.stderr");
    let mut viewers = Proc(
        Command::new(&python)
            .arg(report::manifest().join("benches/class_viewers.py"))
            .arg(&tools)
            .args(["whep", &format!("{base}/whep/{id}")])
            .args([&o.viewers.to_string(), &o.seconds.to_string()])
            .args(["--warmup", &o.settle.to_string(), "--local-ip", &ice_ip])
            .args(["--token", &viewer_token, "-v", "--json-out"])
            .arg(&json)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&viewers_err)?)
            .spawn()
            .map_err(|e| format!("{}: {e} (set PY to a python with aiortc)", python.display()))?,
    );
    let up = viewers_up(&mut viewers, &viewers_err, Duration::from_secs(180)).await?;
    eprintln!("{up}; settling {} s", o.settle);
    // viewers.py starts its window after the same settle (its --warmup).
    tokio::time::sleep(Duration::from_secs(u64::from(o.settle))).await;
    server.alive()?;

    // The window.
    let (publisher_pid, viewers_pid) = (publisher.pid(), viewers.pid());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(poll_hls(
        http.clone(),
        base.clone(),
        instructor.clone(),
        id.clone(),
        server.pid.clone(),
        stop_rx,
    ));
    let profiler = o.perf.then(|| {
        let delay = Duration::from_secs(u64::from(o.seconds.saturating_sub(15) / 2));
        profile(server.pid.clone(), delay, work.join("server-perf"))
    });
    let c0 = CpuSample::take(&server.pid, &publisher_pid, &viewers_pid);
    eprintln!("window: {} s", o.seconds);
    let (sent, window) = class.chat(o.rate, o.seconds, || {}).await?;
    let c1 = CpuSample::take(&server.pid, &publisher_pid, &viewers_pid);
    let rss_end = status_kb(&server.pid, "VmRSS");
    let _ = stop_tx.send(true);
    let hls = poller.await?;
    let expected = sent * receivers as u64;
    eprintln!("sent {sent}; waiting for deliveries");
    class.drain(expected).await;
    let log = server.log();
    let queue_full = log.matches("socket queue full").count();
    let broker_lag = log.matches("fell behind").count();
    let join_s = class.join_s;
    let tally = class.finish(sent).await?;

    // viewers.py ends its window, DELETEs its resources and writes its JSON.
    let t0 = Instant::now();
    while viewers.0.try_wait()?.is_none() && t0.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = std::fs::read_to_string(&json).map_err(|e| {
        format!(
            "viewers.py wrote no {}: {e}; its stderr: {}",
            json.display(),
            std::fs::read_to_string(&viewers_err).unwrap_or_default()
        )
    })?;
    let v = viewer_figures(&serde_json::from_str(&text)?);
    let profile = profiler.and_then(|h| h.join().ok());
    let rss_peak = status_kb(&server.pid, "VmHWM").max(hls.rss_peak_kb);
    drop(publisher);
    let recording = end_and_record(&http, &base, &instructor, &id)
        .await
        .map_err(|e| e.to_string());
    for l in server
        .log()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .take(20)
    {
        eprintln!("server: {l}");
    }
    for e in tally.errors.iter().chain(&v.errors).take(10) {
        eprintln!("error: {e}");
    }
    let _ = std::fs::copy(&server.stderr, work.join("server.log"));
    drop(server);

    let run = Run {
        background_pct: background * 100.0,
        rungs,
        join_s,
        receivers,
        viewers_line: up,
        cpu: cpu(&c0, &c1),
        rss_end_mb: rss_end as f64 / 1024.0,
        rss_peak_mb: rss_peak as f64 / 1024.0,
        window_s: window.as_secs_f64(),
        v,
        sent,
        expected,
        tally,
        queue_full,
        broker_lag,
        hls,
        recording,
        profile,
    };
    let t = table(&o, &run);
    println!("{t}");
    if o.write {
        report::write_section("The class of 500", &o.command(), &t)?;
    }
    let failures = run.failures();
    if !failures.is_empty() {
        return Err(failures.join("; ").into());
    }
    Ok(())
}

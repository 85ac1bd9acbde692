//! Classroom WebSocket load: N students + 1 instructor in one session of a
//! release `classcast serve` (a separate process, so its CPU and RSS come from
//! /proc/<pid>), chat at a fixed total rate from random students for a fixed
//! time; every client records every `chat` it receives. Reports deliveries
//! (expected = sent × receivers, since the sender gets its own message back),
//! losses, duplicates, latency percentiles, and the CPU and memory of the
//! server and of this load generator. One pass with `--broker local`, one with
//! Redis when it answers on 127.0.0.1:6379.
//!
//! Run with `make bench`, or:
//! `cargo build --release --bin classcast --example ws_bench && target/release/examples/ws_bench`
//! (options: `--clients 500 --rate 100 --seconds 60 --brokers local,redis://127.0.0.1:6379`,
//! `--server PATH` for another classcast binary, and `--no-write` to leave
//! BENCHMARKS.md alone). Each pass first waits (up to 10 min) for the rest of
//! the machine to go quiet. Writes the "Classroom WebSocket" section of
//! BENCHMARKS.md; exits non-zero when a message was lost or duplicated.

#[path = "common/bench.rs"]
mod bench;
#[path = "common/classroom.rs"]
mod classroom;
#[path = "common/report.rs"]
mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bench::{percentile, percentile_f, status_kb, Server};
use classroom::Classroom;

type Error = Box<dyn std::error::Error>;

/// Other processes may use this much of a core before a pass starts…
const QUIET_CPU: f64 = 0.25;
/// …or we stop waiting for that after this long.
const QUIET_WAIT: Duration = Duration::from_secs(600);

struct Options {
    clients: usize,
    rate: u32,
    seconds: u32,
    brokers: Vec<String>,
    write: bool,
    /// The server binary (default: `classcast` next to this example's directory).
    server: Option<PathBuf>,
}

impl Options {
    fn parse() -> Result<Self, Error> {
        let mut o = Options {
            clients: 500,
            rate: 100,
            seconds: 60,
            brokers: vec!["local".into(), "redis://127.0.0.1:6379".into()],
            write: true,
            server: None,
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut value = || args.next().ok_or(format!("{a} needs a value"));
            match a.as_str() {
                "--clients" => o.clients = value()?.parse()?,
                "--rate" => o.rate = value()?.parse()?,
                "--seconds" => o.seconds = value()?.parse()?,
                "--brokers" => o.brokers = value()?.split(',').map(str::to_owned).collect(),
                "--no-write" => o.write = false,
                "--server" => o.server = Some(value()?.into()),
                other => return Err(format!("unknown argument {other}").into()),
            }
        }
        if o.clients == 0 || o.rate == 0 || o.seconds == 0 {
            return Err("--clients, --rate and --seconds must be positive".into());
        }
        if !classroom::students_suffice(o.clients, o.rate) {
            return Err(format!(
                "{} students cannot carry {} messages/s within the chat rate limit",
                o.clients, o.rate
            )
            .into());
        }
        Ok(o)
    }

    fn command(&self) -> String {
        let mut c = String::from(
            "cargo build --release --bin classcast --example ws_bench && target/release/examples/ws_bench",
        );
        if self.clients != 500 {
            c += &format!(" --clients {}", self.clients);
        }
        if self.rate != 100 {
            c += &format!(" --rate {}", self.rate);
        }
        if self.seconds != 60 {
            c += &format!(" --seconds {}", self.seconds);
        }
        if let Some(s) = &self.server {
            c += &format!(" --server {}", s.display());
        }
        c
    }
}

/// The classcast server under test (killed on drop), with this bench's flags.
fn start_server(broker: &str, server: Option<&Path>) -> Result<Server, Error> {
    Server::start(
        &bench::classcast_bin(server)?,
        &["--broker", broker, "--disable-hls"],
        &[
            // Every client is 127.0.0.1: no per-address connection cap.
            ("CLASSCAST_MAX_CONNECTIONS_PER_IP", "0"),
            ("CLASSCAST_MAX_CONNECTIONS", "0"),
            // The hub logs each message it drops for a full socket queue at debug.
            ("RUST_LOG", "warn,classcast::control::hub=debug"),
        ],
    )
}

/// Per 5 s of send time: first- and last-receiver latency (ms), to tell a
/// stall from a steady backlog.
fn timeline(broker: &str, rate: u32, first: &[u32], last: &[u32], reached: &[u32]) {
    let bucket = rate as usize * 5;
    let mut line = format!("[{broker}] per 5 s, first receiver p50/max | last receiver max (ms):");
    for (i, chunk) in (0..first.len())
        .collect::<Vec<_>>()
        .chunks(bucket)
        .enumerate()
    {
        let mut f: Vec<u32> = chunk
            .iter()
            .filter(|&&s| reached[s] > 0)
            .map(|&s| first[s])
            .collect();
        f.sort_unstable();
        let l = chunk
            .iter()
            .filter(|&&s| reached[s] > 0)
            .map(|&s| last[s])
            .max()
            .unwrap_or(0);
        line += &format!(
            "\n  {:>3}-{:<3}s {:>8.1} {:>8.1} | {:>8.1}",
            i * 5,
            i * 5 + 5,
            percentile(&f, 0.5),
            f.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0),
            f64::from(l) / 1000.0
        );
    }
    eprintln!("{line}");
}

struct Pass {
    broker: String,
    clients: usize,
    join_s: f64,
    sent: u64,
    send_window_s: f64,
    expected: u64,
    delivered: u64,
    lost: u64,
    duplicates: u64,
    /// p50, p95, p99, max in ms over every delivery.
    latency: [f64; 4],
    /// Per message: first and last receiver, p50 / p95 in ms.
    first: [f64; 2],
    last: [f64; 2],
    server_cpu: f64,
    loadgen_cpu: f64,
    /// Everything else running on the machine during the send window.
    other_cpu: f64,
    joins_expected: u64,
    rss_idle_mb: f64,
    rss_joined_mb: f64,
    rss_peak_mb: f64,
    queue_full_drops: usize,
    broker_lag_lines: usize,
    first_p95_per_10s: Vec<f64>,
    /// Send → the room took the message (its `at`), p50 / p95 ms.
    to_room: [f64; 2],
    /// The room took it → first receiver, p50 / p95 ms.
    room_to_first: [f64; 2],
    to_room_p95_per_10s: Vec<f64>,
    errors: Vec<String>,
    other: BTreeMap<String, u64>,
}

async fn pass(o: &Options, broker: &str) -> Result<Pass, Error> {
    let server = start_server(broker, o.server.as_deref())?;
    let http = reqwest::Client::new();
    let (instructor, session) = report::bench_session(&http, &server.base).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle = status_kb(&server.pid, "VmRSS");
    let url = format!("ws://127.0.0.1:{}/ws/sessions/{session}", server.port);
    let tokens = classroom::tokens(instructor, &session, o.clients)?;
    let receivers = tokens.len();
    eprintln!("[{broker}] connecting {receivers} clients");
    let class = Classroom::join(&url, &tokens).await?;
    let join_s = class.join_s;
    eprintln!("[{broker}] all {receivers} welcomed in {join_s:.1} s; settling");
    // Let the join announcements (participant_joined to everyone) drain.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_joined = status_kb(&server.pid, "VmRSS");

    // The send window.
    let server_cpu0 = report::cpu_seconds(&server.pid);
    let self_cpu0 = report::cpu_seconds("self");
    let machine_cpu0 = bench::machine_cpu_seconds();
    let mut rss_peak_seen = 0;
    let (total, send_window) = class
        .chat(o.rate, o.seconds, || {
            rss_peak_seen = rss_peak_seen.max(status_kb(&server.pid, "VmRSS"));
        })
        .await?;
    let server_cpu = (report::cpu_seconds(&server.pid) - server_cpu0) / send_window.as_secs_f64();
    let loadgen_cpu = (report::cpu_seconds("self") - self_cpu0) / send_window.as_secs_f64();
    let machine_cpu = (bench::machine_cpu_seconds() - machine_cpu0) / send_window.as_secs_f64();
    let expected = total * receivers as u64;
    eprintln!(
        "[{broker}] sent {total} in {:.1} s; waiting for deliveries",
        send_window.as_secs_f64()
    );
    class.drain(expected).await;
    let rss_peak = status_kb(&server.pid, "VmHWM").max(rss_peak_seen);
    // Up to here: the teardown below makes the server drop `participant_left`
    // for sockets that no longer read.
    let log = server.log();
    let queue_full_drops = log.matches("socket queue full").count();
    let broker_lag_lines = log
        .lines()
        .filter(|l| l.contains("behind") || l.contains("lagged") || l.contains("Lagged"))
        .count();
    let warnings: Vec<String> = log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .map(str::to_owned)
        .collect();
    let epoch_wall_ms = class.shared.epoch_wall_ms;
    let tally = class.finish(total).await?;
    let classroom::Tally {
        all,
        first,
        last: last_rx,
        per_message,
        duplicates,
        errors,
        other,
        stamped,
    } = tally;
    let delivered = all.len() as u64;
    timeline(broker, o.rate, &first, &last_rx, &per_message);
    let first_p95_per_10s: Vec<f64> = (0..total as usize)
        .collect::<Vec<_>>()
        .chunks(o.rate as usize * 10)
        .map(|chunk| {
            let mut f: Vec<u32> = chunk
                .iter()
                .filter(|&&s| per_message[s] > 0)
                .map(|&s| first[s])
                .collect();
            f.sort_unstable();
            percentile(&f, 0.95)
        })
        .collect();
    // Split at the room's acceptance time (wall clock, ms): client → room,
    // and room → the first receiver.
    let mut to_room = Vec::new();
    let mut room_to_first = Vec::new();
    let mut to_room_per_10s: Vec<Vec<f64>> =
        vec![Vec::new(); (total as usize).div_ceil(o.rate as usize * 10)];
    for &(seq, at, sent) in &stamped {
        let Some(&f) = first.get(seq as usize) else {
            continue;
        };
        let sent_wall = epoch_wall_ms + sent as f64 / 1000.0;
        let inbound = at as f64 - sent_wall;
        to_room.push(inbound);
        room_to_first.push(sent_wall + f64::from(f) / 1000.0 - at as f64);
        if let Some(b) = to_room_per_10s.get_mut(seq as usize / (o.rate as usize * 10)) {
            b.push(inbound);
        }
    }
    let to_room = [
        percentile_f(&mut to_room, 0.5),
        percentile_f(&mut to_room, 0.95),
    ];
    let room_to_first = [
        percentile_f(&mut room_to_first, 0.5),
        percentile_f(&mut room_to_first, 0.95),
    ];
    let to_room_p95_per_10s: Vec<f64> = to_room_per_10s
        .iter_mut()
        .map(|b| percentile_f(b, 0.95))
        .collect();
    let reached: Vec<usize> = (0..total as usize)
        .filter(|&s| per_message[s] > 0)
        .collect();
    let mut first: Vec<u32> = reached.iter().map(|&s| first[s]).collect();
    let mut last_rx: Vec<u32> = reached.iter().map(|&s| last_rx[s]).collect();
    first.sort_unstable();
    last_rx.sort_unstable();

    for w in warnings.iter().take(20) {
        eprintln!("[{broker}] server: {w}");
    }
    if warnings.len() > 20 {
        eprintln!("[{broker}] server: … {} warnings in all", warnings.len());
    }
    drop(server);
    Ok(Pass {
        broker: broker.to_owned(),
        clients: o.clients,
        join_s,
        sent: total,
        send_window_s: send_window.as_secs_f64(),
        expected,
        delivered,
        lost: expected - delivered.min(expected),
        duplicates,
        latency: [
            percentile(&all, 0.50),
            percentile(&all, 0.95),
            percentile(&all, 0.99),
            all.last().map_or(f64::NAN, |&m| f64::from(m) / 1000.0),
        ],
        first: [percentile(&first, 0.5), percentile(&first, 0.95)],
        last: [percentile(&last_rx, 0.5), percentile(&last_rx, 0.95)],
        server_cpu: server_cpu * 100.0,
        loadgen_cpu: loadgen_cpu * 100.0,
        other_cpu: ((machine_cpu - server_cpu - loadgen_cpu) * 100.0).max(0.0),
        // Each client hears of everyone who joins after it.
        joins_expected: (receivers * (receivers - 1) / 2) as u64,
        rss_idle_mb: rss_idle as f64 / 1024.0,
        rss_joined_mb: rss_joined as f64 / 1024.0,
        rss_peak_mb: rss_peak as f64 / 1024.0,
        queue_full_drops,
        broker_lag_lines,
        first_p95_per_10s,
        to_room,
        room_to_first,
        to_room_p95_per_10s,
        errors,
        other,
    })
}

fn redis_up(broker: &str) -> bool {
    let Some(addr) = broker.strip_prefix("redis://") else {
        return true;
    };
    let addr = addr.trim_end_matches('/');
    std::net::TcpStream::connect(addr).is_ok()
}

fn table(o: &Options, passes: &[Pass]) -> String {
    let mut t = String::new();
    let brokers: Vec<String> = passes
        .iter()
        .map(|p| format!("`--broker {}`", p.broker))
        .collect();
    t += &format!(
        "One session, {} students + 1 instructor on loopback, {} chat messages/s in total from random students for {} s (SQLite, release build). \
         Every client counts every `chat` it receives; the sender gets its own message too, so each message is due to all {} clients. \
         Latency = receive time − send time, both read in the load generator (one clock). \
         **The load generator and the server share the machine's 2 cores**: the latencies include the load generator's own scheduling.\n\n",
        o.clients,
        o.rate,
        o.seconds,
        o.clients + 1
    );
    t += &format!(
        "| measure | {} |\n|---|{}\n",
        brokers.join(" | "),
        "---|".repeat(passes.len())
    );
    let mut row = |name: &str, f: &dyn Fn(&Pass) -> String| {
        t += &format!(
            "| {name} | {} |\n",
            passes.iter().map(f).collect::<Vec<_>>().join(" | ")
        );
    };
    row("clients connected and welcomed", &|p| {
        format!("{} in {:.1} s", p.clients + 1, p.join_s)
    });
    row("messages sent (window)", &|p| {
        format!("{} in {:.1} s", p.sent, p.send_window_s)
    });
    row("deliveries expected / delivered", &|p| {
        format!("{} / {}", p.expected, p.delivered)
    });
    row("**lost** / duplicates", &|p| {
        format!("**{}** / {}", p.lost, p.duplicates)
    });
    row("latency p50 / p95 / p99 / max (ms)", &|p| {
        format!(
            "{:.1} / **{:.1}** / {:.1} / {:.0}",
            p.latency[0], p.latency[1], p.latency[2], p.latency[3]
        )
    });
    row("per message, first receiver p50 / p95 (ms)", &|p| {
        format!("{:.1} / {:.1}", p.first[0], p.first[1])
    });
    row("per message, last receiver p50 / p95 (ms)", &|p| {
        format!("{:.1} / {:.1}", p.last[0], p.last[1])
    });
    row("server CPU (% of one core, send window)", &|p| {
        format!("{:.0}", p.server_cpu)
    });
    row("server RSS idle / all joined / peak (MiB)", &|p| {
        format!(
            "{:.0} / {:.0} / {:.0}",
            p.rss_idle_mb, p.rss_joined_mb, p.rss_peak_mb
        )
    });
    row("load generator CPU (% of one core)", &|p| {
        format!("{:.0}", p.loadgen_cpu)
    });
    row("other processes on the machine (% of one core)", &|p| {
        format!("{:.0}", p.other_cpu)
    });
    row(
        "join phase: `participant_joined` received / expected",
        &|p| {
            format!(
                "{} / {}",
                p.other.get("participant_joined").copied().unwrap_or(0),
                p.joins_expected
            )
        },
    );
    row(
        "server: messages dropped for a full socket queue (logged, to the end of the drain)",
        &|p| p.queue_full_drops.to_string(),
    );
    row("server: \"broker subscriber fell behind\" warnings", &|p| {
        p.broker_lag_lines.to_string()
    });
    row(
        "first receiver's latency, p95 per 10 s of the window (ms)",
        &|p| {
            p.first_p95_per_10s
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(" · ")
        },
    );
    row(
        "split at the room's `at` (wall clock, ±1 ms): send → room took it, p50 / p95 (ms)",
        &|p| format!("{:.0} / {:.0}", p.to_room[0], p.to_room[1]),
    );
    row(
        "… room took it → first receiver, p50 / p95 (ms)",
        &|p| format!("{:.0} / {:.0}", p.room_to_first[0], p.room_to_first[1]),
    );
    row(
        "send → room took it, p95 per 10 s of the window (ms)",
        &|p| {
            p.to_room_p95_per_10s
                .iter()
                .map(|v| format!("{v:.0}"))
                .collect::<Vec<_>>()
                .join(" · ")
        },
    );
    row("target: p95 < 100 ms, nothing lost", &|p| {
        if p.latency[1] < 100.0 && p.lost == 0 && p.duplicates == 0 {
            "met".into()
        } else {
            "**not met**".into()
        }
    });
    t += WHERE_THE_TIME_GOES;
    t
}

/// From `perf record` and `ss` on the server during local passes
/// (2026-11-29); not measured by this program.
const WHERE_THE_TIME_GOES: &str = "
Where the server's time goes (`perf record -p <server>` during a local pass): about 20 µs of CPU per delivery, so a little more than one core for the 50 000 deliveries/s of this load. \
Half is the kernel: one `send` per message per socket (each socket task writes and flushes every message on its own), and on loopback the kernel also runs the receiving side's TCP in the sender's context. \
About 17 % is tokio (a task wake-up and an mpsc hop per delivery), 9 % malloc/free, 4 % JSON serialization (once per receiver), 4 % tungstenite framing, 4 % zero-filling the sockets' 4 KiB read buffer (tungstenite fills it before every read attempt, and the socket loop attempts a read after every message it sends; with the 128 KiB default this was 40 % of the CPU and 64 MiB of RSS), 2 % SQLite (each chat is stored by the room task before it takes its next input). \
The load generator takes 0.65–0.8 of a core, so the server runs at saturation, and latency climbs during the window (the per-10-s rows). \
The backlog builds after the room has taken a message: the room accepts chats within tens of ms (the split rows), and the kernel's socket queues hold 1–3 messages per socket (`ss`), so the waiting is in the hub → socket queues (512 messages each, about 5 s at this rate before the hub starts dropping). \
Messages are not lost while the room keeps up with its broker channel; when a room falls more than 1024 payloads behind it, whole messages are dropped for every receiver (\"broker subscriber fell behind\"), which happened in passes during which other processes took most of a core.
";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let o = Options::parse()?;
    let need = o.clients as u64 + 128;
    let limit = bench::open_files_limit();
    if limit < need {
        return Err(format!(
            "open files limit {limit} < {need}: raise it (`ulimit -n 4096`) and run again"
        )
        .into());
    }
    let mut passes = Vec::new();
    let mut skipped = Vec::new();
    for broker in &o.brokers {
        if !redis_up(broker) {
            eprintln!(
                "{broker} does not answer; skipping that pass (scripts/services.sh starts Redis)"
            );
            skipped.push(broker.clone());
            continue;
        }
        bench::wait_for_quiet(QUIET_CPU, QUIET_WAIT).await;
        let p = pass(&o, broker).await?;
        eprintln!(
            "[{}] delivered {}/{} lost {} dup {} p50 {:.1} p95 {:.1} p99 {:.1} max {:.0} ms; server CPU {:.0}%, loadgen CPU {:.0}%, others {:.0}%, RSS peak {:.0} MiB; queue-full drops {}, broker lag lines {}",
            p.broker, p.delivered, p.expected, p.lost, p.duplicates, p.latency[0], p.latency[1], p.latency[2], p.latency[3],
            p.server_cpu, p.loadgen_cpu, p.other_cpu, p.rss_peak_mb, p.queue_full_drops, p.broker_lag_lines
        );
        eprintln!("[{}] other frames: {:?}", p.broker, p.other);
        for e in p.errors.iter().take(10) {
            eprintln!("[{}] error frame: {e}", p.broker);
        }
        passes.push(p);
    }
    if passes.is_empty() {
        return Err("no pass ran".into());
    }
    let mut t = table(&o, &passes);
    if !skipped.is_empty() {
        t += &format!("\nNot run (not reachable): {}.\n", skipped.join(", "));
    }
    println!("{t}");
    if o.write {
        report::write_section("Classroom WebSocket", &o.command(), &t)?;
    }
    let failed: Vec<&Pass> = passes
        .iter()
        .filter(|p| p.lost > 0 || p.duplicates > 0)
        .collect();
    if !failed.is_empty() {
        return Err(format!(
            "messages lost or duplicated with {}",
            failed
                .iter()
                .map(|p| p.broker.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
        .into());
    }
    Ok(())
}

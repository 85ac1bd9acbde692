//! Shared by the load benchmarks (ws_bench, class_bench): a release
//! `classcast serve` as a child process, /proc readings of it and of the
//! machine, waiting for a quiet machine, percentiles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error>;

/// The classcast binary: `chosen`, else `classcast` beside this example's
/// directory (target/release/examples/X → target/release/classcast), so a
/// shared CARGO_TARGET_DIR still runs the binary built with the example.
pub fn classcast_bin(chosen: Option<&Path>) -> Result<PathBuf, Error> {
    if let Some(bin) = chosen {
        return Ok(bin.to_owned());
    }
    let exe = std::env::current_exe()?;
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("classcast"))
        .ok_or("no target directory")?;
    if !bin.exists() {
        return Err(format!(
            "{} is missing: cargo build --release --bin classcast",
            bin.display()
        )
        .into());
    }
    Ok(bin)
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16, Error> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `classcast serve` under test, killed on drop; its data directory is a
/// temporary one, removed with it.
pub struct Server {
    child: Child,
    pub pid: String,
    pub port: u16,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// The server's stderr (its log).
    pub stderr: PathBuf,
    data: tempfile::TempDir,
}

impl Server {
    /// Starts `bin serve` on a free port with the benchmarks' JWT secret, a
    /// fresh data directory, `args` and the environment `envs`.
    pub fn start(bin: &Path, args: &[&str], envs: &[(&str, &str)]) -> Result<Self, Error> {
        let port = free_port()?;
        let data = tempfile::tempdir()?;
        let stderr_path = data.path().join("server.log");
        let stderr = std::fs::File::create(&stderr_path)?;
        let child = Command::new(bin)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--jwt-secret", super::report::SECRET, "--data-dir"])
            .arg(data.path().join("data"))
            .args(args)
            // The default log filter, as deployed, unless `envs` sets one.
            .env_remove("RUST_LOG")
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("{}: {e}", bin.display()))?;
        Ok(Server {
            pid: child.id().to_string(),
            child,
            port,
            base: format!("http://127.0.0.1:{port}"),
            stderr: stderr_path,
            data,
        })
    }

    /// The server's `--data-dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    /// An error if the server process has exited.
    pub fn alive(&mut self) -> Result<(), Error> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => Err(format!("classcast exited: {status}").into()),
        }
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A field of /proc/<pid>/status in kB (VmRSS, VmHWM).
pub fn status_kb(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user + system + irq) spent by the whole machine so far.
pub fn machine_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum::<f64>()
        / 100.0
}

/// Waits (up to `limit`) until the rest of the machine uses less than
/// `quiet_cpu` of a core over 3 s: other work on the 2 cores skews the
/// figures. Returns the last reading (fraction of a core).
pub async fn wait_for_quiet(quiet_cpu: f64, limit: Duration) -> f64 {
    let started = Instant::now();
    loop {
        let (m0, s0) = (machine_cpu_seconds(), super::report::cpu_seconds("self"));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let busy = (machine_cpu_seconds() - m0 - (super::report::cpu_seconds("self") - s0)) / 3.0;
        if busy < quiet_cpu {
            return busy;
        }
        if started.elapsed() > limit {
            eprintln!(
                "the machine is still busy ({:.0} % of a core); measuring anyway",
                busy * 100.0
            );
            return busy;
        }
        eprintln!(
            "waiting for a quiet machine (others use {:.0} % of a core)",
            busy * 100.0
        );
    }
}

/// The soft limit on open files of this process.
pub fn open_files_limit() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(u64::MAX)
}

/// The `p` quantile of sorted µs values, in ms (NaN when empty).
pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
}

/// The `p` quantile of `xs` (sorted in place; NaN when empty).
pub fn percentile_f(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    if xs.is_empty() {
        return f64::NAN;
    }
    let idx = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[idx.min(xs.len() - 1)]
}

//! Shared by the benchmark examples: BENCHMARKS.md sections and CPU readings.
#![allow(dead_code)]

/// Replaces (or appends) one `## title` section of BENCHMARKS.md.
pub fn write_section(title: &str, command: &str, table: &str) -> std::io::Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| "# Benchmarks\n\nFigures from this repository's benchmark commands, on the CI machine size (2 cores).\n".into());
    let heading = format!("## {title}");
    let date = classcast::time::rfc3339(classcast::time::now_ms());
    let section = format!(
        "{heading}\n\nCommand: `{command}` ({date}, {} cores)\n\n{table}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    let new = match old.find(&heading) {
        Some(start) => {
            let rest = &old[start + heading.len()..];
            let end = rest
                .find("\n## ")
                .map(|i| start + heading.len() + i + 1)
                .unwrap_or(old.len());
            format!("{}{section}\n{}", &old[..start], &old[end..])
        }
        None => format!(
            "{}\n{section}",
            old.trim_end_matches('\n').to_owned() + "\n"
        ),
    };
    std::fs::write(path, new)
}

/// CPU seconds (user + system) used so far by process `pid` ("self" for us).
pub fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ")".
    (ticks(11) + ticks(12)) / 100.0
}

/// Starts `classcast serve` in this process on `port` with `data_dir` and
/// `extra` flags (the benchmark's secret included).
pub fn serve_in_process(port: u16, data_dir: &std::path::Path, extra: &[&str]) {
    use clap::Parser;
    let listen = format!("127.0.0.1:{port}");
    let data = data_dir.display().to_string();
    let mut argv = vec![
        "classcast",
        "serve",
        "--listen",
        &listen,
        "--data-dir",
        &data,
    ];
    argv.extend(["--jwt-secret", SECRET]);
    argv.extend(extra);
    let cli = classcast::cli::Cli::parse_from(argv);
    let classcast::cli::Command::Serve(args) = cli.command else {
        unreachable!("parsed a serve command")
    };
    let config = classcast::server::Config::try_from(&*args).expect("valid serve flags");
    tokio::spawn(classcast::server::serve(config));
}

/// The JWT secret both benchmarks start their server with.
pub const SECRET: &str = "classcast-bench-secret-0123456789";

/// Waits for the server at `base` to answer, then creates a session with an
/// instructor token. Returns (token, session id).
pub async fn bench_session(
    http: &reqwest::Client,
    base: &str,
) -> Result<(String, String), Box<dyn std::error::Error>> {
    for _ in 0..100 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token =
        classcast::auth::Keys::hs256(SECRET.as_bytes()).sign(&classcast::auth::Claims::new(
            "bench",
            "Bench",
            classcast::auth::Role::Instructor,
            None,
            std::time::Duration::from_secs(3600),
        ))?;
    let session: serde_json::Value = http
        .post(format!("{base}/api/sessions"))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "title": "bench" }))
        .send()
        .await?
        .json()
        .await?;
    let id = session["id"].as_str().ok_or("no session id")?.to_owned();
    Ok((token, id))
}

/// `GET /api/sessions/{id}` as JSON.
pub async fn session_view(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    id: &str,
) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    Ok(http
        .get(format!("{base}/api/sessions/{id}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

/// The repository (where the benches find their tools and scripts).
pub fn manifest() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A token signed with the benches' secret; `session` names the session a
/// student's token is for (the access policy requires it), `None` an
/// instructor's for any of theirs.
pub fn token(
    sub: &str,
    role: classcast::auth::Role,
    session: Option<&str>,
) -> Result<String, Box<dyn std::error::Error>> {
    Ok(
        classcast::auth::Keys::hs256(SECRET.as_bytes()).sign(&classcast::auth::Claims::new(
            sub,
            sub,
            role,
            session.map(str::to_owned),
            std::time::Duration::from_secs(6 * 3600),
        ))?,
    )
}

/// The janus-fanout tools: FANOUT_TOOLS, else `shared/` beside the
/// repository (a clone) or beside its parent folder (a worktree).
pub fn fanout_tools() -> Result<std::path::PathBuf, Box<dyn std::error::Error>> {
    if let Some(dir) = std::env::var_os("FANOUT_TOOLS") {
        return Ok(dir.into());
    }
    let m = manifest();
    [m.join("../shared"), m.join("../../shared")]
        .iter()
        .map(|s| s.join("tools/janus-fanout"))
        .find(|d| d.join("viewers.py").exists())
        .ok_or_else(|| "no ../shared/tools/janus-fanout/viewers.py: set FANOUT_TOOLS".into())
}

//! Shared test helpers: databases, the in-process app, the server binary on a
//! free port, tokens, and the external publishing clients.
#![allow(dead_code)]

pub mod s3;

/// Runs one test body against each database backend.
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($name:ident => $body:expr;)*) => {
        $(
            mod $name {
                use super::*;
                #[tokio::test]
                async fn sqlite() {
                    let app = TestApp::new(Backend::Sqlite).await;
                    ($body)(&app).await;
                    app.cleanup().await;
                }
                #[tokio::test]
                async fn postgres() {
                    let app = TestApp::new(Backend::Postgres).await;
                    ($body)(&app).await;
                    app.cleanup().await;
                }
            }
        )*
    };
}

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode};
use classcast::auth::{AuthConfig, Claims, KeySource, Keys, Role};
use classcast::control::broker::BrokerConfig;
use classcast::db::Db;
use classcast::egress::EgressConfig;
use classcast::http::serve::ConnLimits;
use classcast::http::state::AppState;
use classcast::http::{RateConfig, RateSpec};
use classcast::ingest::IngestConfig;
use classcast::server::{Config, HlsSetup, HttpConfig, Services, Site};
use classcast::storage::StorageConfig;
use tower::ServiceExt;

pub const SECRET: &str = "classcast-test-secret-0123456789";
/// PostgreSQL for tests; trust auth on CI, password on a machine set up by
/// scripts/services.sh.
pub fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/test".into())
}

pub fn keys() -> Keys {
    Keys::hs256(SECRET.as_bytes())
}

pub fn token(role: Role, user: &str, session: Option<&str>) -> String {
    keys()
        .sign(&Claims::new(
            user,
            user,
            role,
            session.map(str::to_owned),
            Duration::from_secs(3600),
        ))
        .expect("sign")
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated database: a temporary SQLite file, or a schema of its own
/// in the PostgreSQL test database.
pub struct TestDb {
    pub url: String,
    pub db: Db,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
                None,
            ),
            Backend::Postgres => {
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = Db::connect(&pg_admin_url())
                    .await
                    .expect("PostgreSQL on 127.0.0.1:5432 (run scripts/services.sh)");
                sqlx::query(&format!("CREATE SCHEMA {schema}"))
                    .execute(admin.pool())
                    .await
                    .expect("create schema");
                admin.close().await;
                let sep = if pg_admin_url().contains('?') {
                    '&'
                } else {
                    '?'
                };
                (
                    format!("{}{sep}options=-csearch_path%3D{schema}", pg_admin_url()),
                    Some(schema),
                )
            }
        };
        let db = Db::connect(&url).await.expect("connect");
        db.migrate().await.expect("migrate");
        TestDb {
            url,
            db,
            schema,
            _dir: dir,
        }
    }

    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some(schema) = self.schema {
            if let Ok(admin) = Db::connect(&pg_admin_url()).await {
                let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                    .execute(admin.pool())
                    .await;
                admin.close().await;
            }
        }
    }
}

/// The application in-process, for API tests without sockets.
pub struct TestApp {
    pub state: AppState,
    pub db: TestDb,
    services: Services,
}

/// The server's configuration for an in-process app on `db`: local storage in
/// its directory, an in-process broker, no retention task (tests prune by
/// hand), the test secret.
fn test_config(db: &TestDb) -> Config {
    Config {
        data_dir: db._dir.path().to_path_buf(),
        database_url: db.url.clone(),
        auth: AuthConfig {
            keys: KeySource::Secret(SECRET.into()),
            ..AuthConfig::default()
        },
        storage: StorageConfig {
            playback_url_ttl: Duration::from_secs(3600),
            ..StorageConfig::default()
        },
        retention: None,
        min_free_disk: 0,
        ingest: IngestConfig::default(),
        egress: EgressConfig {
            // As the spawned servers read it (clap's env).
            forward: (std::env::var("CLASSCAST_WEBRTC_EGRESS").as_deref() != Ok("pipeline"))
                .then(Default::default),
            ..EgressConfig::default()
        },
        broker: BrokerConfig::Local,
        site: Site {
            listen: "127.0.0.1:9".parse().expect("address"),
            public_url: Some("http://127.0.0.1:9".into()),
            instance: Some("test".into()),
        },
        hls: HlsSetup {
            enabled: true,
            ladder: None,
        },
        demo: false,
        http: HttpConfig {
            max_sdp_bytes: 64 * 1024,
            max_webrtc_viewers: 50,
            max_sessions_per_instructor: 50,
            player_dir: repo_root().join("player/dist"),
            metrics_token: None,
            rate: RateConfig {
                per_ip: RateSpec(None),
                per_user: RateSpec(None),
                auth_failures: RateSpec(None),
                invite_redeems: RateSpec(None),
                position_writes: RateSpec(None),
                trust_forwarded_for: false,
            },
            connections: ConnLimits {
                header_timeout: Duration::from_secs(10),
                body_timeout: Duration::from_secs(30),
                max_connections: 0,
                max_per_ip: 0,
            },
        },
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl TestApp {
    pub async fn new(backend: Backend) -> Self {
        let db = TestDb::new(backend).await;
        let services = Services::start(&test_config(&db))
            .await
            .expect("services start");
        TestApp {
            state: services.state.clone(),
            services,
            db,
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let response = classcast::app(self.state.clone())
            .oneshot(req.body(body.into()).expect("request"))
            .await
            .expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 10 << 20)
            .await
            .expect("body");
        Reply {
            status,
            headers,
            body,
        }
    }

    /// A request without a body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>) -> Reply {
        self.request(method, path, token, None, "").await
    }

    pub async fn create_session(&self, token: &str, title: &str) -> String {
        let r = self
            .request(
                Method::POST,
                "/api/sessions",
                Some(token),
                Some("application/json"),
                serde_json::json!({ "title": title }).to_string(),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
        r.json()["id"].as_str().expect("id").to_owned()
    }

    pub async fn cleanup(self) {
        self.services.shutdown().await;
        self.db.cleanup().await;
    }
}

/// The `classcast` binary, serving on a free loopback port with its own data
/// directory. Killed when dropped.
pub struct ServerProcess {
    pub url: String,
    pub data_dir: PathBuf,
    child: Child,
    _dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    pub fn start(extra_args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data_dir = dir.path().to_path_buf();
        let mut s = Self::spawn(&data_dir, extra_args, None);
        s._dir = Some(dir);
        s
    }

    /// Starts on an existing data directory (restart tests).
    pub fn start_in(data_dir: &Path, extra_args: &[&str]) -> Self {
        Self::spawn(data_dir, extra_args, None)
    }

    /// Starts with its log (stderr) written to `log`, at `info`.
    pub fn start_logged(extra_args: &[&str], log: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Self::spawn(dir.path(), extra_args, Some(log));
        s._dir = Some(dir);
        s
    }

    fn spawn(data_dir: &Path, extra_args: &[&str], log: Option<&Path>) -> Self {
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("log file")),
            None => Stdio::inherit(),
        };
        let rust_log = match log {
            Some(_) => "info".to_owned(),
            None => std::env::var("RUST_LOG").unwrap_or_else(|_| {
                "info,gstreamer=error,gstreamer::utilsrs-stream-producer=off".into()
            }),
        };
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_classcast"));
        cmd.arg("serve")
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--player-dir"])
            .arg(repo_root().join("player/dist"));
        if !extra_args.contains(&"--ladder") {
            cmd.arg("--ladder").arg(test_ladder());
        }
        let mut child = cmd
            .args(extra_args)
            .env("CLASSCAST_JWT_SECRET", SECRET)
            // Every test client is 127.0.0.1 with a few user ids: the
            // per-address and per-user limits are off unless a test's flags
            // (which win over these) set them (tests/http_limits.rs).
            .env("CLASSCAST_RATE_LIMIT_IP", "off")
            .env("CLASSCAST_RATE_LIMIT_USER", "off")
            .env("CLASSCAST_RATE_LIMIT_AUTH_FAILURES", "off")
            .env("CLASSCAST_RATE_LIMIT_INVITE_REDEEMS", "off")
            .env("CLASSCAST_RATE_LIMIT_POSITION_WRITES", "off")
            .env("CLASSCAST_MAX_CONNECTIONS_PER_IP", "0")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start classcast");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("classcast listening on ") {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url.trim().to_owned());
                    }
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server did not start within 30 s");
        ServerProcess {
            url,
            data_dir: data_dir.to_path_buf(),
            child,
            _dir: None,
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit by itself; whether it did within `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running (it has not exited or crashed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The data directory outlives the process (restart tests).
    pub fn keep_data_dir(&mut self) -> tempfile::TempDir {
        self._dir.take().expect("data dir owned by this server")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The ladder the test servers run: `pipelines/ladder.toml`'s rungs with
/// faster presets, so a 2-core machine that also runs the test's publisher
/// keeps it in real time (a test that is about the presets passes `--ladder`).
pub fn test_ladder() -> PathBuf {
    repo_root().join("pipelines").join("ladder-test.toml")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

pub async fn create_session(base: &str, token: &str, title: &str) -> String {
    session_with(base, token, serde_json::json!({ "title": title })).await
}

/// A session made from a whole request body (cap, guests, recording…).
pub async fn session_with(base: &str, token: &str, body: serde_json::Value) -> String {
    let r = http()
        .post(format!("{base}/api/sessions"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("POST /api/sessions");
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").to_owned()
}

pub async fn get_session(base: &str, token: &str, id: &str) -> serde_json::Value {
    http()
        .get(format!("{base}/api/sessions/{id}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET session")
        .json()
        .await
        .expect("json")
}

/// `GET /api/sessions/{id}/viewers` as `token` sees it.
pub async fn get_viewers(base: &str, token: &str, id: &str) -> serde_json::Value {
    http()
        .get(format!("{base}/api/sessions/{id}/viewers"))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET viewers")
        .json()
        .await
        .expect("json")
}

/// The GStreamer test pattern (H.264, 30 fps) at `width`x`height`, published
/// into session `id` as `token`.
pub fn test_pattern(
    base: &str,
    id: &str,
    token: &str,
    width: u32,
    height: u32,
) -> classcast::client::WhipClientOptions {
    classcast::client::WhipClientOptions {
        whip_url: format!("{base}/whip/{id}"),
        token: token.to_owned(),
        codec: classcast::media::VideoCodecPref::H264,
        width,
        height,
        fps: 30,
    }
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A client process (Chromium driver, aiortc) whose stdout is JSON lines.
pub struct ClientProcess {
    child: Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl ClientProcess {
    fn spawn(mut cmd: Command, what: &str) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {what} ({e}); run scripts/install-deps.sh test")
            });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        ClientProcess { child, lines }
    }

    /// Headless Chromium publishing from the publisher page for `seconds`.
    pub fn chromium(page_url: &str, seconds: u32, codec: &str) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(repo_root().join("tests/browser"))
            .arg("publish.mjs")
            .args([
                "--page",
                page_url,
                "--seconds",
                &seconds.to_string(),
                "--codec",
                codec,
            ]);
        Self::spawn(cmd, "node tests/browser/publish.mjs")
    }

    /// Headless Chromium playing the HLS watch page and switching levels.
    pub fn watcher(page_url: &str) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(repo_root().join("tests/browser"))
            .arg("watch.mjs")
            .args(["--page", page_url, "--switch-levels"]);
        Self::spawn(cmd, "node tests/browser/watch.mjs")
    }

    /// aiortc publishing over WHIP for `seconds`.
    pub fn aiortc(whip_url: &str, token: &str, codec: &str, seconds: u32, extra: &[&str]) -> Self {
        let python = repo_root().join("target/pyenv/bin/python");
        let mut cmd = Command::new(python);
        cmd.arg(repo_root().join("tests/python/whip_publish.py"))
            .args(["--whip", whip_url, "--token", token, "--codec", codec])
            .args(["--seconds", &seconds.to_string()])
            .args(extra);
        Self::spawn(cmd, "target/pyenv/bin/python tests/python/whip_publish.py")
    }

    /// Headless Chromium viewing over WHEP (tests/browser/view.mjs).
    pub fn chromium_viewer(whep_url: &str, token: &str, extra: &[&str]) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(repo_root().join("tests/browser"))
            .arg("view.mjs")
            .args(["--url", whep_url, "--token", token])
            .args(extra);
        Self::spawn(cmd, "node tests/browser/view.mjs")
    }

    /// aiortc viewing over WHEP (tests/python/whep_view.py).
    pub fn aiortc_viewer(whep_url: &str, token: &str, seconds: u32, extra: &[&str]) -> Self {
        let python = repo_root().join("target/pyenv/bin/python");
        let mut cmd = Command::new(python);
        cmd.arg(repo_root().join("tests/python/whep_view.py"))
            .args(["--url", whep_url, "--token", token])
            .args(["--seconds", &seconds.to_string()])
            .args(extra);
        Self::spawn(cmd, "target/pyenv/bin/python tests/python/whep_view.py")
    }

    /// A scenario of the web app's browser tests (`tests/browser/web/{file}`)
    /// against the server at `base`; its flags follow (`--name value`).
    pub fn web_scenario(file: &str, base: &str, flags: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new("node");
        cmd.current_dir(repo_root().join("tests/browser/web"))
            .arg(file)
            .args(["--base", base]);
        for (name, value) in flags {
            cmd.arg(format!("--{name}")).arg(value);
        }
        Self::spawn(cmd, &format!("node tests/browser/web/{file}"))
    }

    /// Waits for the scenario's `done` line and a clean exit.
    pub fn finish(mut self, limit: Duration) {
        self.expect_event("done", limit);
        self.wait_success(Duration::from_secs(20));
    }

    /// The next line whose `event` is `event`; panics on an `error` line.
    pub fn expect_event(&self, event: &str, limit: Duration) -> serde_json::Value {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {event:?} event within {limit:?}"));
            match v["event"].as_str() {
                Some(e) if e == event => return v,
                Some("error") => panic!("client failed: {v}"),
                _ => {}
            }
        }
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn wait_success(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "client exited with {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "client still running after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// moto's AWS-compatible server (S3 and CloudFront) on a loopback port, from
/// the test venv (`scripts/install-deps.sh test`). Killed when dropped; state is
/// in memory, so a restart starts empty.
pub struct MotoServer {
    pub endpoint: String,
    pub port: u16,
    child: Option<Child>,
}

impl MotoServer {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut s = MotoServer {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child: None,
        };
        s.restart();
        s
    }

    /// (Re)starts the server on the same port.
    pub fn restart(&mut self) {
        self.stop();
        let bin = repo_root().join("target/pyenv/bin/moto_server");
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &self.port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (scripts/install-deps.sh test)", bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server: the store is down until `restart`.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

//! Helpers for the end-to-end login tests (`tests/login.rs`, `tests/keyring_cli.rs`): a
//! config pointing at the fake Kakao server, `kbot` processes read while they run, a
//! browser's GETs on loopback, and a seeded or inspected file store.
//!
//! Owns helpers only; no test lives here. I/O: child processes, loopback TCP, temp dirs.
#![allow(dead_code)] // each test crate uses a different subset

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use kbot::secrets::{Store, StoreKind, Tokens};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::common::{TestEnv, pages_dir, source_block};
use crate::support::fake_kakao::FakeKakao;
use crate::support::fake_kakao::oauth::TOKEN_PATH;

/// The fake's default client_id (the REST API key).
pub const CLIENT_ID: &str = "fake-rest-api-key";

/// How long a kbot process may take to reach a point the test waits for. Generous: the
/// machine is shared; a healthy run takes milliseconds.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A day, for moving the fake's clock.
pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A free loopback port for a redirect URI (bound and released at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A loopback redirect URI on a free port, registered with the fake.
pub fn loopback_redirect(fake: &FakeKakao) -> String {
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    register(fake, &redirect);
    redirect
}

pub fn register(fake: &FakeKakao, redirect_uri: &str) {
    let redirect = redirect_uri.to_string();
    fake.configure(move |c| c.redirect_uris = vec![redirect]);
}

/// A complete config: both Kakao hosts on the fake, `store`, a lunch and dinner schedule
/// and a saved page as the source.
pub fn write_config(env: &TestEnv, fake: &FakeKakao, redirect_uri: &str, store: &str) {
    write_config_with(env, fake, redirect_uri, store, "");
}

pub fn write_config_with(
    env: &TestEnv,
    fake: &FakeKakao,
    redirect_uri: &str,
    store: &str,
    extra: &str,
) {
    let page = pages_dir().join("jbnu-jinsuwon-2023-04-10.html");
    let client_id = fake.config().client_id;
    env.write_config(&format!(
        "timezone = \"Asia/Seoul\"\n\
         [kakao]\nclient_id = {client_id:?}\nredirect_uri = {redirect_uri:?}\n\
         auth_url = {url:?}\napi_url = {url:?}\n\
         [secrets]\nstore = {store:?}\n\
         [schedule]\nlunch = \"30 11 * * Mon-Fri\"\ndinner = \"0 17 * * Mon-Fri\"\n\
         {extra}\n{}",
        source_block("진수원", &page, "table.tblType03", ""),
        url = fake.url(),
    ));
}

/// A kbot process whose stdout is read line by line while it runs.
pub struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    stderr: Option<JoinHandle<String>>,
}

/// What a finished kbot process left behind.
#[derive(Debug)]
pub struct Finished {
    /// The exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// All of stdout.
    pub stdout: String,
    /// All of stderr.
    pub stderr: String,
}

impl Finished {
    /// stdout and stderr together, for "never shows" checks.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    pub fn assert_success(&self) {
        assert_eq!(self.code, Some(0), "kbot failed:\n{self:#?}");
    }

    /// The exit code and the `kbot: error:` / `hint:` lines a user sees.
    pub fn assert_error(&self, code: i32, error: &str, hint: &str) {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert!(
            self.stderr
                .lines()
                .any(|l| l.starts_with("kbot: error: ") && l.contains(error)),
            "no `kbot: error:` line containing {error:?}:\n{}",
            self.stderr
        );
        assert!(
            self.stderr
                .lines()
                .any(|l| l.starts_with("hint: ") && l.contains(hint)),
            "no `hint:` line containing {hint:?}:\n{}",
            self.stderr
        );
    }
}

/// Start `kbot ARGS` in `env` (its cleared environment plus `extra_env`), stdin and
/// stdout piped.
pub fn spawn(env: &TestEnv, args: &[&str], extra_env: &[(&str, &str)]) -> Running {
    let template = env.kbot();
    let mut cmd = std::process::Command::new(template.get_program());
    spawn_command(env, &mut cmd, args, extra_env)
}

/// [`spawn`] with at most `max_files` open file descriptors (`ulimit -n`).
#[cfg(unix)]
pub fn spawn_with_fd_limit(env: &TestEnv, max_files: u32, args: &[&str]) -> Running {
    let template = env.kbot();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {max_files} && exec \"$0\" \"$@\""))
        .arg(template.get_program());
    spawn_command(env, &mut cmd, args, &[])
}

fn spawn_command(
    env: &TestEnv,
    cmd: &mut std::process::Command,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Running {
    let template = env.kbot();
    cmd.env_clear();
    for (key, value) in template.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    for (key, value) in extra_env {
        cmd.env(key, value);
    }
    if let Some(dir) = template.get_current_dir() {
        cmd.current_dir(dir);
    }
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kbot");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.stderr.take().expect("piped stderr");
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    Running {
        child,
        lines,
        stdout: Vec::new(),
        stderr: Some(stderr),
    }
}

/// Run `kbot ARGS` to the end with stdin closed.
pub fn run(env: &TestEnv, args: &[&str], extra_env: &[(&str, &str)]) -> Finished {
    let mut running = spawn(env, args, extra_env);
    drop(running.child.stdin.take());
    running.finish()
}

impl Running {
    /// Wait for the first stdout line that starts with `prefix` (the process still runs).
    pub fn line_starting(&mut self, prefix: &str) -> String {
        if let Some(line) = self.stdout.iter().find(|l| l.starts_with(prefix)) {
            return line.clone();
        }
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let done = self.wait();
                    panic!("kbot printed no line starting with {prefix:?}:\n{done:#?}");
                }
            }
        }
    }

    /// The authorize link `kbot login` prints on a line of its own.
    pub fn authorize_url(&mut self) -> Url {
        let line = self.line_starting("http");
        let url = Url::parse(&line).expect("the link's line is exactly a URL");
        assert_eq!(url.path(), "/oauth/authorize", "{url}");
        url
    }

    pub fn stdin(&mut self) -> &mut ChildStdin {
        self.child.stdin.as_mut().expect("piped stdin")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the exit (killing it after [`PATIENCE`]) and collect its output.
    pub fn finish(mut self) -> Finished {
        self.wait()
    }

    pub fn wait(&mut self) -> Finished {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            match self.child.try_wait().expect("poll kbot") {
                Some(status) => break status,
                None if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    break self.child.wait().expect("reap kbot");
                }
                None => std::thread::sleep(Duration::from_millis(2)),
            }
        };
        // The reader thread ends at EOF, which comes with the exit.
        while let Ok(line) = self.lines.recv_timeout(PATIENCE) {
            self.stdout.push(line);
        }
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        Finished {
            code: status.code(),
            stdout: self.stdout.join("\n"),
            stderr,
        }
    }
}

/// A minimal HTTP/1.1 GET over a fresh loopback connection, as a browser tab would send
/// it: the status code, the `Location` header and the body.
pub fn http_get(url: &str) -> (u16, Option<String>, String) {
    let url = Url::parse(url).expect("an absolute URL");
    assert_eq!(
        url.host_str(),
        Some("127.0.0.1"),
        "tests only talk to loopback"
    );
    let port = url.port_or_known_default().expect("a port");
    let mut target = url.path().to_string();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to loopback");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let location = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("location")
            .then(|| value.trim().to_string())
    });
    (status, location, body.to_string())
}

/// What a browser does with the printed link: GET it from the fake (Kakao answers 302),
/// then follow the redirect to kbot's listener. Returns the listener's status and page.
pub fn browse(authorize_url: &Url) -> (u16, String) {
    let (status, location, body) = http_get(authorize_url.as_str());
    assert_eq!(status, 302, "the fake did not redirect: {body}");
    let location = location.expect("a 302 has a Location");
    let (status, _, page) = http_get(&location);
    (status, page)
}

/// Where the fake's consent step sends the browser, without following it.
pub fn redirect_location(fake: &FakeKakao, authorize_url: &Url) -> String {
    fake.visit_authorize(authorize_url.as_str())
        .unwrap_or_else(|koe| panic!("the fake refused the link with {koe}"))
}

/// The same URL with one query parameter replaced.
pub fn with_param(url: &str, name: &str, value: &str) -> String {
    let mut url = Url::parse(url).expect("a URL");
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .map(|(k, v)| {
            if k == name {
                (k, value.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

pub fn now() -> DateTime<Utc> {
    kbot::clock::Clock::now(&kbot::clock::SystemClock)
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

pub fn file_store(env: &TestEnv) -> Store {
    Store::new(StoreKind::File, &env.data_dir(), CLIENT_ID)
}

/// A login as `kbot login` leaves it in the file store: tokens the fake issued, the access
/// token expiring `at_in` from now (negative: already expired), the refresh token `rt_in`.
pub fn seed(env: &TestEnv, fake: &FakeKakao, at_in: TimeDelta, rt_in: TimeDelta) -> Tokens {
    let issued = fake.issue_tokens();
    let tokens = Tokens {
        refresh_token: issued.refresh_token.into(),
        refresh_token_expires_at: Some(now() + rt_in),
        access_token: Some(issued.access_token.into()),
        access_token_expires_at: Some(now() + at_in),
        scopes: vec!["talk_message".into(), "friends".into()],
        client_secret: None,
        nickname: Some("홍길동".into()),
    };
    block_on(file_store(env).save(&tokens)).expect("seed the file store");
    kbot::secrets::remember(&env.data_dir(), StoreKind::File).expect("remember the store");
    tokens
}

/// What the file store holds now.
pub fn stored(env: &TestEnv) -> Option<Tokens> {
    block_on(file_store(env).load()).expect("read the file store")
}

pub fn secret(s: &SecretString) -> String {
    s.expose_secret().to_string()
}

pub fn access_of(tokens: &Tokens) -> String {
    tokens.access_token.as_ref().map(secret).unwrap_or_default()
}

/// The refresh tokens kbot presented to the token endpoint, in order.
pub fn refresh_tokens_sent(fake: &FakeKakao) -> Vec<String> {
    fake.requests_to(TOKEN_PATH)
        .iter()
        .filter(|r| r.form_field("grant_type") == Some("refresh_token"))
        .filter_map(|r| r.form_field("refresh_token").map(str::to_string))
        .collect()
}

/// The bearer tokens of the calls to `path`, in order.
pub fn bearers(fake: &FakeKakao, path: &str) -> Vec<String> {
    fake.requests_to(path)
        .iter()
        .filter_map(|r| {
            r.authorization
                .as_deref()?
                .strip_prefix("Bearer ")
                .map(str::to_string)
        })
        .collect()
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A friend so `kbot friends` has something to show.
pub fn with_friend(fake: &FakeKakao) {
    fake.add_friend("uuid-seoyeon", "이서연", true);
}

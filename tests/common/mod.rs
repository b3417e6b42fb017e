//! The end-to-end test environment: the real `kbot` binary with a cleared environment,
//! its own temporary config and data directories, and helpers to read fixture pages.
#![allow(dead_code)] // each test crate uses a different subset

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// A temporary home for one kbot invocation (or several that share state).
pub struct TestEnv {
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        TestEnv {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn config_path(&self) -> PathBuf {
        self.path("config.toml")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.path("data")
    }

    /// Write `config.toml` and return its path.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let path = self.config_path();
        std::fs::write(&path, text).expect("write config");
        path
    }

    /// `kbot` with nothing inherited but PATH: config, data and XDG dirs point into the temp dir.
    pub fn kbot(&self) -> Command {
        let mut cmd = Command::cargo_bin("kbot").expect("kbot binary");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.path("xdg-config"))
            .env("XDG_DATA_HOME", self.path("xdg-data"))
            .env("KBOT_CONFIG", self.config_path())
            .env("KBOT_DATA_DIR", self.data_dir())
            .current_dir(self.dir.path());
        cmd
    }
}

/// The directory of saved pages and their ground truth.
pub fn pages_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pages")
}

/// A `[[source]]` block for a saved page.
pub fn source_block(name: &str, page: &Path, table: &str, extra: &str) -> String {
    format!(
        "[[source]]\nname = {name:?}\nurl = {:?}\ntable = {table:?}\n{extra}\n",
        url::Url::from_file_path(page)
            .expect("absolute path")
            .to_string()
    )
}

/// Parse stdout as JSON.
pub fn json(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// The `[kakao]` section pointing both hosts at a fake server, with the file store.
pub fn kakao_section(base_url: &str, client_id: &str) -> String {
    format!(
        "[kakao]\nclient_id = {client_id:?}\nredirect_uri = \"http://localhost:8765/callback\"\nauth_url = {base_url:?}\napi_url = {base_url:?}\n[secrets]\nstore = \"file\"\n"
    )
}

/// Put a logged-in token pair in the file store of `data_dir`, as `kbot login` would.
/// `access_expires_in` may be negative to start with an expired access token.
pub fn seed_login(
    data_dir: &Path,
    client_id: &str,
    access_token: &str,
    refresh_token: &str,
    access_expires_in: chrono::Duration,
) {
    use kbot::secrets::{Store, StoreKind, Tokens};
    let now = kbot::clock::Clock::now(&kbot::clock::SystemClock);
    let tokens = Tokens {
        refresh_token: refresh_token.to_string().into(),
        refresh_token_expires_at: Some(now + chrono::Duration::days(59)),
        access_token: Some(access_token.to_string().into()),
        access_token_expires_at: Some(now + access_expires_in),
        scopes: vec!["talk_message".into(), "friends".into()],
        client_secret: None,
        nickname: Some("나".into()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::new(StoreKind::File, data_dir, client_id);
        store.save(&tokens).await.expect("seed the file store");
    });
    kbot::secrets::remember(data_dir, StoreKind::File).expect("remember the store");
}

/// Pids of the processes waiting (blocked) for an flock on the file with this inode.
#[cfg(target_os = "linux")]
pub fn flock_waiters(inode: u64) -> Vec<u32> {
    let locks =
        std::fs::read_to_string("/proc/locks").expect("/proc/locks shows who waits for a lock");
    locks
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // "7: -> FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF"
            if fields.get(1) != Some(&"->") || fields.get(2) != Some(&"FLOCK") {
                return None;
            }
            let on = fields.get(6)?.rsplit(':').next()?.parse::<u64>().ok()?;
            (on == inode).then(|| fields.get(5)?.parse().ok())?
        })
        .collect()
}

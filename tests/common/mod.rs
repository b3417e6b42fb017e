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

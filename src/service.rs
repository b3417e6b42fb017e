//! Running kbot as a service: the systemd user unit and the Windows Task Scheduler task
//! (DESIGN §6), as text, plus installing and removing them.
//!
//! Owns: the unit and task texts ([`systemd_unit`], [`task_xml`]), quoting paths for
//! systemd and for the Windows command line, the UTF-16 encoding of the task file, where
//! the files go, and the commands `kbot service install|uninstall` prints.
//!
//! Does not own: running `systemctl` or `schtasks` (kbot prints the command; the user runs
//! it, so nothing happens behind their back), sd_notify (the daemon), reading the
//! environment (the caller passes the directories in).
//!
//! I/O: the texts are pure; [`install`] writes one file atomically and [`uninstall`]
//! removes it.

use std::path::{Path, PathBuf};

use crate::error::{Exit, Report};

/// The unit (and task) name: `kbot.service`, task `\kbot`.
pub const NAME: &str = "kbot";

/// Which service manager to write for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A systemd user unit (Linux).
    Systemd,
    /// A Task Scheduler task (Windows).
    Windows,
}

impl Kind {
    /// The kind for the platform kbot was built for.
    pub fn native() -> Self {
        if cfg!(windows) {
            Kind::Windows
        } else {
            Kind::Systemd
        }
    }
}

/// Where the service files go, resolved by the caller from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// `$XDG_CONFIG_HOME`, or `~/.config` (see [`config_home`]).
    pub config_home: PathBuf,
    /// kbot's data directory (`KBOT_DATA_DIR` or the platform one).
    pub data_dir: PathBuf,
}

/// `$XDG_CONFIG_HOME` when it is set to an absolute path (the XDG spec says to ignore a
/// relative one), else `<home>/.config`. Pure: the caller reads the variable.
pub fn config_home(xdg_config_home: Option<&std::ffi::OsStr>, home: &Path) -> PathBuf {
    match xdg_config_home.map(Path::new) {
        Some(dir) if dir.is_absolute() => dir.to_path_buf(),
        _ => home.join(".config"),
    }
}

/// The unit file: `<config_home>/systemd/user/kbot.service`.
pub fn unit_path(config_home: &Path) -> PathBuf {
    config_home
        .join("systemd/user")
        .join(format!("{NAME}.service"))
}

/// The task file handed to `schtasks /Create /XML`: `<data_dir>/kbot-task.xml`.
pub fn task_path(data_dir: &Path) -> PathBuf {
    data_dir.join(format!("{NAME}-task.xml"))
}

/// Quote one word of an `ExecStart=` line. systemd splits on whitespace and honours
/// double quotes with C escapes; it expands `%` specifiers and `$` variables even inside
/// quotes, so those are doubled.
fn systemd_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@,=".contains(c));
    let mut out = String::with_capacity(word.len() + 2);
    if !plain {
        out.push('"');
    }
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    if !plain {
        out.push('"');
    }
    out
}

/// The systemd user unit that runs `<exe> --config <config> --data-dir <data_dir> daemon`.
/// The paths should be absolute (systemd requires an absolute `ExecStart`; [`install`]
/// makes them so). The data dir is written out so the daemon finds the login and ledger
/// the commands used, even when they came from `KBOT_DATA_DIR` in the user's shell.
///
/// Hardening: only settings that work in an unprivileged *user* manager. Seccomp-based
/// ones (`SystemCallArchitectures`, `MemoryDenyWriteExecute`, `LockPersonality`,
/// `RestrictRealtime`, `RestrictSUIDSGID`) need only `NoNewPrivileges`. Mount-namespace
/// ones (`PrivateTmp`, `ProtectSystem`, `ProtectHome`) need user namespaces in a user
/// unit and make the service fail to start where those are disabled, so they are left out.
pub fn systemd_unit(exe: &Path, config: &Path, data_dir: &Path) -> String {
    let exec = [
        systemd_word(&exe.to_string_lossy()),
        "--config".into(),
        systemd_word(&config.to_string_lossy()),
        "--data-dir".into(),
        systemd_word(&data_dir.to_string_lossy()),
        "daemon".into(),
    ]
    .join(" ");
    format!(
        "\
# Written by `kbot service install`; `kbot service print --systemd` shows the current text.
[Unit]
Description=kbot: cafeteria menu to KakaoTalk on a schedule
# Give up after 5 failed starts in 10 minutes instead of restarting forever.
StartLimitIntervalSec=600
StartLimitBurst=5

[Service]
# kbot tells systemd it is ready (sd_notify) once the schedule is loaded.
Type=notify
ExecStart={exec}
Restart=on-failure
RestartSec=30
# Exit 3 (not logged in, or the login was rejected: kbot login) and 4 (invalid config)
# do not heal by restarting; `systemctl --user status kbot` shows the failure instead.
RestartPreventExitStatus=3 4
# `systemctl --user reload kbot`: kbot re-reads its config on SIGHUP (a broken one is
# rejected with the reason in the journal, and the old one stays in force).
ExecReload=/bin/kill -HUP $MAINPID
# On stop, kbot finishes the Kakao call in flight and records it.
TimeoutStopSec=90
# Files kbot creates (ledger, secrets, locks) are private to the user.
UMask=0077
NoNewPrivileges=yes
LockPersonality=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
SystemCallArchitectures=native
MemoryDenyWriteExecute=yes

[Install]
WantedBy=default.target
"
    )
}

/// Escape text for XML element content (kbot puts no user text in attributes, so quotes
/// stay as they are and the command line stays readable).
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Quote one argument for a Windows command line the way `CommandLineToArgvW` and the
/// MSVC runtime read it back: backslashes are literal except before a quote.
fn windows_arg(arg: &str) -> String {
    if !arg.is_empty() && !arg.contains([' ', '\t', '\n', '"']) {
        return arg.to_string();
    }
    let mut out = String::from("\"");
    let mut backslashes = 0;
    for c in arg.chars() {
        if c == '\\' {
            backslashes += 1;
            continue;
        }
        if c == '"' {
            out.push_str(&"\\".repeat(backslashes * 2 + 1));
        } else {
            out.push_str(&"\\".repeat(backslashes));
        }
        out.push(c);
        backslashes = 0;
    }
    // Backslashes before the closing quote are doubled so they stay backslashes.
    out.push_str(&"\\".repeat(backslashes * 2));
    out.push('"');
    out
}

/// The Task Scheduler definition: at logon of `user` (any user when `None`) run
/// `<exe> --config <config> --data-dir <data_dir> daemon` hidden, with no time limit, never a second copy
/// (`IgnoreNew`), restarted every minute on failure (up to 60 times).
///
/// The text declares `encoding="UTF-16"` because `schtasks /Create /XML` reads the file
/// as UTF-16; write it with [`utf16_file`] (little-endian with a BOM), as [`install`] does.
pub fn task_xml(exe: &Path, config: &Path, data_dir: &Path, user: Option<&str>) -> String {
    let user_id = user
        .map(|u| format!("\n      <UserId>{}</UserId>", xml_escape(u)))
        .unwrap_or_default();
    let command = xml_escape(&windows_arg(&exe.to_string_lossy()));
    let arguments = xml_escape(&format!(
        "--config {} --data-dir {} daemon",
        windows_arg(&config.to_string_lossy()),
        windows_arg(&data_dir.to_string_lossy())
    ));
    format!(
        r#"<?xml version="1.0" encoding="UTF-16"?>
<!-- Written by `kbot service install`; register with: schtasks /Create /TN {NAME} /XML "<this file>" -->
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>kbot: cafeteria menu to KakaoTalk on a schedule</Description>
    <URI>\{NAME}</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>{user_id}
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">{user_id}
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>LeastPrivilege</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <AllowHardTerminate>true</AllowHardTerminate>
    <StartWhenAvailable>true</StartWhenAvailable>
    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>
    <IdleSettings>
      <StopOnIdleEnd>false</StopOnIdleEnd>
      <RestartOnIdle>false</RestartOnIdle>
    </IdleSettings>
    <AllowStartOnDemand>true</AllowStartOnDemand>
    <Enabled>true</Enabled>
    <Hidden>true</Hidden>
    <RunOnlyIfIdle>false</RunOnlyIfIdle>
    <WakeToRun>false</WakeToRun>
    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>
    <Priority>7</Priority>
    <!-- Task Scheduler has no way to leave out exit codes as systemd's
         RestartPreventExitStatus does: a restart after exit 3 (kbot login) or 4 (invalid
         config) stops at once with the same reason, and `kbot status` says so. -->
    <RestartOnFailure>
      <Interval>PT1M</Interval>
      <Count>60</Count>
    </RestartOnFailure>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{command}</Command>
      <Arguments>{arguments}</Arguments>
    </Exec>
  </Actions>
</Task>
"#
    )
}

/// `text` as UTF-16LE with a byte-order mark, the encoding `schtasks /XML` expects.
pub fn utf16_file(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    bytes
}

/// What [`install`] did and what the user still has to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The file written.
    pub path: PathBuf,
    /// Whether a previous file was replaced.
    pub replaced: bool,
    /// The command that enables the service, to print.
    pub command: String,
    /// Extra advice to print after it.
    pub notes: Vec<String>,
}

/// What [`uninstall`] did and what the user still has to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uninstalled {
    /// The file removed, or `None` if there was none.
    pub removed: Option<PathBuf>,
    /// The command that stops and forgets the service, to print.
    pub command: String,
}

/// A service install/uninstall error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be removed.
    #[error("cannot remove {}", path.display())]
    Remove {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A path could not be made absolute (the current directory is gone).
    #[error("cannot make {} absolute", path.display())]
    Absolute {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl Report for Error {
    fn exit(&self) -> Exit {
        Exit::Failure
    }

    fn hint(&self) -> Option<String> {
        match self {
            Error::Write { path, .. } | Error::Remove { path, .. } => Some(format!(
                "check the permissions of {}",
                path.parent().unwrap_or(path).display()
            )),
            Error::Absolute { .. } => Some("pass an absolute path with --config".into()),
        }
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same directory, fsync,
/// rename. A half-written unit is never seen by systemd.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let err = |source| Error::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or(NAME);
    std::fs::create_dir_all(dir).map_err(err)?;
    // The same temp-file, fsync, rename (and 0600) the secret store uses.
    crate::secrets::write_atomic(dir, name, bytes).map_err(err)
}

fn absolute(path: &Path) -> Result<PathBuf, Error> {
    std::path::absolute(path).map_err(|source| Error::Absolute {
        path: path.to_path_buf(),
        source,
    })
}

/// Write the service definition for `kind` and return the command that enables it.
/// `exe` and `config` are made absolute. systemd: `<config_home>/systemd/user/kbot.service`;
/// Windows: `<data_dir>/kbot-task.xml` (UTF-16), registered by the printed `schtasks` line.
pub fn install(kind: Kind, exe: &Path, config: &Path, dirs: &Dirs) -> Result<Installed, Error> {
    let (exe, config, data_dir) = (absolute(exe)?, absolute(config)?, absolute(&dirs.data_dir)?);
    match kind {
        Kind::Systemd => {
            let path = unit_path(&dirs.config_home);
            let replaced = path.exists();
            write_atomic(&path, systemd_unit(&exe, &config, &data_dir).as_bytes())?;
            Ok(Installed {
                path,
                replaced,
                command: format!(
                    "systemctl --user daemon-reload && systemctl --user enable --now {NAME}"
                ),
                notes: vec![
                    "to keep kbot running after you log out (and start it at boot), run once: loginctl enable-linger $USER".into(),
                    format!("logs: journalctl --user -u {NAME} -f"),
                ],
            })
        }
        Kind::Windows => {
            let path = task_path(&dirs.data_dir);
            let replaced = path.exists();
            write_atomic(
                &path,
                &utf16_file(&task_xml(&exe, &config, &data_dir, None)),
            )?;
            Ok(Installed {
                // /F replaces a task registered by an earlier install.
                command: format!("schtasks /Create /TN {NAME} /XML \"{}\" /F", path.display()),
                path,
                replaced,
                notes: vec![format!(
                    "kbot starts at your next logon; to start it now: schtasks /Run /TN {NAME}"
                )],
            })
        }
    }
}

/// Whether `systemctl --user` can reach a user manager in this session: its socket
/// `$XDG_RUNTIME_DIR/systemd/private` exists. Containers and WSL without systemd, and
/// `su`/`sudo` shells, have none.
pub fn has_user_manager(runtime_dir: Option<&Path>) -> bool {
    runtime_dir.is_some_and(|dir| dir.join("systemd/private").exists())
}

/// The advice for a session where `systemctl --user` cannot run: the unit stays written
/// (for a session that has a user manager), and the ways to run kbot here instead.
pub fn without_user_manager(installed: Installed, exe: &Path) -> Installed {
    let exe = exe.display();
    Installed {
        command: format!("tmux new-session -d -s kbot '{exe} daemon'   (or screen -dmS kbot {exe} daemon)"),
        notes: vec![
            "systemctl --user cannot run here: this session has no systemd user manager (a container, WSL without systemd, or a su/sudo shell); the unit above is for a session that has one".into(),
            format!(
                "or, as root, run it as a system service: copy {} to /etc/systemd/system/kbot.service, add User=<your user name> under [Service] and WantedBy=multi-user.target under [Install], then systemctl daemon-reload && systemctl enable --now kbot",
                installed.path.display()
            ),
            "kbot status shows whether the daemon runs and its next send".into(),
        ],
        ..installed
    }
}

/// Remove the service definition for `kind` (and systemd's enable link) and return the
/// command that stops the running service and makes the manager forget it.
pub fn uninstall(kind: Kind, dirs: &Dirs) -> Result<Uninstalled, Error> {
    let remove = |path: PathBuf| -> Result<Option<PathBuf>, Error> {
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Remove { path, source }),
        }
    };
    match kind {
        Kind::Systemd => {
            let unit = unit_path(&dirs.config_home);
            // What `systemctl --user disable` would remove; gone with the unit, so do it here.
            let wants = unit
                .parent()
                .unwrap_or(&dirs.config_home)
                .join("default.target.wants")
                .join(format!("{NAME}.service"));
            remove(wants)?;
            Ok(Uninstalled {
                removed: remove(unit)?,
                command: format!("systemctl --user stop {NAME}; systemctl --user daemon-reload"),
            })
        }
        Kind::Windows => Ok(Uninstalled {
            removed: remove(task_path(&dirs.data_dir))?,
            command: format!("schtasks /Delete /TN {NAME} /F"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWKWARD_EXE: &str = "/home/kim/My Apps & Co/kbot";
    const AWKWARD_CONFIG: &str = "/home/kim/.config/kbot/100% \"menu\" $HOME.toml";
    const WIN_EXE: &str = r"C:\Program Files\kbot & co\kbot.exe";
    const WIN_CONFIG: &str = r"C:\Users\Kim O'Brien & Lee\AppData\Roaming\kbot\config.toml";
    const WIN_DATA: &str = r"C:\Users\Kim O'Brien & Lee\AppData\Roaming\kbot";

    fn exec_start(unit: &str) -> &str {
        unit.lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .expect("an ExecStart line")
    }

    /// The unit's lines that decide how it runs; asserted whether or not systemd is here.
    fn assert_key_lines(unit: &str) {
        for line in [
            "Type=notify",
            "Restart=on-failure",
            "RestartSec=30",
            // Not logged in (3) and a bad config (4) do not heal by restarting.
            "RestartPreventExitStatus=3 4",
            // `systemctl --user reload kbot` sends SIGHUP, which re-reads the config.
            "ExecReload=/bin/kill -HUP $MAINPID",
            "NoNewPrivileges=yes",
            "WantedBy=default.target",
        ] {
            assert!(
                unit.lines().any(|l| l == line),
                "missing {line:?} in\n{unit}"
            );
        }
        for privileged in ["PrivateTmp", "ProtectSystem", "ProtectHome", "User="] {
            assert!(
                !unit.contains(privileged),
                "{privileged} does not work in a user unit"
            );
        }
    }

    #[test]
    fn systemd_unit_for_plain_paths() {
        let unit = systemd_unit(
            Path::new("/usr/local/bin/kbot"),
            Path::new("/home/kim/.config/kbot/config.toml"),
            Path::new("/home/kim/.local/share/kbot"),
        );
        assert_eq!(
            exec_start(&unit),
            "/usr/local/bin/kbot --config /home/kim/.config/kbot/config.toml --data-dir /home/kim/.local/share/kbot daemon"
        );
        assert_key_lines(&unit);
        insta::assert_snapshot!(unit);
    }

    #[test]
    fn systemd_unit_quotes_spaces_and_escapes_specifiers() {
        let unit = systemd_unit(
            Path::new(AWKWARD_EXE),
            Path::new(AWKWARD_CONFIG),
            Path::new("/srv/kbot data"),
        );
        assert_eq!(
            exec_start(&unit),
            r#""/home/kim/My Apps & Co/kbot" --config "/home/kim/.config/kbot/100%% \"menu\" $$HOME.toml" --data-dir "/srv/kbot data" daemon"#
        );
        insta::assert_snapshot!(unit);
    }

    /// Checks the unit with `systemd-analyze verify --user`, which parses it the way the
    /// user manager would and fails on a command that is not executable, so a path split
    /// by bad quoting is caught (it does not check `%` escaping: the snapshot does). Where the tool is missing the
    /// key lines are still asserted and the test passes with a note on stderr; set
    /// `KBOT_REQUIRE_SYSTEMD_ANALYZE=1` (CI on Linux) to make a missing tool a failure.
    #[test]
    fn systemd_accepts_the_unit() {
        let dir = tempfile::tempdir().unwrap();
        let apps = dir.path().join("My Apps & Co");
        std::fs::create_dir_all(&apps).unwrap();
        let exe = apps.join("kbot");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let config = apps.join("100% config.toml");
        let unit = systemd_unit(&exe, &config, &apps.join("data"));
        assert_key_lines(&unit);
        let unit_file = dir.path().join("kbot.service");
        std::fs::write(&unit_file, &unit).unwrap();
        let runtime = dir.path().join("runtime");
        std::fs::create_dir(&runtime).unwrap();

        let output = std::process::Command::new("systemd-analyze")
            .args(["verify", "--user"])
            .arg(&unit_file)
            .env("XDG_RUNTIME_DIR", &runtime)
            .output();
        match output {
            Ok(out) => {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                assert!(
                    out.status.success(),
                    "systemd-analyze verify failed:\n{text}\n{unit}"
                );
                // It only warns ("…, ignoring") about keys it cannot parse: fail on those too.
                let about_us: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("kbot.service"))
                    .collect();
                assert!(
                    about_us.is_empty(),
                    "systemd-analyze complained:\n{}",
                    about_us.join("\n")
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(
                    std::env::var_os("KBOT_REQUIRE_SYSTEMD_ANALYZE").is_none(),
                    "systemd-analyze is required here but missing (apt-get install -y systemd)"
                );
                eprintln!("note: systemd-analyze not found; checked the unit's key lines only");
            }
            Err(e) => panic!("cannot run systemd-analyze: {e}"),
        }
    }

    fn child_text<'a>(doc: &'a roxmltree::Document, name: &str) -> Vec<&'a str> {
        doc.descendants()
            .filter(|n| n.has_tag_name(name))
            .map(|n| n.text().unwrap_or(""))
            .collect()
    }

    #[test]
    fn task_xml_is_well_formed_with_the_expected_settings() {
        let xml = task_xml(
            Path::new(WIN_EXE),
            Path::new(WIN_CONFIG),
            Path::new(WIN_DATA),
            Some(r"KIM-PC\김 & 이"),
        );
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "Task");
        assert_eq!(
            root.tag_name().namespace(),
            Some("http://schemas.microsoft.com/windows/2004/02/mit/task")
        );
        let one = |name| {
            let all = child_text(&doc, name);
            assert_eq!(all.len(), 1, "{name}: {all:?}");
            all[0]
        };
        assert_eq!(one("MultipleInstancesPolicy"), "IgnoreNew");
        assert_eq!(one("ExecutionTimeLimit"), "PT0S");
        assert_eq!(one("Hidden"), "true");
        assert_eq!(one("Interval"), "PT1M");
        assert_eq!(one("Count"), "60");
        assert_eq!(one("LogonType"), "InteractiveToken");
        let logon = doc
            .descendants()
            .find(|n| n.has_tag_name("LogonTrigger"))
            .expect("a logon trigger");
        let user = logon
            .children()
            .find(|n| n.has_tag_name("UserId"))
            .and_then(|n| n.text());
        assert_eq!(user, Some(r"KIM-PC\김 & 이"));
        // After XML unescaping, the command line is what Windows should split back.
        assert_eq!(one("Command"), format!("\"{WIN_EXE}\""));
        assert_eq!(
            one("Arguments"),
            format!("--config \"{WIN_CONFIG}\" --data-dir \"{WIN_DATA}\" daemon")
        );
    }

    #[test]
    fn task_xml_without_a_user_triggers_at_any_logon() {
        let xml = task_xml(
            Path::new(r"C:\kbot\kbot.exe"),
            Path::new(r"C:\kbot\config.toml"),
            Path::new(r"C:\kbot\data"),
            None,
        );
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        assert!(child_text(&doc, "UserId").is_empty());
        assert_eq!(child_text(&doc, "Command"), [r"C:\kbot\kbot.exe"]);
        insta::assert_snapshot!(xml);
    }

    #[test]
    fn task_xml_snapshot_with_spaces_and_ampersands() {
        insta::assert_snapshot!(task_xml(
            Path::new(WIN_EXE),
            Path::new(WIN_CONFIG),
            Path::new(WIN_DATA),
            Some(r"KIM-PC\kim")
        ));
    }

    #[test]
    fn windows_arguments_survive_the_command_line_rules() {
        assert_eq!(windows_arg(r"C:\kbot\config.toml"), r"C:\kbot\config.toml");
        assert_eq!(windows_arg(r"C:\My Dir\"), r#""C:\My Dir\\""#);
        assert_eq!(windows_arg(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(windows_arg(r#"a\"b c"#), r#""a\\\"b c""#);
        assert_eq!(windows_arg(""), r#""""#);
    }

    #[test]
    fn task_file_is_utf16le_with_a_bom() {
        let xml = task_xml(
            Path::new(WIN_EXE),
            Path::new(WIN_CONFIG),
            Path::new(WIN_DATA),
            Some("김"),
        );
        let bytes = utf16_file(&xml);
        assert_eq!(&bytes[..2], [0xFF, 0xFE]);
        let units: Vec<u16> = bytes[2..]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), xml);
    }

    #[test]
    fn config_home_prefers_an_absolute_xdg_config_home() {
        let home = Path::new("/home/kim");
        assert_eq!(config_home(Some("/xdg".as_ref()), home), Path::new("/xdg"));
        assert_eq!(
            config_home(Some("relative".as_ref()), home),
            Path::new("/home/kim/.config")
        );
        assert_eq!(config_home(None, home), Path::new("/home/kim/.config"));
        assert_eq!(
            unit_path(&config_home(None, home)),
            Path::new("/home/kim/.config/systemd/user/kbot.service")
        );
    }

    fn temp_dirs(dir: &Path) -> Dirs {
        Dirs {
            config_home: dir.join("config"),
            data_dir: dir.join("data"),
        }
    }

    #[test]
    fn systemd_install_writes_the_unit_and_uninstall_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = temp_dirs(dir.path());
        let (exe, config) = (
            dir.path().join("bin/kbot"),
            dir.path().join("kbot config.toml"),
        );
        let done = install(Kind::Systemd, &exe, &config, &dirs).unwrap();
        assert_eq!(
            done.path,
            dirs.config_home.join("systemd/user/kbot.service")
        );
        assert_eq!(
            std::fs::read_to_string(&done.path).unwrap(),
            systemd_unit(&exe, &config, &dirs.data_dir)
        );
        assert!(!done.replaced);
        assert_eq!(
            done.command,
            "systemctl --user daemon-reload && systemctl --user enable --now kbot"
        );
        assert!(
            done.notes
                .iter()
                .any(|n| n.contains("loginctl enable-linger $USER"))
        );
        assert!(
            install(Kind::Systemd, &exe, &config, &dirs)
                .unwrap()
                .replaced
        );
        let leftovers: Vec<_> = std::fs::read_dir(done.path.parent().unwrap())
            .unwrap()
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left beside the unit");

        // What `systemctl --user enable` would have made.
        let wants = dirs.config_home.join("systemd/user/default.target.wants");
        std::fs::create_dir_all(&wants).unwrap();
        std::fs::write(wants.join("kbot.service"), "").unwrap();
        let gone = uninstall(Kind::Systemd, &dirs).unwrap();
        assert_eq!(gone.removed.as_deref(), Some(done.path.as_path()));
        assert!(!done.path.exists() && !wants.join("kbot.service").exists());
        assert!(gone.command.contains("systemctl --user daemon-reload"));
        assert_eq!(uninstall(Kind::Systemd, &dirs).unwrap().removed, None);
    }

    #[test]
    fn windows_install_writes_utf16_xml_to_the_data_dir_and_prints_schtasks() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = temp_dirs(dir.path());
        let (exe, config) = (dir.path().join("kbot.exe"), dir.path().join("config.toml"));
        let done = install(Kind::Windows, &exe, &config, &dirs).unwrap();
        assert_eq!(done.path, dirs.data_dir.join("kbot-task.xml"));
        assert_eq!(
            std::fs::read(&done.path).unwrap(),
            utf16_file(&task_xml(&exe, &config, &dirs.data_dir, None))
        );
        assert_eq!(
            done.command,
            format!(
                "schtasks /Create /TN kbot /XML \"{}\" /F",
                done.path.display()
            )
        );
        let gone = uninstall(Kind::Windows, &dirs).unwrap();
        assert_eq!(gone.removed, Some(done.path.clone()));
        assert_eq!(gone.command, "schtasks /Delete /TN kbot /F");
    }

    #[test]
    fn install_makes_relative_paths_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let dirs = temp_dirs(dir.path());
        let done = install(
            Kind::Systemd,
            Path::new("kbot"),
            Path::new("config.toml"),
            &dirs,
        )
        .unwrap();
        let unit = std::fs::read_to_string(done.path).unwrap();
        let cwd = std::env::current_dir().unwrap();
        let words: Vec<&str> = exec_start(&unit).split(' ').collect();
        assert_eq!(words[0], systemd_word(&cwd.join("kbot").to_string_lossy()));
    }

    #[test]
    fn a_write_error_names_the_path_and_hints_at_permissions() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the systemd directory should be.
        let blocker = dir.path().join("config");
        std::fs::write(&blocker, "").unwrap();
        let dirs = temp_dirs(dir.path());
        let err = install(
            Kind::Systemd,
            Path::new("/bin/kbot"),
            Path::new("/c.toml"),
            &dirs,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("systemd/user/kbot.service"),
            "{err}"
        );
        assert!(err.hint().unwrap().starts_with("check the permissions of"));
    }
}

//! Logging in when things are broken or hostile,
//! end to end through the real `kbot` binary against the fake Kakao server: a damaged or
//! newer-format `secrets.json`, stray requests to the login listener, control characters in
//! what the redirect carries, the browser's environment, a rotated refresh token that
//! cannot be saved, and a config without `[[source]]`.
//!
//! I/O: child processes, loopback TCP, temp dirs; the disk-full tests mount a small tmpfs
//! (they need root, as CI has).

mod common;
mod login_helpers;
mod support;

use std::io::Write;
use std::time::Duration;

use chrono::TimeDelta;
use common::TestEnv;
use login_helpers::*;
use support::fake_kakao::FakeKakao;
use support::fake_kakao::oauth::TOKEN_PATH;

/// Put `text` where the file store lives, as a damaged disk or a hand edit would leave it.
fn write_secrets(env: &TestEnv, text: &str) {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(env.data_dir())
        .unwrap();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(env.data_dir().join("secrets.json"))
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    std::fs::write(env.data_dir().join("store"), "file\n").unwrap();
}

/// Log in through the listener, as a browser would; the login's outcome.
fn login_with_browser(env: &TestEnv) -> Finished {
    let mut login = spawn(env, &["login", "--no-browser"], &[]);
    let (status, page) = browse(&login.authorize_url());
    assert_eq!(status, 200, "{page}");
    login.finish()
}

/// Every kind of damage the issue lists, and a file from a newer kbot.
const DAMAGED: [(&str, &str); 7] = [
    ("", "the file is empty"),
    ("{\"version\":1,\"apps\":{", "truncated JSON"),
    ("not json at all", "not valid JSON"),
    ("null", "expected a JSON object, found null"),
    (
        "{\"version\":1,\"apps\":[\"x\"]}",
        "\"apps\" should be an object",
    ),
    (
        "{\"version\":1,\"apps\":{\"fake-rest-api-key\":{\"refresh_token\":42}}}",
        "a field of the wrong type",
    ),
    (
        "{\"version\":3,\"apps\":{}}",
        "format version 3, newer than this kbot reads (1)",
    ),
];

#[test]
fn each_damaged_secrets_file_is_named_with_its_fix_and_logout_then_login_recovers() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    for (text, why) in DAMAGED {
        let env = TestEnv::new();
        let redirect = loopback_redirect(&fake);
        write_config(&env, &fake, &redirect, "file");
        write_secrets(&env, text);
        let file = env.data_dir().join("secrets.json");

        // Every command names the file, what is wrong and the way out.
        let friends = run(&env, &["friends"], &[]);
        friends.assert_error(3, why, "kbot logout");
        assert!(
            friends.stderr.contains(&file.display().to_string()),
            "{text:?}: {friends:#?}"
        );
        assert!(friends.stderr.contains("then kbot login"), "{friends:#?}");

        // logout removes it, and says so.
        let logout = run(&env, &["logout"], &[]);
        logout.assert_success();
        assert!(
            logout.stdout.contains("deleted the unreadable kbot entry"),
            "{text:?}: {logout:#?}"
        );
        // login then works and the login is usable.
        let requests_before = fake.count(TOKEN_PATH);
        login_with_browser(&env).assert_success();
        assert_eq!(fake.count(TOKEN_PATH), requests_before + 1);
        assert!(stored(&env).is_some(), "{text:?}");
        run(&env, &["friends"], &[]).assert_success();
    }
}

#[test]
fn login_over_a_damaged_entry_says_it_replaces_it_before_opening_kakao() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    write_secrets(&env, "null");

    let mut login = spawn(&env, &["login", "--no-browser"], &[]);
    let note = login.line_starting("note: ");
    assert!(note.contains("secrets.json"), "{note}");
    let link = login.authorize_url();
    assert_eq!(fake.count(TOKEN_PATH), 0);
    let (status, _) = browse(&link);
    assert_eq!(status, 200);
    let done = login.finish();
    done.assert_success();
    assert!(done.stdout.contains("this login replaces it"), "{done:#?}");
    assert!(stored(&env).is_some());
}

#[test]
fn login_refuses_to_overwrite_a_newer_kbots_secrets_before_spending_a_code() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    let newer = "{\"version\":2,\"apps\":{}}";
    write_secrets(&env, newer);

    let done = run(&env, &["login", "--no-browser"], &[]);
    done.assert_error(3, "format version 2", "kbot logout");
    assert!(!done.stdout.contains("oauth/authorize"), "{done:#?}");
    assert_eq!(
        std::fs::read_to_string(env.data_dir().join("secrets.json")).unwrap(),
        newer,
        "left as the newer kbot wrote it"
    );
}

#[test]
fn login_works_with_a_config_that_has_no_source_yet() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    env.write_config(&format!(
        "[kakao]\nclient_id = {:?}\nredirect_uri = {redirect:?}\nauth_url = {url:?}\napi_url = {url:?}\n\
         [secrets]\nstore = \"file\"\n",
        fake.config().client_id,
        url = fake.url(),
    ));
    let done = login_with_browser(&env);
    done.assert_success();
    assert!(done.stdout.contains("logged in as 홍길동"), "{done:#?}");
    assert!(stored(&env).is_some());
}

#[test]
fn after_logout_status_and_logout_say_not_logged_in_with_exit_3() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    // The configured store is the keyring, unreachable here; the login used the file store.
    write_config(&env, &fake, "http://localhost:8765/callback", "keyring");
    seed(&env, &fake, TimeDelta::hours(5), TimeDelta::days(50));
    let nowhere = format!("unix:path={}", env.path("no-bus").display());
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", nowhere.as_str())];

    run(&env, &["logout"], &no_bus).assert_success();
    for args in [&["status"][..], &["status", "--json"], &["logout"]] {
        let done = run(&env, args, &no_bus);
        done.assert_error(3, "not logged in", "kbot login");
        assert!(
            !done.stderr.contains("kbot: error: the OS keyring"),
            "{done:#?}"
        );
    }
}

#[test]
fn the_browser_kbot_opens_does_not_inherit_the_client_secret() {
    use std::os::unix::fs::PermissionsExt;
    const CLIENT_SECRET: &str = "console-client-secret-4711";
    let fake = FakeKakao::start_on_thread();
    fake.configure(|c| c.client_secret = Some(CLIENT_SECRET.into()));
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    // A "browser" that writes down its environment and the link it was given.
    let dump = env.path("browser-env");
    let browser = env.path("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nenv > {0}.tmp\necho \"ARG=$1\" >> {0}.tmp\nmv {0}.tmp {0}\n",
            dump.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();

    let browser_var = browser.display().to_string();
    let mut login = spawn(
        &env,
        &["login"],
        &[
            ("KBOT_CLIENT_SECRET", CLIENT_SECRET),
            ("BROWSER", browser_var.as_str()),
        ],
    );
    let link = login.authorize_url();
    let deadline = std::time::Instant::now() + PATIENCE;
    while !dump.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let seen = std::fs::read_to_string(&dump).expect("kbot started the browser");
    assert!(seen.contains(&format!("ARG={link}")), "{seen}");
    assert!(
        seen.contains("KBOT_DATA_DIR="),
        "the rest of the environment is kept: {seen}"
    );
    assert!(!seen.contains("KBOT_CLIENT_SECRET"), "{seen}");
    assert!(!seen.contains(CLIENT_SECRET), "{seen}");

    // kbot itself still has the secret: the exchange works.
    let (status, _) = browse(&link);
    assert_eq!(status, 200);
    login.finish().assert_success();
    assert_eq!(
        stored(&env)
            .unwrap()
            .client_secret
            .as_ref()
            .map(secret)
            .as_deref(),
        Some(CLIENT_SECRET)
    );
}

// ---------------------------------------------------------------------------------------
// A refresh whose result cannot be saved.

/// A small tmpfs mounted on `dir` for one test (needs root, as CI has), unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ],
            dir,
        );
        Tmpfs(dir.to_path_buf())
    }

    /// Fill it to the last byte.
    fn fill(&self) -> std::path::PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.write_all(&[0]);
        filler
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

fn mount(args: &[&str], dir: &std::path::Path) {
    let status = std::process::Command::new("mount")
        .args(args)
        .arg(dir)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mount {args:?} {} failed: these tests need root (CI runs as root)",
        dir.display()
    );
}

#[test]
fn a_full_disk_stops_a_refresh_before_kakao_can_rotate_the_token_away() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    let disk = Tmpfs::mount(&env.data_dir(), "64k");
    write_config(&env, &fake, "http://localhost:8765/callback", "file");
    let seeded = seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(25));
    fake.advance(35 * DAY); // in its last month: a refresh would rotate it
    let filler = disk.fill();

    let done = run(&env, &["friends"], &[]);
    done.assert_error(
        1,
        "did not refresh the Kakao login: no room to save its result",
        "free some space",
    );
    assert!(
        done.stderr.contains("the stored login still works"),
        "{done:#?}"
    );
    assert_eq!(fake.count(TOKEN_PATH), 0, "Kakao was not asked");
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&seeded.refresh_token)]
    );

    std::fs::remove_file(filler).unwrap();
    run(&env, &["friends"], &[]).assert_success();
    let after = stored(&env).unwrap();
    assert_ne!(secret(&after.refresh_token), secret(&seeded.refresh_token));
    assert_eq!(
        fake.valid_refresh_tokens(),
        vec![secret(&after.refresh_token)]
    );
    run(&env, &["status"], &[]).assert_success();
}

#[test]
fn a_rotated_refresh_token_that_cannot_be_saved_is_named_as_lost_and_status_says_so() {
    let fake = FakeKakao::start_on_thread();
    with_friend(&fake);
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(25));
    fake.advance(35 * DAY);
    // The space was reserved before Kakao was called, so a full disk cannot fail the save
    // any more (the test above); any other write failure still can. Injected while Kakao
    // answers (slowly): `secrets.json` turns into a directory.
    fake.configure(|c| c.delay = Duration::from_millis(300));
    let file = env.data_dir().join("secrets.json");
    let aside = env.path("secrets.json.aside");
    let friends = spawn(&env, &["friends"], &[]);
    let deadline = std::time::Instant::now() + PATIENCE;
    while fake.count(TOKEN_PATH) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::rename(&file, &aside).unwrap();
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&file)
            .unwrap();
    }
    let done = friends.finish();
    std::fs::remove_dir(&file).unwrap();
    std::fs::rename(&aside, &file).unwrap();
    fake.configure(|c| c.delay = Duration::ZERO);

    done.assert_error(
        3,
        "kakao rotated the refresh token, but kbot could not save the new one in the file",
        "kbot login",
    );
    assert!(
        done.stderr.contains("the new refresh token is lost"),
        "{done:#?}"
    );
    assert!(
        done.stderr.contains("cannot read"),
        "the cause is named: {done:#?}"
    );
    // Never the token itself.
    let valid = fake.valid_refresh_tokens();
    assert_eq!(valid.len(), 1);
    assert!(!done.all().contains(&valid[0]));

    // status no longer shows a sound login.
    let status = run(&env, &["status"], &[]);
    assert!(
        status
            .stdout
            .contains("warning: a refresh's result was not saved"),
        "{status:#?}"
    );
    let json = run(&env, &["status", "--json"], &[]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["refresh_token_unsaved"], true);
    assert_eq!(value["needs_attention"], true);
    assert!(!json.all().contains(&valid[0]));

    // A new login clears it.
    login_with_browser(&env).assert_success();
    let status = run(&env, &["status"], &[]);
    status.assert_success();
    assert!(!status.stdout.contains("was not saved"), "{status:#?}");
}

// ---------------------------------------------------------------------------------------
// Out of file descriptors.

/// CPU time (user + system, in clock ticks) the process has used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the process runs");
    let after_name = &stat[stat.rfind(')').expect("(comm)") + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5): the 12th and 13th after the state.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn out_of_file_descriptors_the_login_listener_backs_off_instead_of_spinning_and_still_logs_in() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let redirect = loopback_redirect(&fake);
    write_config(&env, &fake, &redirect, "file");
    let port = url::Url::parse(&redirect).unwrap().port().unwrap();

    let mut login = spawn_with_fd_limit(&env, 40, &["login", "--no-browser"]);
    let link = login.authorize_url();
    // Idle connections until kbot has no descriptor left: each further accept fails
    // (EMFILE) while the connections wait in the backlog.
    let idle: Vec<std::net::TcpStream> = (0..60)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let before = cpu_ticks(login.pid());
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_ticks(login.pid()) - before;
    // A spinning accept loop burns the whole half second (about 50 ticks at 100 Hz).
    assert!(
        used < 10,
        "kbot used {used} ticks of CPU in 0.5 s while out of descriptors"
    );

    // Descriptors free up: the real redirect is still received.
    drop(idle);
    let (status, page) = browse(&link);
    assert_eq!(status, 200, "{page}");
    login.finish().assert_success();
    assert!(stored(&env).is_some());
}

#[test]
fn the_room_reserved_before_a_refresh_takes_its_result_on_a_disk_that_filled_meanwhile() {
    let fake = FakeKakao::start_on_thread();
    let env = TestEnv::new();
    let disk = Tmpfs::mount(&env.data_dir(), "64k");
    let seeded = seed(&env, &fake, -TimeDelta::minutes(1), TimeDelta::days(25));
    let store = file_store(&env);
    block_on(store.reserve(&env.data_dir())).expect("room for the result");
    assert!(
        kbot::secrets::is_refresh_result_lost(&env.data_dir()),
        "marked until saved"
    );
    disk.fill();

    let mut rotated = seeded.clone();
    rotated.refresh_token = "rotated-refresh-token-from-kakao".to_string().into();
    block_on(store.save_reserved(&rotated, &env.data_dir())).expect("saved on a full disk");
    assert_eq!(
        secret(&stored(&env).unwrap().refresh_token),
        "rotated-refresh-token-from-kakao"
    );
    assert!(!kbot::secrets::is_refresh_result_lost(&env.data_dir()));
}

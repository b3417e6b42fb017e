//! The `kbot` binary: parse the arguments, start logging, run the command, and turn the
//! result into an exit code (DESIGN §2). The only place that exits.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use kbot::cli::{self, Cli};
use kbot::terminal::{self, LogStyle, PlainFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    // A bare `kbot` gets the help (a usage error, exit 2), whatever KBOT_* is set.
    if std::env::args_os().len() <= 1 {
        eprint!("{}", Cli::command().render_help());
        return kbot::Exit::Usage.into();
    }
    let cli = Cli::parse();
    let is_daemon = matches!(cli.command, cli::Command::Daemon);
    init_logging(cli.verbose, cli.quiet, is_daemon);
    let env = cli::Env::from_process(&cli);
    // The daemon idles for hours: one thread that wakes for its naps instead of a worker per
    // core waking to hand every nap over to the main thread (scripts/measure-idle.sh).
    // The filter's child (`run-filter`) lowers its memory limit: no worker threads there.
    let one_thread = is_daemon || matches!(cli.command, cli::Command::RunFilter);
    let runtime = match one_thread {
        true => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        false => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kbot: error: cannot start the async runtime: {e}");
            return kbot::Exit::Failure.into();
        }
    };
    let paint = kbot::view::Paint::new(std::io::stderr().is_terminal(), &|k| std::env::var(k).ok());
    match runtime.block_on(cli::run(cli, env)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`kbot man | head`): nothing more to say, like ripgrep.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        // A command that printed its own account (doctor) only sets the exit code.
        Err(err) if err.downcast_ref::<cli::Silent>().is_some() => err.exit().into(),
        Err(err) => {
            eprintln!("kbot: {} {err}", paint.red("error:"));
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            err.exit().into()
        }
    }
}

/// Logs go to stderr; `KBOT_LOG` (an EnvFilter string) wins over -v/-q. A person at a
/// terminal sees `kbot: warning: …` lines; -v, `KBOT_LOG`, the daemon and pipes get log
/// lines, without colour codes unless stderr is a terminal, so the journal stays clean.
fn init_logging(verbose: u8, quiet: bool, is_daemon: bool) {
    // html5ever reports every repair it makes to broken markup at warn level: noise here.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,html5ever=error",
        (false, 1) => "kbot=info,warn,html5ever=error",
        (false, _) => "kbot=debug,info,html5ever=error",
    };
    let kbot_log = std::env::var_os("KBOT_LOG").is_some();
    let filter = EnvFilter::try_from_env("KBOT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let is_terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match terminal::log_style(is_terminal, verbose, kbot_log, is_daemon) {
        LogStyle::Plain => {
            let paint = kbot::view::Paint::new(true, &|k| std::env::var(k).ok());
            builder.event_format(PlainFormat { color: paint.on }).init();
        }
        LogStyle::Log => builder.with_ansi(is_terminal).with_target(false).init(),
    }
}

//! The `kbot` binary: parse the arguments, start logging, run the command, and turn the
//! result into an exit code (DESIGN §2). The only place that exits.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use kbot::cli::{self, Cli};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let env = cli::Env::from_process(&cli);
    // The daemon idles for hours: one thread that wakes for its naps instead of a worker per
    // core waking to hand every nap over to the main thread (scripts/measure-idle.sh).
    let runtime = match cli.command {
        cli::Command::Daemon => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        _ => tokio::runtime::Runtime::new(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kbot: error: cannot start the async runtime: {e}");
            return kbot::Exit::Failure.into();
        }
    };
    match runtime.block_on(cli::run(cli, env)) {
        Ok(()) => ExitCode::SUCCESS,
        // A command that printed its own account (doctor) only sets the exit code.
        Err(err) if err.downcast_ref::<cli::Silent>().is_some() => err.exit().into(),
        Err(err) => {
            eprintln!("kbot: error: {err}");
            if let Some(hint) = err.hint() {
                eprintln!("hint: {hint}");
            }
            err.exit().into()
        }
    }
}

/// Logs go to stderr; `KBOT_LOG` (an EnvFilter string) wins over -v/-q. No colour codes
/// unless stderr is a terminal, so the journal stays clean.
fn init_logging(verbose: u8, quiet: bool) {
    // html5ever reports every repair it makes to broken markup at warn level: noise here.
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn,html5ever=error",
        (false, 1) => "kbot=info,warn,html5ever=error",
        (false, _) => "kbot=debug,info,html5ever=error",
    };
    let filter = EnvFilter::try_from_env("KBOT_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

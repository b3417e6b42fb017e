//! Ctrl-C for a one-off command (`send-now`), as SIGTERM is for the daemon: the first one
//! asks the work to stop after the call in flight (which finishes and is recorded), the
//! second ends the command at once. Both end in exit 130 (the caller reports the first).
//!
//! Does not own what stopping means to a run (`deliver` checks the flag between calls).
//! I/O: listens for SIGINT; one line on stderr when the first arrives.

use std::future::Future;

use tokio::sync::watch;

/// Drive `work` to its end. The first Ctrl-C sets `stop` (which `work` watches) and says so
/// on stderr; a second one drops `work` and returns [`crate::error::Interrupted`]. SIGINT
/// is listened for before `work` is first polled, so no Ctrl-C can kill the process between
/// a Kakao call and its record.
pub async fn finish_or_stop<T>(
    work: impl Future<Output = crate::Result<T>>,
    stop: &watch::Sender<bool>,
) -> crate::Result<T> {
    let mut interrupts = Interrupts::listen();
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => return result,
            () = interrupts.next() => {
                if *stop.borrow() {
                    return Err(crate::error::Interrupted {
                        what: Some("stopped at once; the call in flight may or may not have reached Kakao".into()),
                        hint: Some("kbot history shows what was recorded".into()),
                    }
                    .into());
                }
                let _ = stop.send(true);
                eprintln!("kbot: stopping after the call in flight (Ctrl-C again to stop at once)");
            }
        }
    }
}

/// Ctrl-C (SIGINT) as a stream, registered at once so none is missed between two waits.
struct Interrupts {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Interrupts {
    fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::interrupt())
                .inspect_err(|err| tracing::warn!("cannot listen for Ctrl-C: {err}"))
                .ok();
            Interrupts { signal }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next Ctrl-C; never, when none can be heard.
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let heard = match &mut self.signal {
                Some(signal) => signal.recv().await.is_some(),
                None => false,
            };
            if !heard {
                std::future::pending::<()>().await;
            }
        }
        #[cfg(not(unix))]
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

//! Connections the fake can cut from inside a handler, for the "reset" faults.
//!
//! Owns the listener wrapper that axum serves from and the stream wrapper that fails every
//! read and write once its connection is marked; hyper then drops the socket, which is closed
//! with `SO_LINGER` 0 so the client sees a reset rather than a clean end of an answer. A
//! handler reaches its connection through `ConnectInfo<Conn>`. I/O: the accepted sockets.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Marks the connection so that writing the answer fails and hyper drops the socket
/// (with `SO_LINGER` 0, so the client sees a reset, not a clean end).
pub fn kill(conn: Option<&Conn>) {
    if let Some(conn) = conn {
        conn.kill.store(true, Ordering::SeqCst);
    }
}

/// Per-connection handle, reachable from a request through `ConnectInfo`.
#[derive(Debug, Clone)]
pub struct Conn {
    kill: Arc<AtomicBool>,
}

impl Connected<IncomingStream<'_, KillableListener>> for Conn {
    fn connect_info(stream: IncomingStream<'_, KillableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// A TCP listener whose connections can be cut from inside a handler.
#[derive(Debug)]
pub struct KillableListener(pub TcpListener);

impl axum::serve::Listener for KillableListener {
    type Io = KillableStream;
    type Addr = Conn;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((io, _peer)) => {
                    let kill = Arc::new(AtomicBool::new(false));
                    return (
                        KillableStream {
                            io,
                            kill: kill.clone(),
                        },
                        Conn { kill },
                    );
                }
                // Out of file descriptors and the like: wait briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr().map(|_| Conn {
            kill: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails every read and write once its connection was killed.
#[derive(Debug)]
pub struct KillableStream {
    io: TcpStream,
    kill: Arc<AtomicBool>,
}

impl KillableStream {
    fn killed(&self) -> Option<io::Error> {
        if !self.kill.load(Ordering::SeqCst) {
            return None;
        }
        // Reset, not FIN: the client must not mistake it for a complete answer.
        let _ = self.io.set_zero_linger();
        Some(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "connection cut by an injected fault",
        ))
    }
}

impl AsyncRead for KillableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.killed() {
            Some(err) => Poll::Ready(Err(err)),
            None => Pin::new(&mut this.io).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for KillableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.killed() {
            Some(err) => Poll::Ready(Err(err)),
            None => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.killed() {
            Some(err) => Poll::Ready(Err(err)),
            None => Pin::new(&mut this.io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this.killed() {
            Some(err) => Poll::Ready(Err(err)),
            None => Pin::new(&mut this.io).poll_shutdown(cx),
        }
    }
}

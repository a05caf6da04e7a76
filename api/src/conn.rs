//! HTTP/1.1 connections: accepting (plain or TLS), serving with hyper, and the limits that keep
//! slow or idle clients from holding the server: a header-read timeout, an idle keep-alive
//! timeout and a cap on concurrent connections.
//!
//! Timeouts follow the original's Go server: a new connection has `header_read` to deliver its
//! first request's headers; between requests a keep-alive connection may stay quiet for `idle`,
//! and once the next request's first byte arrives its headers must be complete within
//! `header_read`. A response must be delivered within the request timeout (plus a short grace
//! for the timeout answer itself): a client that stops reading loses its connection. Connections
//! beyond the cap wait in the listen backlog until one closes.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// Connection limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time to deliver a request's headers (see the module documentation).
    pub header_read: Duration,
    /// Time a keep-alive connection may wait for its next request.
    pub idle: Duration,
    /// Time to answer a request, its response delivered (`--web.request-timeout`).
    pub request: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Extra time, beyond the request timeout, to deliver a response (the timeout answer itself).
const DELIVERY_GRACE: Duration = Duration::from_secs(5);

/// File descriptors kept free for the store's files, the manifest and logs.
const RESERVED_FDS: usize = 256;

/// The connection cap, lowered (with a warning) when the process may not open that many files.
pub fn connection_cap(wanted: usize) -> usize {
    let Some(limit) = open_files_limit() else {
        return wanted;
    };
    let room = limit.saturating_sub(RESERVED_FDS).max(limit / 2).max(1);
    if wanted > room {
        tracing::warn!(
            wanted,
            open_files_limit = limit,
            serving = room,
            "--web.max-connections exceeds what the open-files limit allows; lowered"
        );
        room
    } else {
        wanted
    }
}

/// The soft limit of open files of this process (Linux), if known and finite.
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Accepts connections until `stop` turns true. Each connection holds a permit of `conns`
/// while it is open; without a free permit, nothing is accepted.
pub async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: Router,
    limits: Limits,
    conns: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&conns).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.wait_for(|s| *s) => return,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let (tcp, addr) = match accepted {
            Ok(c) => c,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "cannot accept a connection");
                drop(permit);
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, tls, stop) = (app.clone(), tls.clone(), stop.clone());
        tokio::spawn(async move {
            match tls {
                None => serve_connection(tcp, app, limits, permit, stop).await,
                Some(acceptor) => {
                    let hs = tokio::time::timeout(limits.header_read, acceptor.accept(tcp)).await;
                    match hs {
                        Ok(Ok(tls)) => serve_connection(tls, app, limits, permit, stop).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, %addr, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves one connection until the client or a timeout closes it; on `stop`, finishes the
/// request in flight and closes.
async fn serve_connection<T>(
    io: T,
    app: Router,
    limits: Limits,
    _permit: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(ConnState::default());
    let io = TokioIo::new(CountingIo {
        inner: io,
        state: Arc::clone(&state),
    });
    let service = {
        let state = Arc::clone(&state);
        hyper::service::service_fn(move |req: axum::http::Request<Incoming>| {
            state.arm(limits.request + DELIVERY_GRACE);
            app.clone().oneshot(req)
        })
    };
    let mut builder = http1::Builder::new();
    builder
        .timer(HeadTimer {
            state: Arc::clone(&state),
            header: limits.header_read,
            idle: limits.idle,
        })
        .header_read_timeout(limits.header_read);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection closed with an error");
                }
                return;
            }
            _ = state.response_overdue() => {
                tracing::warn!(
                    timeout = ?limits.request,
                    "response not delivered in time (the client stopped reading?); connection closed"
                );
                return;
            }
            _ = stop.wait_for(|s| *s), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// What a connection's parts share: bytes read (for the header timer) and the delivery
/// deadline of the response in flight.
#[derive(Default)]
struct ConnState {
    read: AtomicU64,
    /// Set when a request reaches the service, cleared when hyper waits for the next request
    /// head (the response was written).
    deadline: Mutex<Option<Instant>>,
    changed: Notify,
}

impl ConnState {
    fn set_deadline(&self, at: Option<Instant>) {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) = at;
        self.changed.notify_one();
    }

    fn deadline(&self) -> Option<Instant> {
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn arm(&self, within: Duration) {
        self.set_deadline(Some(Instant::now() + within));
    }

    /// Completes once a response is overdue.
    async fn response_overdue(&self) {
        loop {
            match self.deadline() {
                None => self.changed.notified().await,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {
                            if self.deadline().is_some_and(|d| d <= Instant::now()) {
                                return;
                            }
                        }
                        _ = self.changed.notified() => {}
                    }
                }
            }
        }
    }
}

/// A connection's byte stream, counting the bytes read so the header timer can tell an idle
/// connection from one whose request has begun.
struct CountingIo<T> {
    inner: T,
    state: Arc<ConnState>,
}

impl<T: AsyncRead + Unpin> AsyncRead for CountingIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        if n > 0 {
            self.state.read.fetch_add(n as u64, Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CountingIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// hyper's timer for one connection. hyper starts it (through `sleep_until`) each time it waits
/// for a request head, which is also when the previous response has been written, and polls it
/// whenever bytes arrive without completing the head; the sleep it returns moves its deadline as
/// the module documentation describes.
#[derive(Clone)]
struct HeadTimer {
    state: Arc<ConnState>,
    header: Duration,
    idle: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            timer: Box::pin(tokio::time::sleep(duration)),
            head: None,
        })
    }

    fn sleep_until(&self, _deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.state.set_deadline(None);
        let start = Instant::now();
        let read_at_start = self.state.read.load(Ordering::Relaxed);
        let head = HeadWait {
            state: Arc::clone(&self.state),
            read_at_start,
            first_request: read_at_start == 0,
            start,
            first_byte: None,
            header: self.header,
            idle: self.idle,
        };
        Box::pin(HeadSleep {
            timer: Box::pin(tokio::time::sleep_until(head.deadline())),
            head: Some(head),
        })
    }
}

/// The wait for one request head.
struct HeadWait {
    state: Arc<ConnState>,
    read_at_start: u64,
    /// No byte was ever read on the connection when the wait began.
    first_request: bool,
    start: Instant,
    /// When the first byte of this head was seen.
    first_byte: Option<Instant>,
    header: Duration,
    idle: Duration,
}

impl HeadWait {
    fn deadline(&self) -> Instant {
        match (self.first_request, self.first_byte) {
            (true, _) => self.start + self.header,
            (false, None) => self.start + self.idle,
            (false, Some(t)) => t + self.header,
        }
    }
}

struct HeadSleep {
    timer: Pin<Box<tokio::time::Sleep>>,
    /// `None`: a plain sleep.
    head: Option<HeadWait>,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Some(h) = &mut this.head {
            if h.first_byte.is_none() && h.state.read.load(Ordering::Relaxed) != h.read_at_start {
                h.first_byte = Some(Instant::now());
            }
            let deadline = h.deadline();
            if this.timer.deadline() != deadline {
                this.timer.as_mut().reset(deadline);
            }
        }
        this.timer.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(first_request: bool, first_byte: Option<u64>) -> HeadWait {
        let start = Instant::now();
        HeadWait {
            state: Arc::new(ConnState::default()),
            read_at_start: 0,
            first_request,
            start,
            first_byte: first_byte.map(|s| start + Duration::from_secs(s)),
            header: Duration::from_secs(2),
            idle: Duration::from_secs(10),
        }
    }

    #[test]
    fn head_deadlines_follow_go() {
        // First request: the whole head within `header` of the connection's start.
        let w = wait(true, None);
        assert_eq!(w.deadline() - w.start, Duration::from_secs(2));
        let w = wait(true, Some(1));
        assert_eq!(w.deadline() - w.start, Duration::from_secs(2));
        // Keep-alive: `idle` to start the next request, then `header` to finish its head.
        let w = wait(false, None);
        assert_eq!(w.deadline() - w.start, Duration::from_secs(10));
        let w = wait(false, Some(7));
        assert_eq!(w.deadline() - w.start, Duration::from_secs(9));
    }

    #[test]
    fn open_files_limit_is_read_on_linux() {
        if std::path::Path::new("/proc/self/limits").exists() {
            assert!(open_files_limit().is_some_and(|n| n > 0));
        }
    }
}

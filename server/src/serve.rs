//! Serving connections: axum's own loop (HTTP/1.1), with hyper's read buffer kept small.
//!
//! `axum::serve` gives every connection hyper's defaults, and hyper's read buffer grows
//! with the requests read through it (up to 400 KB) and keeps what it grew to while the
//! connection stays open. A tablet keeps its connection open between syncs, so a
//! server with thousands of them kept about 60 KB each, most of it that buffer. Here a
//! connection reads at most [`READ_BUFFER`] at a time: a large body streams through it
//! in pieces as before, and an idle connection keeps little.

use std::future::Future;
use std::pin::pin;

use axum::Router;
use axum::serve::Listener;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

/// The most a connection reads at a time, and the largest request head it accepts
/// (hyper answers a longer one with `431 Request Header Fields Too Large`).
pub const READ_BUFFER: usize = 16 * 1024;

/// Serves `app` on the connections `listener` accepts until `stopped` completes, then
/// stops accepting, lets every connection finish the request it is serving (idle ones
/// close) and returns once all are closed: what `axum::serve` with a graceful shutdown
/// does.
pub async fn serve<L: Listener>(mut listener: L, app: Router, stopped: impl Future<Output = ()>) {
    let mut builder = http1::Builder::new();
    builder.max_buf_size(READ_BUFFER);
    let graceful = GracefulShutdown::new();
    let mut stopped = pin!(stopped);
    loop {
        let (io, _) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(io), service));
        tokio::spawn(async move {
            // A client gone mid-request, a malformed request head: the connection
            // ends, as with axum's loop.
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

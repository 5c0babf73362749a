//! The HTTP server loop: hyper's connections with the limits a public endpoint needs, so that
//! stalled or idle clients cannot starve the others or exhaust the file descriptors.
//!
//! - **Connections**: at most `max_connections` at once; the next waits in the listen queue
//!   (the kernel's, bounded) until one closes, with nothing of it in memory here.
//! - **Head**: a request's whole head within `header_timeout` (hyper's timer, which also runs
//!   while a keep-alive connection waits idle for its next request), so a client that sends
//!   a header a byte at a time, or never sends one, is closed.
//! - **Body**: the whole of it within `body_timeout` (`limits::body_deadline`, a layer on the
//!   router): the body's read fails and the request answers 4xx.
//!
//! Graceful: on `shutdown` no new connection is accepted, and those open finish their
//! requests for up to [`DRAIN`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::ConnectInfo;
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// How long open connections may take to finish once shutdown begins: short enough that,
/// with the pool's close after it, the process is gone within the 10 s an orchestrator
/// gives between SIGTERM and SIGKILL (Kubernetes' and systemd's defaults are 30 s and 90 s;
/// some give 10 s), even when a client never finishes its request.
pub const DRAIN: Duration = Duration::from_secs(8);

/// The limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes.
///
/// # Errors
/// Never for a connection's own failure (logged at debug level, the connection closed);
/// only if the semaphore closes, which it does not.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.map_err(std::io::Error::other)?,
            () = &mut shutdown => break,
        };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: wait a little rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let service = connection_service(app.clone(), remote);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                tracing::debug!(error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("connections still open after the drain; closing them");
    }
    Ok(())
}

/// The router as hyper's service for one connection, with the client's address for
/// `ConnectInfo` extractors.
fn connection_service(
    app: Router,
    remote: SocketAddr,
) -> TowerToHyperService<
    impl tower::Service<
            Request<Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    TowerToHyperService::new(tower::service_fn(move |request: Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(request)
    }))
}

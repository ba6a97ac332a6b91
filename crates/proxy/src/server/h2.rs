//! HTTP/2 client connections: hyper's server, with an idle timeout (no open stream for the
//! keep-alive time ends the connection with GOAWAY).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;

use super::{ClientIo, ClientStream, Guarded, Live, log_end};
use crate::handler::{Conn, handle};

/// Open streams of an HTTP/2 connection, so an idle one can be closed.
#[derive(Default)]
struct Streams {
    open: AtomicUsize,
    /// Woken when the last open stream ends or a first one opens.
    changed: Notify,
}

/// A stream's share of [`Streams`], released when its response body is dropped.
struct Stream(Arc<Streams>);

impl Stream {
    fn open(streams: &Arc<Streams>) -> Self {
        if streams.open.fetch_add(1, Ordering::AcqRel) == 0 {
            streams.changed.notify_one();
        }
        Self(Arc::clone(streams))
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.changed.notify_one();
        }
    }
}

/// Completes once the connection has had no open stream for `keep_alive`.
async fn idle_for(streams: &Streams, keep_alive: Duration) {
    loop {
        if streams.open.load(Ordering::Acquire) > 0 {
            streams.changed.notified().await;
            continue;
        }
        tokio::select! {
            () = tokio::time::sleep(keep_alive) => {
                if streams.open.load(Ordering::Acquire) == 0 {
                    return;
                }
            }
            () = streams.changed.notified() => {}
        }
    }
}

/// Serves an HTTP/2 connection; `replay` is what was read of it already (the preface, on the
/// plain listener).
pub(super) async fn serve<S: ClientStream>(
    stream: S,
    replay: Option<Bytes>,
    conn: Arc<Conn>,
    live: Live,
) {
    let ctx = Arc::clone(&live.0);
    let shared = Arc::clone(&ctx.shared);
    let streams = Arc::new(Streams::default());
    let counting = Arc::clone(&streams);
    let service = service_fn(move |request| {
        let stream = Stream::open(&counting);
        let answer = handle(Arc::clone(&shared), request, Arc::clone(&conn));
        async move {
            let response = answer.await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| Guarded::new(body, stream)))
        }
    });
    let io = ClientIo::new(stream, replay, 0, &ctx);
    let connection = ctx.h2.serve_connection(TokioIo::new(io), service);
    tokio::pin!(connection);
    let stopped = ctx.stop.notified();
    tokio::pin!(stopped);
    let idle = idle_for(&streams, ctx.limits.keep_alive);
    tokio::pin!(idle);
    let mut went_idle = false;
    if !ctx.stopping.load(Ordering::SeqCst) {
        tokio::select! {
            result = connection.as_mut() => {
                log_end(result);
                return;
            }
            () = &mut stopped => {}
            () = &mut idle => {
                ctx.shared.metrics.idle_closes.fetch_add(1, Ordering::Relaxed);
                went_idle = true;
            }
        }
    }
    // GOAWAY: streams already open finish, no new one starts.
    connection.as_mut().graceful_shutdown();
    if went_idle {
        // An idle connection has no stream to finish; the closing handshake waits for the
        // peer's answer to a ping, which a silent peer never sends.
        match tokio::time::timeout(IDLE_GOODBYE, connection.as_mut()).await {
            Ok(result) => log_end(result),
            Err(_) => tracing::debug!("idle HTTP/2 connection closed without the peer's goodbye"),
        }
    } else {
        log_end(connection.await);
    }
}

/// How long an idle HTTP/2 connection waits for the peer after its GOAWAY.
const IDLE_GOODBYE: Duration = Duration::from_secs(1);

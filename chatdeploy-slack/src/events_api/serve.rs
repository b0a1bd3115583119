//! [`EventsApiListener::serve`]: the listener's own HTTP/1.1 server.
//!
//! Slack delivers over HTTP/1.1 (through whatever terminates TLS in front of
//! the bot), one small POST at a time per connection. This server answers
//! exactly the three routes with hyper directly: no protocol sniffing, no
//! router, no boxed bodies: about half a microsecond less per request than
//! the same routes behind `axum::serve` (docs/PERFORMANCE.md), on a path
//! where the whole of chatdeploy's work is a few microseconds.
//!
//! It is also the part that faces the network, so it bounds what a client
//! can hold: connections (a limit), time per connection phase (see `conn`)
//! and the body's size and time (see `answer`).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use bytes::Bytes;
use chatdeploy_core::metrics::Refusal;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::conn::{self, Activity, Watched};
use super::limits::within;
use super::{EventsApiListener, Inner, Reply, Route, refused};
use crate::backlog::Throttled;

type HttpResponse = hyper::Response<Full<Bytes>>;

impl EventsApiListener {
    /// Serves `POST /slack/events`, `/slack/interactions` and
    /// `/slack/commands` over HTTP/1.1 on `tcp` until `shutdown` completes;
    /// then stops accepting and waits for the requests in progress (each is
    /// answered at once, so this is quick). Answers exactly like
    /// [`router`](Self::router), which remains the way to mount the routes in
    /// an existing axum application.
    ///
    /// Connections are bounded in number
    /// ([`with_max_connections`](Self::with_max_connections): beyond it a new
    /// one is closed at once) and in time: a head must arrive within
    /// [`with_header_timeout`](Self::with_header_timeout) of its first byte,
    /// a body within [`with_body_timeout`](Self::with_body_timeout) (408),
    /// and a connection without a request in progress is closed after
    /// [`with_idle_timeout`](Self::with_idle_timeout).
    ///
    /// ```no_run
    /// # async fn demo(engine: std::sync::Arc<dyn chatdeploy_core::chat::EventHandler>) -> std::io::Result<()> {
    /// let listener = chatdeploy_slack::EventsApiListener::new("signing-secret", engine);
    /// let tcp = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
    /// listener.serve(tcp, async { let _ = tokio::signal::ctrl_c().await; }).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// None today: accept errors (such as running out of file descriptors)
    /// are logged and retried after a short pause, as they are transient. The
    /// `io::Result` leaves room for errors that end serving.
    pub async fn serve(
        &self,
        tcp: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let open = Arc::new(Semaphore::new(self.inner.limits.max_connections));
        let refusals = Throttled::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = tcp.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a connection; retrying shortly");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Over the limit: close it at once (taking it off the kernel's
            // queue) rather than leave it hanging there, so the client or
            // load balancer knows to try again or elsewhere.
            let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
                drop(stream);
                refusals.note(|refused| {
                    tracing::warn!(
                        refused,
                        limit = self.inner.limits.max_connections,
                        "connection limit reached: closing new connections"
                    );
                });
                continue;
            };
            self.spawn_connection(stream, permit, &graceful);
        }
        drop(tcp);
        graceful.shutdown().await;
        Ok(())
    }

    /// Serves one connection in its own task, holding `permit` until it
    /// ends, with a watchdog task beside it for its timeouts.
    fn spawn_connection(
        &self,
        stream: TcpStream,
        permit: OwnedSemaphorePermit,
        graceful: &GracefulShutdown,
    ) {
        // Answers are one small write; don't let Nagle hold them back.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let activity = Activity::new();
        let inner = Arc::clone(&self.inner);
        let service = service_fn({
            let activity = Arc::clone(&activity);
            move |request| {
                let inner = Arc::clone(&inner);
                let activity = Arc::clone(&activity);
                async move {
                    activity.request_started();
                    let response = answer(&inner, request).await;
                    activity.request_answered();
                    response
                }
            }
        });
        // Answers are a status line and a few headers: copying them into
        // one buffer for one write is cheaper than a vectored write. No
        // timer: `conn` keeps the time (see there why not hyper's).
        let connection = http1::Builder::new().writev(false).serve_connection(
            TokioIo::new(Watched::new(stream, Arc::clone(&activity))),
            service,
        );
        let connection = graceful.watch(connection);
        let task = tokio::spawn(async move {
            // A peer closing its connection is not the listener's error.
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
            drop(permit);
        });
        let limits = self.inner.limits;
        tokio::spawn(conn::watch(
            task,
            activity,
            limits.idle_timeout,
            limits.header_timeout,
        ));
    }
}

async fn answer(
    inner: &Inner,
    request: hyper::Request<Incoming>,
) -> Result<HttpResponse, Infallible> {
    let Some(route) = Route::from_path(request.uri().path()) else {
        return Ok(status(StatusCode::NOT_FOUND));
    };
    if request.method() != Method::POST {
        let mut response = status(StatusCode::METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
        return Ok(response);
    }
    let (parts, body) = request.into_parts();
    if inner.declared_too_large(&parts.headers) {
        refused(Refusal::TooLarge);
        return Ok(status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let limits = inner.limits;
    let collected = within(
        limits.body_timeout,
        Limited::new(body, limits.body_limit).collect(),
    )
    .await;
    let body = match collected {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            refused(Refusal::TooLarge);
            return Ok(status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Ok(Err(_)) => return Ok(status(StatusCode::BAD_REQUEST)),
        // The rest of the body is never read, so hyper closes the connection.
        Err(_) => {
            refused(Refusal::Timeout);
            return Ok(status(StatusCode::REQUEST_TIMEOUT));
        }
    };
    Ok(match inner.deliver(route, &parts.headers, &body).await {
        Reply::Status(code) => status(code),
        Reply::Text(text) => {
            let mut response = HttpResponse::new(Full::new(Bytes::from(text)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
    })
}

fn status(code: StatusCode) -> HttpResponse {
    let mut response = HttpResponse::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

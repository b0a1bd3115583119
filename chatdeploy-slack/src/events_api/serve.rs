//! [`EventsApiListener::serve`]: the listener's own HTTP/1.1 server.
//!
//! Slack delivers over HTTP/1.1 (through whatever terminates TLS in front of
//! the bot), one small POST at a time per connection. This server answers
//! exactly the three routes with hyper directly: no protocol sniffing, no
//! router, no boxed bodies: about half a microsecond less per request than
//! the same routes behind `axum::serve` (docs/PERFORMANCE.md), on a path
//! where the whole of chatdeploy's work is a few microseconds.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode, header};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::{EventsApiListener, Inner, Reply, Route};

type HttpResponse = hyper::Response<Full<Bytes>>;

impl EventsApiListener {
    /// Serves `POST /slack/events`, `/slack/interactions` and
    /// `/slack/commands` over HTTP/1.1 on `tcp` until `shutdown` completes;
    /// then stops accepting and waits for the requests in progress (each is
    /// answered at once, so this is quick). Answers exactly like
    /// [`router`](Self::router), which remains the way to mount the routes in
    /// an existing axum application.
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
            // Answers are one small write; don't let Nagle hold them back.
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
            let inner = Arc::clone(&self.inner);
            let service = service_fn(move |request| answer(Arc::clone(&inner), request));
            // Answers are a status line and a few headers: copying them into
            // one buffer for one write is cheaper than a vectored write.
            let connection = http1::Builder::new()
                .writev(false)
                .serve_connection(TokioIo::new(stream), service);
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                // A peer closing its connection is not the listener's error.
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
        }
        drop(tcp);
        graceful.shutdown().await;
        Ok(())
    }
}

async fn answer(
    inner: Arc<Inner>,
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
        return Ok(status(StatusCode::PAYLOAD_TOO_LARGE));
    }
    let body = match Limited::new(body, inner.body_limit()).collect().await {
        Ok(body) => body.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Ok(status(StatusCode::PAYLOAD_TOO_LARGE));
        }
        Err(_) => return Ok(status(StatusCode::BAD_REQUEST)),
    };
    Ok(match inner.deliver(route, &parts.headers, &body) {
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

//! The admin listener (`--admin ADDR`): health and metrics for operators
//! and orchestrators, beside either Slack transport.
//!
//! - `GET /livez`: 200 `ok` while the process serves.
//! - `GET /readyz`: 200 when the state store answers, Slack is connected
//!   (Socket Mode: the websocket is up; Events API: its address is bound)
//!   and SSM is reachable; else 503. The body names each part, `ok` or
//!   `failing` with why. SSM's answer is reused for a few seconds, so
//!   probes do not load SSM.
//! - `GET /metrics`: the Prometheus text format (`chatdeploy_core::metrics`
//!   lists the metrics).
//! - Anything else: 404 (405 for another method on these paths).
//!
//! It has no authentication: bind it to loopback (`127.0.0.1:9102`) or to
//! an address only the orchestrator and the scraper reach. It is bounded
//! all the same, so that it is no way to exhaust the bot: a few
//! connections at once (more are closed at once), one request per
//! connection, the request head within a few seconds and the whole
//! connection within [`CONNECTION_TIMEOUT`]; request bodies are never read.

mod ready;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

pub(crate) use ready::{Parts, Readiness, SlackLink};

/// How many admin connections are served at once; more are closed.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send a request head.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one admin connection may stay open, whatever it does.
pub(crate) const CONNECTION_TIMEOUT: Duration = Duration::from_secs(15);
/// How often histograms are drained between scrapes, so memory stays flat
/// without a scraper.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The Prometheus text format's content type.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

type HttpResponse = Response<Full<Bytes>>;

/// Why the metrics recorder could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// The exporter refused its configuration or another recorder was
    /// installed first.
    #[error("cannot install the metrics recorder: {source}")]
    Install {
        /// What the exporter said.
        #[source]
        source: metrics_exporter_prometheus::BuildError,
    },
}

/// Installs the process's Prometheus recorder, with chatdeploy's
/// histogram buckets and help texts, and returns the handle that renders
/// the scrape.
///
/// # Errors
///
/// [`MetricsError`] when a recorder is already installed.
pub fn install_recorder() -> Result<PrometheusHandle, MetricsError> {
    use chatdeploy_core::metrics as m;
    let install = || {
        PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(m::APPROVAL_WAIT.to_owned()),
                m::APPROVAL_WAIT_BUCKETS,
            )?
            .set_buckets_for_metric(
                Matcher::Full(m::RELEASE_DURATION.to_owned()),
                m::RELEASE_DURATION_BUCKETS,
            )?
            .install_recorder()
    };
    let handle = install().map_err(|source| MetricsError::Install { source })?;
    m::describe();
    m::build_info(env!("CARGO_PKG_VERSION"));
    Ok(handle)
}

/// What the admin routes answer from.
#[derive(Debug)]
pub(crate) struct Admin {
    pub(crate) metrics: PrometheusHandle,
    pub(crate) readiness: Readiness,
}

/// The admin server's tasks; dropping it stops them.
#[derive(Debug)]
pub(crate) struct AdminServer {
    address: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl AdminServer {
    /// Serves `admin` on `tcp` until dropped, and drains the histograms
    /// every few seconds.
    pub(crate) fn start(tcp: TcpListener, admin: Arc<Admin>) -> Self {
        let address = tcp
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let upkeep = {
            let handle = admin.metrics.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(UPKEEP_EVERY).await;
                    handle.run_upkeep();
                }
            })
        };
        let serve = tokio::spawn(serve(tcp, admin));
        Self {
            address,
            tasks: vec![upkeep, serve],
        }
    }

    /// The bound address.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn serve(tcp: TcpListener, admin: Arc<Admin>) {
    let open = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match tcp.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::warn!(%error, "admin listener: cannot accept a connection; retrying shortly");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&open).try_acquire_owned() else {
            tracing::debug!(
                limit = MAX_CONNECTIONS,
                "admin listener: connection limit reached"
            );
            drop(stream);
            continue;
        };
        let admin = Arc::clone(&admin);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let admin = Arc::clone(&admin);
                async move { Ok::<_, Infallible>(answer(&admin, &request).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::debug!(%error, "admin connection ended with an error"),
                Err(_) => tracing::debug!("admin connection closed: too slow"),
            }
            drop(permit);
        });
    }
}

async fn answer(admin: &Admin, request: &Request<Incoming>) -> HttpResponse {
    let path = request.uri().path();
    if !matches!(path, "/livez" | "/readyz" | "/metrics") {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    let head = request.method() == Method::HEAD;
    if request.method() != Method::GET && !head {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let response = match path {
        "/livez" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let report = admin.readiness.check().await;
            let status = if report.ready() {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            text(status, report.text())
        }
        _ => {
            let mut response = HttpResponse::new(Full::new(Bytes::from(admin.metrics.render())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(METRICS_CONTENT_TYPE),
            );
            response
        }
    };
    if head {
        let (parts, _) = response.into_parts();
        return Response::from_parts(parts, Full::new(Bytes::new()));
    }
    response
}

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    let mut response = HttpResponse::new(Full::new(Bytes::from(body.into())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn server() -> (AdminServer, Arc<Admin>) {
        let recorder = PrometheusBuilder::new().build_recorder();
        let admin = Arc::new(Admin {
            metrics: recorder.handle(),
            readiness: Readiness::new(),
        });
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        (AdminServer::start(tcp, Arc::clone(&admin)), admin)
    }

    async fn get(address: SocketAddr, request: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response
    }

    fn request(method: &str, path: &str) -> String {
        format!("{method} {path} HTTP/1.1\r\nHost: admin\r\n\r\n")
    }

    #[tokio::test]
    async fn routes_answer_and_anything_else_is_404() {
        let (server, _admin) = server().await;
        let address = server.address();
        let live = get(address, &request("GET", "/livez")).await;
        assert!(live.starts_with("HTTP/1.1 200"), "{live}");
        assert!(live.ends_with("\r\n\r\nok\n"), "{live}");
        let ready = get(address, &request("GET", "/readyz")).await;
        assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
        assert!(ready.contains("chatdeploy: failing (starting)"), "{ready}");
        let metrics = get(address, &request("GET", "/metrics")).await;
        assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
        assert!(
            metrics.contains("content-type: text/plain; version=0.0.4"),
            "{metrics}"
        );
        for path in ["/", "/metrics/x", "/slack/events", "/livez?x"] {
            let response = get(address, &request("GET", path)).await;
            let want = if path == "/livez?x" { "200" } else { "404" };
            assert!(
                response.starts_with(&format!("HTTP/1.1 {want}")),
                "{path}: {response}"
            );
        }
        let post = get(address, &request("POST", "/livez")).await;
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        let head = get(address, &request("HEAD", "/livez")).await;
        assert!(
            head.starts_with("HTTP/1.1 200") && !head.ends_with("ok\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_and_others_still_served() {
        let (server, _admin) = server().await;
        let address = server.address();
        // Hold every connection slot without sending a thing.
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(tokio::net::TcpStream::connect(address).await.unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Over the limit: closed at once, without an answer (or reset).
        let mut over = tokio::net::TcpStream::connect(address).await.unwrap();
        let _ = over.write_all(request("GET", "/livez").as_bytes()).await;
        let mut answer = Vec::new();
        let _ = over.read_to_end(&mut answer).await;
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        // The header timeout frees the slots.
        let mut first = idle.remove(0);
        let mut buffer = Vec::new();
        let read = tokio::time::timeout(
            HEADER_TIMEOUT + Duration::from_secs(5),
            first.read_to_end(&mut buffer),
        )
        .await;
        assert!(read.is_ok(), "the silent connection is closed in time");
        drop(idle);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let live = get(address, &request("GET", "/livez")).await;
        assert!(live.starts_with("HTTP/1.1 200"), "{live}");
    }
}

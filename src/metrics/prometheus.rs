//! The Prometheus endpoint: `GET /metrics` on `metrics_listen` answers the counters in the
//! Prometheus text format (version 0.0.4), encoded by `prometheus-client` and served by
//! `hyper` (HTTP/1.1) on the publisher's runtime.
//!
//! Every name starts `accesslog_pubsub_`; counters end `_total`. The counters of
//! [`super`] are counters here, `publish_errors` with a `kind` label and `dropped_records`
//! with a `reason` label (every kind and reason present, zero or not); `spool_records`,
//! `memory_records`, `spool_bytes`, `oldest_unpublished_age_seconds` and `start_time_seconds` are gauges;
//! `publish_latency_seconds` is a histogram (buckets from 1 ms to 1 h, see
//! [`crate::stats::LATENCY_BOUNDS_US`]).
//!
//! It listens on a loopback address only (the configuration refuses any other): there is
//! no authentication. At most [`MAX_CONNECTIONS`] connections are served at once, and a
//! client gets [`HEADER_TIMEOUT`] to send its request.

use std::convert::Infallible;
use std::fmt;
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
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::Metrics;
use crate::messages;
use crate::stats::LATENCY_BOUNDS_US;

/// The prefix of every metric's name.
const PREFIX: &str = "accesslog_pubsub";
/// Connections served at once; more wait to be accepted.
pub const MAX_CONNECTIONS: usize = 8;
/// How long a client may take to send its request's head.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Listens on `addr` (at start, so a port in use is said at once).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

/// Answers scrapes until the runtime ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(Collect(metrics)));
    let registry = Arc::new(registry);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut trouble = messages::PerKind::new(Duration::from_secs(60));
    loop {
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait a moment rather than spin.
                if trouble.allow((), std::time::Instant::now()) {
                    messages::warn(format_args!("metrics endpoint: accept failed: {e}"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let registry = Arc::clone(&registry);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = answer(&request, &registry);
                async move { Ok::<_, Infallible>(answer) }
            });
            // A client that goes away or talks nonsense only ends its own connection.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(slot);
        });
    }
}

/// The response to one request: the metrics for `GET /metrics` (and `HEAD`), else 404 or
/// 405.
fn answer(request: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    if request.uri().path() != "/metrics" {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: the metrics are at /metrics\n",
        );
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let mut text = String::with_capacity(4096);
    if prometheus_client::encoding::prometheus_text::encode(&mut text, registry).is_err() {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "encoding failed\n");
    }
    let mut response = Response::new(Full::new(Bytes::from(text)));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(prometheus_client::encoding::prometheus_text::CONTENT_TYPE),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Reads the counters at each scrape.
#[derive(Debug)]
struct Collect(Arc<Metrics>);

impl Collector for Collect {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let c = self.0.counters();
        let s = &c.stats;
        counter(
            &mut e,
            "lines_read",
            "Lines read from stdin, blank lines not included",
            s.lines_read,
        )?;
        counter(
            &mut e,
            "blank_lines",
            "Blank lines read and skipped",
            s.blank_lines,
        )?;
        counter(
            &mut e,
            "truncated_lines",
            "Lines cut at max_line_bytes",
            s.truncated_lines,
        )?;
        counter(
            &mut e,
            "parse_errors",
            "Records that did not match the format (sent with parse_error)",
            s.parse_errors,
        )?;
        counter(
            &mut e,
            "oversized_records",
            "Records cut to fit one Pub/Sub message",
            s.oversized,
        )?;
        counter(
            &mut e,
            "published_records",
            "Records acknowledged by Pub/Sub",
            s.published,
        )?;
        counter(
            &mut e,
            "publish_retries",
            "Publish requests sent again after a transient error",
            s.retries,
        )?;
        counter(
            &mut e,
            "resent_records",
            "Records sent again after the client gave up on them",
            s.resent,
        )?;
        labelled(
            &mut e,
            "publish_errors",
            "Records whose publish failed for good (each attempt counts), by kind",
            "kind",
            s.publish_errors_by_kind(),
        )?;
        counter(
            &mut e,
            "dead_lettered_records",
            "Records refused by Pub/Sub, set aside in dead-letters.jsonl",
            s.dead_lettered,
        )?;
        labelled(
            &mut e,
            "dropped_records",
            "Records lost, by reason",
            "reason",
            c.dropped_by_reason().into_iter(),
        )?;
        counter(
            &mut e,
            "reloads",
            "Configuration reloads (SIGHUP) that took effect",
            s.reloads,
        )?;
        gauge(
            &mut e,
            "spool_records",
            "Records in the spool not yet acknowledged",
            c.spool.records as f64,
        )?;
        gauge(
            &mut e,
            "memory_records",
            "Records held in memory because the spool could not be written, not yet acknowledged",
            c.spool.memory_records as f64,
        )?;
        gauge(
            &mut e,
            "spool_bytes",
            "Bytes of the spool's segment files",
            c.spool.bytes as f64,
        )?;
        gauge(
            &mut e,
            "oldest_unpublished_age_seconds",
            "Age of the oldest record not yet acknowledged, 0 when none",
            c.oldest_unpublished_age().as_secs_f64(),
        )?;
        gauge(
            &mut e,
            "start_time_seconds",
            "When this process started, in seconds since the Unix epoch",
            c.started_at_us as f64 / 1e6,
        )?;
        let h = &s.latency;
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_US
            .iter()
            .map(|us| *us as f64 / 1e6)
            .chain([f64::INFINITY])
            .zip(h.buckets)
            .collect();
        e.encode_descriptor(
            "publish_latency_seconds",
            "Time from reading a record to its acknowledgement by Pub/Sub",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<NoLabelSet>(h.sum_us as f64 / 1e6, h.count(), &buckets, None)
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, value: f64) -> fmt::Result {
    let metric = ConstGauge::new(value);
    metric.encode(e.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A counter with one label, one series per value of it.
fn labelled<'a>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> fmt::Result {
    let mut family = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        ConstCounter::new(n).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types_follow_the_conventions() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_writer, reader) = crate::spool::open(
            crate::spool::SpoolOptions::new(dir.path()),
            crate::spool::StreamContext::default(),
        )
        .expect("spool");
        let stats = Arc::new(crate::stats::Stats::default());
        crate::stats::Stats::add(&stats.lines_read, 3);
        stats.latency.record([0, 0, 0].into_iter(), 30_000);
        let metrics = Arc::new(Metrics::new(Arc::clone(&stats), reader.probe()));
        let mut registry = Registry::with_prefix(PREFIX);
        registry.register_collector(Box::new(Collect(metrics)));
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)
            .expect("encodes");
        for want in [
            "# TYPE accesslog_pubsub_lines_read_total counter\naccesslog_pubsub_lines_read_total 3\n",
            "accesslog_pubsub_publish_errors_total{kind=\"topic_not_found\"} 0\n",
            "accesslog_pubsub_dropped_records_total{reason=\"spool_full\"} 0\n",
            "# TYPE accesslog_pubsub_spool_records gauge\n",
            "# TYPE accesslog_pubsub_publish_latency_seconds histogram\n",
            "accesslog_pubsub_publish_latency_seconds_bucket{le=\"0.025\"} 0\n",
            "accesslog_pubsub_publish_latency_seconds_bucket{le=\"0.05\"} 3\n",
            "accesslog_pubsub_publish_latency_seconds_bucket{le=\"+Inf\"} 3\n",
            "accesslog_pubsub_publish_latency_seconds_count 3\n",
        ] {
            assert!(text.contains(want), "{want:?} missing from:\n{text}");
        }
    }
}

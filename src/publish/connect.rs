//! Builds the `google-cloud-pubsub` publisher client from the configuration: endpoint,
//! credentials, batching thresholds, and a retry policy fit for a logger with a spool.
//!
//! The crate's defaults give up on transient errors after 10 minutes and back off up to 60 s
//! behind an adaptive throttler that, once it has seen only failures, suppresses almost every
//! retry. Here transient errors (unreachable, UNAVAILABLE, DEADLINE_EXCEEDED, ...) are retried
//! for as long as it takes, backing off from 100 ms to 2 s with no throttling, and every RPC
//! attempt gets its own deadline so a frozen connection cannot hold a batch forever.
//! Permanent errors (NOT_FOUND, PERMISSION_DENIED, ...) come back at once; the publish loop
//! keeps those records and tries again later.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use google_cloud_auth::credentials::Credentials;
use google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder;
use google_cloud_gax::retry_policy::RetryPolicy;
use google_cloud_gax::retry_result::RetryResult;
use google_cloud_gax::retry_state::RetryState;
use google_cloud_gax::retry_throttler::CircuitBreaker;
use google_cloud_pubsub::client::Publisher;
use google_cloud_pubsub::retry_policy::RetryableErrors;
use thiserror::Error;

use crate::config::{Config, Endpoint};
use crate::destination::Destination;
use crate::stats::Stats;

/// How long one publish RPC attempt may take before it is abandoned and retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
/// Backoff between attempts on transient errors: stays well under `ATTEMPT_TIMEOUT`.
const BACKOFF_INITIAL: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// The topic could not be set up for publishing.
#[derive(Debug, Error)]
pub enum ConnectError {
    #[error("--project and --topic are required to publish (or set them in the config file)")]
    MissingTopic,
    /// `from` names the source: `credentials file PATH`, or Application Default Credentials.
    #[error("{from}: {message}")]
    Credentials { from: String, message: String },
    #[error("cannot create the Pub/Sub client: {0}")]
    Client(String),
}

/// The last transient error the retry loop saw, for the periodic report; each retry is
/// counted in `stats.retries`.
#[derive(Debug, Default)]
pub struct TransientErrors {
    last: Mutex<Option<(Instant, Arc<str>)>>,
    stats: Arc<Stats>,
}

impl TransientErrors {
    /// Counts the retries into `stats`.
    pub fn counting_into(stats: Arc<Stats>) -> TransientErrors {
        TransientErrors {
            last: Mutex::default(),
            stats,
        }
    }

    fn record(&self, message: String) {
        Stats::add(&self.stats.retries, 1);
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), message.into()));
        }
    }

    /// The last transient error, if one happened since `since` (shared, not copied: the
    /// publish loop asks several times a second during an outage).
    pub fn since(&self, since: Instant) -> Option<Arc<str>> {
        let last = self.last.lock().ok()?;
        last.as_ref()
            .filter(|(at, _)| *at >= since)
            .map(|(_, message)| Arc::clone(message))
    }
}

/// Retries what `RetryableErrors` calls transient, forever; gives each attempt its own deadline.
#[derive(Debug)]
struct RetryTransientForever {
    seen: Arc<TransientErrors>,
}

impl RetryPolicy for RetryTransientForever {
    fn on_error(&self, state: &RetryState, error: google_cloud_pubsub::Error) -> RetryResult {
        let result = RetryableErrors.on_error(state, error);
        if let RetryResult::Continue(e) = &result {
            self.seen.record(super::trouble::describe_transient(e));
        }
        result
    }

    fn remaining_time(&self, _state: &RetryState) -> Option<Duration> {
        Some(ATTEMPT_TIMEOUT)
    }
}

/// The destination the configuration names, which the piped logger needs.
pub fn destination(config: &Config) -> Result<Destination, ConnectError> {
    config.destination().ok_or(ConnectError::MissingTopic)
}

/// The credentials the configuration asks for: none for an emulator (anonymous), the
/// `credentials_file`, or Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`,
/// gcloud's file, the metadata server). Files are read here, at once, so this runs before
/// privileges are dropped; tokens are fetched later, when publishing.
pub fn credentials(config: &Config) -> Result<Credentials, ConnectError> {
    match (&config.publish.endpoint, &config.publish.credentials_file) {
        (Endpoint::Emulator(_), _) => {
            Ok(google_cloud_auth::credentials::anonymous::Builder::new().build())
        }
        (_, Some(path)) => credentials_from_file(path),
        (_, None) => google_cloud_auth::credentials::Builder::default()
            .build()
            .map_err(|e| ConnectError::Credentials {
                from: "Application Default Credentials".into(),
                message: e.to_string(),
            }),
    }
}

/// How a client groups messages into requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Batching {
    /// By the configured thresholds.
    Configured,
    /// One message per request, so Pub/Sub's verdict on a request is its verdict on that
    /// message.
    OnePerRequest,
}

/// Builds a publisher client for `topic` (a topic path). Does no I/O towards Pub/Sub; needs
/// a running tokio runtime.
pub async fn publisher(
    config: &Config,
    topic: &str,
    batching: Batching,
    credentials: Credentials,
    seen: Arc<TransientErrors>,
) -> Result<Publisher, ConnectError> {
    let backoff = ExponentialBackoffBuilder::new()
        .with_initial_delay(BACKOFF_INITIAL)
        .with_maximum_delay(BACKOFF_MAX)
        .with_scaling(4.0)
        .clamp();
    let count = match batching {
        Batching::Configured => config.publish.batch_max_messages,
        Batching::OnePerRequest => 1,
    };
    let mut builder = Publisher::builder(topic)
        .set_message_count_threshold(count)
        .set_byte_threshold(config.publish.batch_max_bytes)
        .set_delay_threshold(config.publish.batch_max_delay)
        .with_retry_policy(RetryTransientForever { seen })
        .with_backoff_policy(backoff)
        .with_retry_throttler(CircuitBreaker::clamp(1, 0, 0))
        .with_credentials(credentials);
    if let Endpoint::Emulator(url) | Endpoint::Custom(url) = &config.publish.endpoint {
        builder = builder.with_endpoint(url);
    }
    builder
        .build()
        .await
        .map_err(|e| ConnectError::Client(e.to_string()))
}

/// Credentials from a JSON file of any type Google issues (service account key, authorized
/// user, external account, impersonated service account).
fn credentials_from_file(path: &Path) -> Result<Credentials, ConnectError> {
    use google_cloud_auth::credentials::{
        external_account, impersonated, service_account, user_account,
    };
    let fail = |message: String| ConnectError::Credentials {
        from: format!("credentials file {}", path.display()),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| fail(format!("not JSON: {e}")))?;
    let kind = json
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    let built = match kind.as_str() {
        "service_account" => service_account::Builder::new(json).build(),
        "authorized_user" => user_account::Builder::new(json).build(),
        "external_account" => external_account::Builder::new(json).build(),
        "impersonated_service_account" => impersonated::Builder::new(json).build(),
        other => {
            return Err(fail(format!(
                "unsupported credentials type {other:?} (expected service_account, \
                 authorized_user, external_account or impersonated_service_account)"
            )));
        }
    };
    built.map_err(|e| fail(e.to_string()))
}

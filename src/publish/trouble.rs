//! Turns publish failures into one readable line each, saying what to fix. Each kind of
//! trouble is said at most once per [`REPEAT_AFTER`] (a [`crate::messages::PerKind`] keyed
//! by [`Kind`]), so stderr (Apache's error log) is not flooded.

use std::time::Duration;

use google_cloud_gax::error::rpc::Code;
use google_cloud_pubsub::error::PublishError;

/// The same kind of trouble is reported again only after this long.
pub const REPEAT_AFTER: Duration = Duration::from_secs(30);

/// What went wrong with a publish, as far as the operator is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    TopicNotFound,
    PermissionDenied,
    Unauthenticated,
    Rejected,
    OrderingKeyPaused,
    Shutdown,
    Other,
}

impl Kind {
    /// Every kind, in declaration order (`kind as usize` is its index here).
    pub const ALL: [Kind; 7] = [
        Kind::TopicNotFound,
        Kind::PermissionDenied,
        Kind::Unauthenticated,
        Kind::Rejected,
        Kind::OrderingKeyPaused,
        Kind::Shutdown,
        Kind::Other,
    ];
    pub const COUNT: usize = Kind::ALL.len();

    /// The kind as the metrics name it.
    pub fn label(self) -> &'static str {
        match self {
            Kind::TopicNotFound => "topic_not_found",
            Kind::PermissionDenied => "permission_denied",
            Kind::Unauthenticated => "unauthenticated",
            Kind::Rejected => "rejected",
            Kind::OrderingKeyPaused => "ordering_key_paused",
            Kind::Shutdown => "shutdown",
            Kind::Other => "other",
        }
    }
}

/// Sorts a publish error into a [`Kind`].
pub fn classify(error: &PublishError) -> Kind {
    match error {
        PublishError::OrderingKeyPaused => Kind::OrderingKeyPaused,
        PublishError::Shutdown => Kind::Shutdown,
        PublishError::Rpc(e) if e.is_authentication() => Kind::Unauthenticated,
        PublishError::Rpc(e) => match e.status().map(|s| s.code) {
            Some(Code::NotFound) => Kind::TopicNotFound,
            Some(Code::PermissionDenied) => Kind::PermissionDenied,
            Some(Code::Unauthenticated) => Kind::Unauthenticated,
            Some(Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange) => {
                Kind::Rejected
            }
            _ => Kind::Other,
        },
        _ => Kind::Other,
    }
}

/// Pub/Sub refused the request as invalid (INVALID_ARGUMENT): for a request of one message,
/// that message can never be accepted.
pub fn refused(error: &PublishError) -> bool {
    matches!(error, PublishError::Rpc(e) if e.status().is_some_and(|s| s.code == Code::InvalidArgument))
}

/// One line: what failed, why, and what to do about it.
pub fn describe(kind: Kind, error: &PublishError, topic: &str, records: usize) -> String {
    let (project, short) = split_topic(topic);
    let what = match kind {
        Kind::TopicNotFound => format!(
            "topic {topic} does not exist: create it (gcloud pubsub topics create {short} \
             --project {project}) or fix `project`/`topic`"
        ),
        Kind::PermissionDenied => format!(
            "permission denied on {topic}: grant roles/pubsub.publisher on the topic to the \
             account in use (credentials_file or Application Default Credentials)"
        ),
        Kind::Unauthenticated => format!(
            "credentials rejected or unavailable for {topic}: check credentials_file or \
             GOOGLE_APPLICATION_CREDENTIALS ({error})"
        ),
        Kind::Rejected => format!("Pub/Sub refused messages for {topic}: {error}"),
        Kind::OrderingKeyPaused | Kind::Shutdown | Kind::Other => {
            format!("publishing to {topic} failed: {error}")
        }
    };
    format!("{what}; {records} records kept, retrying")
}

/// A transient error (retried) as one readable line: the client's own text, except where
/// its cause is a server certificate that TLS refused, which is said plainly with what to
/// check. The client's text for that ends in a nested transport error dump.
pub fn describe_transient(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(why) = e.to_string().strip_prefix("invalid peer certificate: ") {
            return format!(
                "TLS refused the server's certificate ({why}): it must be valid for the \
                 endpoint's host name and signed by a CA in the system trust store"
            );
        }
        cause = e.source();
    }
    error.to_string()
}

fn split_topic(topic: &str) -> (&str, &str) {
    let mut parts = topic.split('/');
    let project = parts.nth(1).unwrap_or("PROJECT");
    let short = parts.nth(1).unwrap_or("TOPIC");
    (project, short)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error with a cause, as the client's errors nest them.
    #[derive(Debug, thiserror::Error)]
    #[error("cannot connect to endpoint: transport dump")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn a_refused_certificate_is_said_plainly() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: UnknownIssuer",
        );
        let line = describe_transient(&Outer(tls));
        assert!(
            line.starts_with("TLS refused the server's certificate (UnknownIssuer)"),
            "{line}"
        );
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert_eq!(
            describe_transient(&Outer(refused)),
            "cannot connect to endpoint: transport dump"
        );
    }

    #[test]
    fn each_kind_is_at_its_own_index() {
        for (i, kind) in Kind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i, "{kind:?}");
        }
    }

    #[test]
    fn topic_not_found_says_how_to_create_it() {
        let line = describe(
            Kind::TopicNotFound,
            &PublishError::Shutdown,
            "projects/acme/topics/weblogs",
            12,
        );
        assert!(
            line.contains("gcloud pubsub topics create weblogs --project acme"),
            "{line}"
        );
        assert!(line.ends_with("12 records kept, retrying"), "{line}");
    }
}

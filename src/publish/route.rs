//! Where each batch goes, and the clients that take it there.
//!
//! A batch goes to the destination its segment records. Segments that record none (written
//! by version 1, with a damaged header, or read without a usable configuration) go to the
//! fallback destination, the configured one. A [`Redirect`] (`spool replay --to-project`,
//! `--to-topic`) moves them all on purpose, keeping what else each destination says.
//!
//! There is one client per destination topic, made when a batch first needs it, so a
//! segment written under another configuration goes on to its own topic; and, for records
//! Pub/Sub refused as invalid, a second one that sends one message per request (see
//! [`super`]).

use std::collections::HashMap;
use std::sync::Arc;

use google_cloud_auth::credentials::Credentials;
use google_cloud_pubsub::client::Publisher;

use super::connect::{self, Batching, ConnectError, TransientErrors};
use crate::config::Config;
use crate::destination::Destination;
use crate::spool::{Route, SegmentInfo};

/// Replaces the recorded project and topic of every destination (what is `None` stays).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redirect {
    pub project: Option<String>,
    pub topic: Option<String>,
}

impl Redirect {
    pub fn apply(&self, mut destination: Destination) -> Destination {
        if let Some(project) = &self.project {
            destination.project.clone_from(project);
        }
        if let Some(topic) = &self.topic {
            destination.topic.clone_from(topic);
        }
        destination
    }
}

/// Batches -> destinations -> clients.
pub struct Routes {
    /// For segments without a recorded destination, redirected already.
    fallback: Option<Arc<Destination>>,
    redirect: Redirect,
    clients: HashMap<(String, Batching), Publisher>,
    /// Clients of an earlier configuration, kept so what they still send is not cut off.
    retired: Vec<Publisher>,
    /// Every client's credentials (one token cache for all of them).
    credentials: Credentials,
    transient: Arc<TransientErrors>,
}

impl Routes {
    /// Sends segments without a recorded destination to `fallback` (none: such segments
    /// have nowhere to go), everything through `redirect`.
    pub fn new(
        fallback: Option<Destination>,
        redirect: Redirect,
        credentials: Credentials,
        transient: Arc<TransientErrors>,
    ) -> Routes {
        Routes {
            fallback: fallback.map(|d| Arc::new(redirect.apply(d))),
            redirect,
            clients: HashMap::new(),
            retired: Vec::new(),
            credentials,
            transient,
        }
    }

    /// A new configuration (a reload): segments without a recorded destination go to
    /// `fallback` from now on, and new clients are made (with `credentials`, the new
    /// endpoint and batching) as batches need them.
    pub fn reconfigure(&mut self, fallback: Option<Destination>, credentials: Credentials) {
        self.fallback = fallback.map(|d| Arc::new(self.redirect.apply(d)));
        self.credentials = credentials;
        self.retired
            .extend(self.clients.drain().map(|(_, client)| client));
    }

    /// Where the records of a segment with this header go; `None` if nowhere.
    pub fn destination(&self, segment: &SegmentInfo) -> Option<Arc<Destination>> {
        match &segment.route {
            Route::To(d) if self.redirect == Redirect::default() => Some(Arc::clone(d)),
            Route::To(d) => Some(Arc::new(self.redirect.apply((**d).clone()))),
            Route::Unrecorded | Route::Unconfigured => self.fallback.clone(),
            Route::Unsupported(_) => None,
        }
    }

    /// The client that publishes to `destination`'s topic with `batching`, made on first
    /// use (no I/O towards Pub/Sub).
    pub async fn client(
        &mut self,
        config: &Config,
        destination: &Destination,
        batching: Batching,
    ) -> Result<Publisher, ConnectError> {
        let key = (destination.topic_path(), batching);
        if let Some(client) = self.clients.get(&key) {
            return Ok(client.clone());
        }
        let transient = Arc::clone(&self.transient);
        let client = connect::publisher(
            config,
            &key.0,
            batching,
            self.credentials.clone(),
            transient,
        )
        .await?;
        self.clients.insert(key, client.clone());
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(project: &str, topic: &str) -> Destination {
        Destination {
            project: project.into(),
            topic: topic.into(),
            attributes: [("env".to_string(), "prod".to_string())].into(),
            attribute_fields: Vec::new(),
            ordering_key_field: None,
        }
    }

    fn anonymous() -> Credentials {
        google_cloud_auth::credentials::anonymous::Builder::new().build()
    }

    fn segment(route: Route) -> SegmentInfo {
        SegmentInfo {
            stream: 1,
            created_us: 2,
            kind: crate::spool::StreamKind::AccessLog,
            format: String::new(),
            host: String::new(),
            route,
        }
    }

    #[test]
    fn recorded_destinations_win_over_the_configured_one_unless_redirected() {
        let transient = Arc::new(TransientErrors::default());
        let a = Route::To(Arc::new(dest("p", "topica")));
        let plain = Routes::new(
            Some(dest("p", "topicb")),
            Redirect::default(),
            anonymous(),
            Arc::clone(&transient),
        );
        assert_eq!(
            plain.destination(&segment(a.clone())),
            Some(Arc::new(dest("p", "topica")))
        );
        assert_eq!(
            plain.destination(&segment(Route::Unrecorded)),
            Some(Arc::new(dest("p", "topicb")))
        );
        assert_eq!(
            plain.destination(&segment(Route::Unsupported("v3".into()))),
            None
        );
        let moved = Routes::new(
            None,
            Redirect {
                project: None,
                topic: Some("topicc".into()),
            },
            anonymous(),
            transient,
        );
        assert_eq!(
            moved.destination(&segment(a)),
            Some(Arc::new(dest("p", "topicc")))
        );
        assert_eq!(moved.destination(&segment(Route::Unconfigured)), None);
    }
}

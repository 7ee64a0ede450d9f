//! Where recorded core/v1 Events are written (client-go `record.EventSink`), and the
//! sink that writes them through the typed clientset (client-go
//! `typedcorev1.EventSinkImpl`).

use std::future::Future;

use k8s_openapi::api::core::v1::Event;

use crate::kubernetes::Clientset;
use crate::rest::{CreateOptions, Error, PatchOptions, PatchType, UpdateOptions};

/// Stores events (client-go `record.EventSink`). Each call writes one event in the
/// event's own namespace and returns it as stored.
pub trait EventSink: Send + Sync + 'static {
    /// Creates `event`.
    fn create(&self, event: &Event) -> impl Future<Output = Result<Event, Error>> + Send;
    /// Replaces `event`.
    fn update(&self, event: &Event) -> impl Future<Output = Result<Event, Error>> + Send;
    /// Applies the strategic merge patch `patch` to the stored event named like `event`.
    fn patch(&self, event: &Event, patch: &serde_json::Value) -> impl Future<Output = Result<Event, Error>> + Send;
}

/// The sink that writes Events through a [`Clientset`] (client-go `EventSinkImpl` over
/// `CoreV1().Events("")`).
#[derive(Clone, Debug)]
pub struct EventSinkImpl {
    clientset: Clientset,
}

impl EventSinkImpl {
    /// A sink writing through `clientset`.
    pub fn new(clientset: Clientset) -> Self {
        EventSinkImpl { clientset }
    }
}

fn namespace(event: &Event) -> &str {
    event.metadata.namespace.as_deref().unwrap_or("")
}

impl EventSink for EventSinkImpl {
    async fn create(&self, event: &Event) -> Result<Event, Error> {
        self.clientset.core_v1().events(namespace(event)).create(event, &CreateOptions::default()).await
    }

    async fn update(&self, event: &Event) -> Result<Event, Error> {
        self.clientset.core_v1().events(namespace(event)).update(event, &UpdateOptions::default()).await
    }

    async fn patch(&self, event: &Event, patch: &serde_json::Value) -> Result<Event, Error> {
        let name = event.metadata.name.as_deref().unwrap_or("");
        self.clientset
            .core_v1()
            .events(namespace(event))
            .patch(name, PatchType::StrategicMerge, patch, &PatchOptions::default())
            .await
    }
}

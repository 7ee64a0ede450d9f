//! Where recorded Events are written (client-go `record.EventSink` and `events.EventSink`),
//! and the one sink that writes them through the typed clientset (client-go's two
//! `EventSinkImpl`s).
//!
//! Both recorders of this module use it: the core/v1 [`EventBroadcaster`](super::EventBroadcaster)
//! writes `core/v1` Events, the [`events`](super::events) broadcaster writes
//! `events.k8s.io/v1` Events. client-go has an `EventSink` interface and an
//! `EventSinkImpl` for each; here one trait, generic over the Event type, and one
//! [`EventSinkImpl`] that writes either, through the clientset's `core_v1().events(ns)` or
//! `events_v1().events(ns)`.

use std::future::Future;

use k8s_openapi::api::core::v1::Event as CoreEvent;
use k8s_openapi::api::events::v1::Event as EventsV1Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::Metadata;

use crate::kubernetes::{Clientset, ResourceClient};
use crate::rest::{CreateOptions, Error, PatchOptions, PatchType, UpdateOptions};

/// Stores events of type `E` (client-go `record.EventSink` for `core/v1` Events, the
/// default, and `events.EventSink` for `events.k8s.io/v1` Events). Each call writes one
/// event in the event's own namespace and returns it as stored.
pub trait EventSink<E = CoreEvent>: Send + Sync + 'static {
    /// Creates `event`.
    fn create(&self, event: &E) -> impl Future<Output = Result<E, Error>> + Send;
    /// Replaces `event`.
    fn update(&self, event: &E) -> impl Future<Output = Result<E, Error>> + Send;
    /// Applies the strategic merge patch `patch` to the stored event named like `event`.
    fn patch(&self, event: &E, patch: &serde_json::Value) -> impl Future<Output = Result<E, Error>> + Send;
}

/// An Event type a [`Clientset`] can write: `core/v1` or `events.k8s.io/v1`.
pub trait RecordedEvent:
    k8s_openapi::Resource
    + Metadata<Ty = ObjectMeta>
    + serde::Serialize
    + serde::de::DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The clientset's client for these Events in `namespace`.
    fn client(clientset: &Clientset, namespace: &str) -> ResourceClient<Self>;
}

impl RecordedEvent for CoreEvent {
    fn client(clientset: &Clientset, namespace: &str) -> ResourceClient<Self> {
        clientset.core_v1().events(namespace)
    }
}

impl RecordedEvent for EventsV1Event {
    fn client(clientset: &Clientset, namespace: &str) -> ResourceClient<Self> {
        clientset.events_v1().events(namespace)
    }
}

/// The sink that writes Events through a [`Clientset`] (client-go `EventSinkImpl` over
/// `CoreV1().Events("")`, and `events.EventSinkImpl` over `EventsV1()`): an
/// [`EventSink`] of both Event types.
#[derive(Clone, Debug)]
pub struct EventSinkImpl {
    clientset: Clientset,
}

impl EventSinkImpl {
    /// A sink writing through `clientset`.
    pub fn new(clientset: Clientset) -> Self {
        EventSinkImpl { clientset }
    }

    fn client<E: RecordedEvent>(&self, event: &E) -> ResourceClient<E> {
        E::client(&self.clientset, event.metadata().namespace.as_deref().unwrap_or(""))
    }
}

impl<E: RecordedEvent> EventSink<E> for EventSinkImpl {
    async fn create(&self, event: &E) -> Result<E, Error> {
        self.client(event).create(event, &CreateOptions::default()).await
    }

    async fn update(&self, event: &E) -> Result<E, Error> {
        self.client(event).update(event, &UpdateOptions::default()).await
    }

    async fn patch(&self, event: &E, patch: &serde_json::Value) -> Result<E, Error> {
        let name = event.metadata().name.as_deref().unwrap_or("");
        self.client(event).patch(name, PatchType::StrategicMerge, patch, &PatchOptions::default()).await
    }
}

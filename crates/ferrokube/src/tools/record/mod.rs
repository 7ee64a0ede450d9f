//! `tools::record`: recording Kubernetes Events about objects, as controllers do
//! (client-go `tools/record`, and `tools/events` as [`events`]).
//!
//! The flow: a controller holds an [`EventRecorder`] and calls
//! `recorder.event(&object_ref, EventType::Normal, "Reason", "message")`. The call
//! returns at once; the event goes to the [`EventBroadcaster`], which hands it to each
//! watcher through a bounded queue (1000 events; a full queue drops the event and
//! counts it). The watcher started by
//! [`start_recording_to_sink`](EventBroadcaster::start_recording_to_sink) runs each
//! event through an [`EventCorrelator`] (aggregation, deduplication, spam filter; see
//! [`correlator`]) and writes it through an [`EventSink`] — [`EventSinkImpl`] writes
//! through the typed clientset.
//!
//! ```no_run
//! # async fn demo(clientset: ferrokube::kubernetes::Clientset, pod: k8s_openapi::api::core::v1::Pod) {
//! use ferrokube::tools::record::{get_reference, EventBroadcaster, EventSinkImpl, EventType};
//! use k8s_openapi::api::core::v1::EventSource;
//!
//! let broadcaster = EventBroadcaster::new();
//! let _writer = broadcaster.start_recording_to_sink(EventSinkImpl::new(clientset));
//! let recorder = broadcaster.new_recorder(EventSource { component: Some("my-controller".into()), host: None });
//! recorder.eventf(&get_reference(&pod), EventType::Normal, "Synced", format_args!("pod {} synced", 1));
//! # }
//! ```
//!
//! Where ferrokube differs on purpose: the event type is the [`EventType`] enum, so an
//! invalid type cannot be recorded (client-go logs and drops it); recorders take an
//! `ObjectReference` (make one with [`get_reference`]) rather than any object and a
//! scheme; watchers count what they did ([`EventWatcherStats`]); and correlator keys
//! separate their parts (client-go concatenates them, so distinct events can collide).

pub mod broadcaster;
pub mod correlator;
pub mod events;
mod lru;
pub mod sink;
mod util;

pub use broadcaster::{BroadcasterOptions, EventBroadcaster, EventRecorder, EventWatcher, EventWatcherStats};
pub use correlator::{CorrelatorOptions, EventCorrelateResult, EventCorrelator};
pub use sink::{EventSink, EventSinkImpl};
pub use util::{generate_event_name, get_reference, Clock, EventType, RealClock};

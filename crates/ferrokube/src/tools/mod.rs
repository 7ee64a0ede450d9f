//! `tools`: client-side machinery built on the request and watch paths (client-go
//! `tools`).
//!
//! Only [`cache`] lives here for now: reflectors, stores/indexers and shared informers,
//! the consumer end of the watch path.
#![warn(missing_docs)]

pub mod cache;

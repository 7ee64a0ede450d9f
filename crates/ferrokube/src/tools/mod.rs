//! `tools`: client-side machinery built on the request and watch paths (client-go
//! `tools`).
//!
//! [`cache`]: reflectors, stores/indexers and shared informers, the consumer end of the
//! watch path. [`pager`]: listing page by page, the next page fetched while the current
//! one decodes.

pub mod cache;
pub mod pager;
pub mod watch;

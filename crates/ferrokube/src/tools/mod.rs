//! `tools`: client-side machinery built on the request and watch paths (client-go
//! `tools`).
//!
//! [`cache`]: reflectors, stores/indexers and shared informers, the consumer end of the
//! watch path. [`pager`]: listing page by page, the next page fetched while the current
//! one decodes. [`leaderelection`]: one active replica among many, through a Lease.
//! [`record`]: recording Events about objects without flooding the server. [`watch`]:
//! watches that resume on their own (`RetryWatcher`) and waiting for a condition (`until`).
//! [`metrics`]: the hooks every request reports to (a leaf: the request path depends on it).

pub mod cache;
pub mod leaderelection;
pub mod metrics;
pub mod pager;
pub mod record;
pub mod watch;

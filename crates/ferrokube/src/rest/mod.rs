//! `rest`: Config, RESTClient, Request builder. (Being written.)
pub mod config;
pub use config::Config;

//! Measured decisions for issue 14 ("hand-written code that a kept crate does"): ours
//! against the crate, on correctness and speed, for JSON patch / merge patch
//! ([`patches`], [`workload`]) and for reading a client certificate's subject
//! ([`certs`]). `main` prints the tables; the tests hold the findings. See README.md.

pub mod certs;
pub mod patches;
pub mod timing;
pub mod workload;

//! Per-resource API semantics over [`crate::storage`]: see the `api` module for the seam.
//! (Being written.)

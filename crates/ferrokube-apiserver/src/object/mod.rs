//! What every layer knows about an object, below the registry, `apiextensions` and the
//! controllers alike: metadata helpers ([`meta`]: uids, timestamps, generated names,
//! field access, per-version views), the wording of bodies that do not decode
//! ([`decode_errors`]), the field errors and `ApiError` builders worded
//! as kube-apiserver words them ([`errors`]), and name, label and metadata validation
//! ([`validation`]).
//!
//! Before, these lived in `registry` and `apiextensions` reached into the registry for
//! them while the registry called `apiextensions` (a cycle); now both point down here.
//! The old paths (`registry::{errors, meta, validation}`) are re-exports inside the
//! crate.

pub(crate) mod decode_errors;
pub(crate) mod errors;
pub(crate) mod meta;
pub(crate) mod validation;

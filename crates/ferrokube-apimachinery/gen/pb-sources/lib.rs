//! Empty on purpose: this package only pins the k8s-pb sources that `gen_protobuf.py`
//! reads (see Cargo.toml); it is never built.

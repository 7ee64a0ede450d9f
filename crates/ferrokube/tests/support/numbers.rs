//! `Numbers`: a ConfigMap whose data values must be numbers. The API server stores any
//! string, so an object with `v: "x"` is a real watch event that cannot be decoded —
//! the tests use it to check that decode failures are reported, never skipped.

use std::collections::BTreeMap;

use ferrokube::tools::cache::HasObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;

/// A ConfigMap decoded with numeric data values.
#[derive(Debug, Deserialize)]
pub struct Numbers {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub data: BTreeMap<String, Number>,
}

/// A data value that must parse as a number.
#[derive(Debug)]
pub struct Number(pub u64);

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map(Number).map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number")))
    }
}

impl HasObjectMeta for Numbers {
    fn object_meta(&self) -> &ObjectMeta {
        &self.metadata
    }
}

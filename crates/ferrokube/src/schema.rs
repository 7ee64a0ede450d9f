//! `schema`: the names that identify API types and resources (apimachinery
//! `runtime/schema`): [`GroupVersion`], [`GroupVersionKind`], [`GroupVersionResource`],
//! [`GroupKind`] and [`GroupResource`].
//!
//! The typed clients take these from k8s-openapi's constants; the dynamic, metadata and
//! scale clients take a [`GroupVersionResource`] from the caller (often from the
//! [`restmapper`](crate::restmapper), which turns kinds and short names into resources).
//! The core group is the empty string.

use std::fmt;

/// Splits `group/version` (or `version` for the core group) into its parts.
fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

/// A group and a version, e.g. `apps/v1`; the core group is `""` (written `v1`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersion {
    /// API group; empty for the core group.
    pub group: String,
    /// Version, e.g. `v1`.
    pub version: String,
}

impl GroupVersion {
    /// A group version from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>) -> Self {
        GroupVersion { group: group.into(), version: version.into() }
    }

    /// Parses an `apiVersion` string: `apps/v1` or `v1`.
    pub fn parse(api_version: &str) -> Self {
        let (g, v) = split_api_version(api_version);
        GroupVersion::new(g, v)
    }

    /// The `apiVersion` form: `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

impl fmt::Display for GroupVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.api_version())
    }
}

/// A kind in a group, without version, e.g. `Deployment.apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupKind {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupKind {
    /// A group kind from its parts.
    pub fn new(group: impl Into<String>, kind: impl Into<String>) -> Self {
        GroupKind { group: group.into(), kind: kind.into() }
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// A resource in a group, without version, e.g. `deployments.apps`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Resource (plural, lower case), e.g. `deployments`.
    pub resource: String,
}

impl GroupResource {
    /// A group resource from its parts.
    pub fn new(group: impl Into<String>, resource: impl Into<String>) -> Self {
        GroupResource { group: group.into(), resource: resource.into() }
    }

    /// Parses kubectl's `resource.group` form: `deployments.apps` ->
    /// (`apps`, `deployments`); `pods` -> (``, `pods`).
    pub fn parse(text: &str) -> Self {
        match text.split_once('.') {
            Some((r, g)) => GroupResource::new(g, r),
            None => GroupResource::new("", text),
        }
    }
}

impl fmt::Display for GroupResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.resource)
        } else {
            write!(f, "{}.{}", self.resource, self.group)
        }
    }
}

/// A kind at a group version, e.g. `apps/v1, Kind=Deployment`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersionKind {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
}

impl GroupVersionKind {
    /// A GVK from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>, kind: impl Into<String>) -> Self {
        GroupVersionKind { group: group.into(), version: version.into(), kind: kind.into() }
    }

    /// A GVK from an object's `apiVersion` and `kind`.
    pub fn from_api_version_kind(api_version: &str, kind: &str) -> Self {
        let (g, v) = split_api_version(api_version);
        GroupVersionKind::new(g, v, kind)
    }

    /// The GVK of a k8s-openapi type.
    pub fn of<K: k8s_openapi::Resource>() -> Self {
        GroupVersionKind::new(K::GROUP, K::VERSION, K::KIND)
    }

    /// The group version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group kind.
    pub fn group_kind(&self) -> GroupKind {
        GroupKind::new(&self.group, &self.kind)
    }

    /// The `apiVersion` form of the group version.
    pub fn api_version(&self) -> String {
        self.group_version().api_version()
    }
}

impl fmt::Display for GroupVersionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Kind={}", self.api_version(), self.kind)
    }
}

/// A resource at a group version, e.g. `apps/v1, Resource=deployments`: what a URL
/// path names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupVersionResource {
    /// API group; empty for the core group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource (plural, lower case), e.g. `deployments`.
    pub resource: String,
}

impl GroupVersionResource {
    /// A GVR from its parts.
    pub fn new(group: impl Into<String>, version: impl Into<String>, resource: impl Into<String>) -> Self {
        GroupVersionResource { group: group.into(), version: version.into(), resource: resource.into() }
    }

    /// A GVR from an `apiVersion` string and a resource: `("apps/v1", "deployments")`.
    pub fn from_api_version(api_version: &str, resource: impl Into<String>) -> Self {
        let (g, v) = split_api_version(api_version);
        GroupVersionResource::new(g, v, resource)
    }

    /// The GVR of a k8s-openapi type.
    pub fn of<K: k8s_openapi::Resource>() -> Self {
        GroupVersionResource::new(K::GROUP, K::VERSION, K::URL_PATH_SEGMENT)
    }

    /// The group version.
    pub fn group_version(&self) -> GroupVersion {
        GroupVersion::new(&self.group, &self.version)
    }

    /// The group resource.
    pub fn group_resource(&self) -> GroupResource {
        GroupResource::new(&self.group, &self.resource)
    }
}

impl fmt::Display for GroupVersionResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, Resource={}", self.group_version(), self.resource)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!(GroupVersion::parse("apps/v1"), GroupVersion::new("apps", "v1"));
        assert_eq!(GroupVersion::parse("v1").api_version(), "v1");
        assert_eq!(GroupResource::parse("deployments.apps"), GroupResource::new("apps", "deployments"));
        assert_eq!(GroupResource::parse("cronjobs.batch.k8s.io"), GroupResource::new("batch.k8s.io", "cronjobs"));
        assert_eq!(GroupKind::new("apps", "Deployment").to_string(), "Deployment.apps");
        let gvr = GroupVersionResource::of::<k8s_openapi::api::apps::v1::Deployment>();
        assert_eq!(gvr.to_string(), "apps/v1, Resource=deployments");
        let gvk = GroupVersionKind::from_api_version_kind("v1", "Pod");
        assert_eq!((gvk.group.as_str(), gvk.to_string().as_str()), ("", "v1, Kind=Pod"));
    }
}

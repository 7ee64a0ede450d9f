//! Strategic-merge and server-side-apply metadata of the built-in Kubernetes types.
//!
//! For each type (by OpenAPI definition name, e.g. `io.k8s.api.core.v1.PodSpec`) the
//! table lists the fields that are not plain scalars: nested objects, lists (with their
//! merge strategy and keys) and maps. Scalar fields are absent: a lookup that finds
//! nothing means "replace this value". The tables are generated from k8s-openapi's
//! `DeepMerge` impls by `gen/gen_patch_schema.py` into `generated_schema.rs`.
//!
//! # Merge keys: strategic merge patch vs server-side apply
//!
//! The keys come from k8s-openapi's `DeepMerge` impls (the strategic merge keys),
//! completed with the `+listMapKey` markers of the Kubernetes Go types (server-side
//! apply's keys, see `gen/go_markers.py`): a few lists have several keys
//! (kube-apiserver's apply keys container ports by `containerPort` and `protocol`, while
//! strategic merge patch keys them by `containerPort` alone). The Go types'
//! `+structType=atomic` markers give [`TypeSchema::atomic`]. Strategic merge patch always
//! merges by one key, so it uses the first key ([`FieldSchema::patch_merge_key`]);
//! server-side apply uses all keys ([`FieldSchema::keys`]). A few lists are associative for
//! apply but replaced by kube-apiserver's strategic merge patch (list-map keys without a
//! `patchStrategy:"merge"` tag); here they merge in both. These differences are accepted.
//!
//! # Kinds without a schema
//!
//! Objects of kinds not in the table (custom resources) have no schema:
//! kube-apiserver refuses strategic merge patch for them with 415 Unsupported Media
//! Type, and [`supports_strategic_merge`] says so. [`crate::patch::strategic::strategic_merge`]
//! with `root_type: None` behaves like a JSON merge patch (maps merge, lists are
//! replaced), and server-side apply treats every list as atomic.

use super::generated_schema::{ATOMIC_STRUCTS, KEY_DEFAULTS, OMITTED_WHEN_EMPTY, RESOURCES, TYPES};

/// The patch metadata of one object type.
#[derive(Debug)]
pub struct TypeSchema {
    /// OpenAPI definition name, e.g. `io.k8s.api.core.v1.Container`.
    pub name: &'static str,
    /// Non-scalar fields, sorted by JSON name.
    pub fields: &'static [FieldSchema],
}

impl TypeSchema {
    /// The metadata of the field with this JSON name, or `None` when the field is a
    /// scalar (or unknown to the schema).
    pub fn field(&self, json_name: &str) -> Option<&'static FieldSchema> {
        self.fields.binary_search_by(|f| f.name.cmp(json_name)).ok().map(|i| &self.fields[i])
    }

    /// Whether server-side apply treats objects of this type as one value
    /// (`+structType=atomic` in Go: `LabelSelector`, `OwnerReference`, `RoleRef`, ...):
    /// owned and replaced as a whole. Strategic merge patch still merges them.
    pub fn atomic(&self) -> bool {
        ATOMIC_STRUCTS.binary_search(&self.name).is_ok()
    }

    /// Whether the JSON of this type's Go zero value leaves out the (non-scalar) field
    /// `json_name`: a pointer, slice or map with `omitempty`. Value structs (`spec`,
    /// `template`) and fields without `omitempty` (`containers`) are always written.
    pub fn omitted_when_empty(&self, json_name: &str) -> bool {
        OMITTED_WHEN_EMPTY.binary_search(&(self.name, json_name)).is_ok()
    }

    /// The default (`+default=` in Go) of field `json_name` when it is a list-map key of
    /// lists of this type: server-side apply keys an item that leaves the field out by
    /// it (a `ContainerPort` without `protocol` is keyed with `"TCP"`).
    pub fn key_default(&self, json_name: &str) -> Option<serde_json::Value> {
        let i = KEY_DEFAULTS.binary_search_by(|(t, f, _)| (*t, *f).cmp(&(self.name, json_name))).ok()?;
        serde_json::from_str(KEY_DEFAULTS[i].2).ok()
    }
}

/// The patch metadata of one non-scalar field.
#[derive(Debug)]
pub struct FieldSchema {
    /// JSON name of the field, e.g. `containers`.
    pub name: &'static str,
    /// Object, list or map, and how it merges.
    pub kind: FieldKind,
    /// For [`ListStrategy::Map`] lists: the JSON names of the keys identifying an item
    /// (all of them for server-side apply; the first for strategic merge patch).
    pub keys: &'static [&'static str],
    /// The object type of the field (for [`FieldKind::Struct`]), of its items (lists)
    /// or of its values (maps), when that is an object type.
    pub elem: Option<&'static TypeSchema>,
    /// Whether the field has the strategic-merge `retainKeys` strategy (kubectl sends
    /// `$retainKeys` for it; for example Deployment `spec.strategy`, Pod `spec.volumes`).
    pub retain_keys: bool,
}

impl FieldSchema {
    /// The strategic merge patch key (`patchMergeKey`) of a list of objects: the first
    /// of [`FieldSchema::keys`].
    pub fn patch_merge_key(&self) -> Option<&'static str> {
        self.keys.first().copied()
    }

    /// The list strategy, if this field is a list.
    pub fn list_strategy(&self) -> Option<ListStrategy> {
        match self.kind {
            FieldKind::List(s) => Some(s),
            _ => None,
        }
    }
}

/// What kind of value a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A nested object with its own [`TypeSchema`] (in [`FieldSchema::elem`]).
    Struct,
    /// A JSON array.
    List(ListStrategy),
    /// A JSON object with arbitrary string keys (labels, annotations, resources limits).
    Map(MapStrategy),
}

/// How a list merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy {
    /// The list is one value, replaced as a whole (`x-kubernetes-list-type: atomic`,
    /// strategic `replace`).
    Atomic,
    /// A set of primitives: merged by union (`x-kubernetes-list-type: set`, strategic
    /// `merge` on a list of scalars).
    Set,
    /// A list of objects identified by [`FieldSchema::keys`] (`x-kubernetes-list-type:
    /// map`, strategic `merge` with `patchMergeKey`).
    Map,
}

/// How a map merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapStrategy {
    /// Each key is a separate field (labels, annotations).
    Granular,
    /// The map is one value for server-side apply (`x-kubernetes-map-type: atomic`,
    /// e.g. `nodeSelector`). Strategic merge patch still merges it key by key, as
    /// kube-apiserver does.
    Atomic,
}

/// A top-level resource kind and the schema of its objects.
#[derive(Debug)]
pub struct ResourceRoot {
    /// API group, `""` for the core group.
    pub group: &'static str,
    /// API version within the group, e.g. `v1`.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// The schema of the whole object.
    pub root: &'static TypeSchema,
}

/// All built-in top-level resources known to the schema.
pub fn resources() -> &'static [ResourceRoot] {
    RESOURCES
}

/// The schema of objects of `kind` in API `group` (`""` for core), any served version
/// (patch metadata does not differ between versions of a kind). `None` for kinds
/// without a built-in schema, i.e. custom resources.
///
/// ```
/// use ferrokube_apiserver::patch::schema;
/// let deployment = schema::root_type("apps", "Deployment").unwrap();
/// assert_eq!(deployment.name, "io.k8s.api.apps.v1.Deployment");
/// assert!(schema::root_type("example.com", "Widget").is_none());
/// ```
pub fn root_type(group: &str, kind: &str) -> Option<&'static TypeSchema> {
    RESOURCES.iter().find(|r| r.group == group && r.kind == kind).map(|r| r.root)
}

/// Like [`root_type`], from an object's `apiVersion` (`apps/v1`, `v1`) and `kind`:
/// prefers the exact version, falls back to any version of the same group.
pub fn root_type_for(api_version: &str, kind: &str) -> Option<&'static TypeSchema> {
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.kind == kind)
        .map(|r| r.root)
        .or_else(|| root_type(group, kind))
}

/// The schema of a type by OpenAPI definition name (`io.k8s.api.core.v1.Container`).
pub fn type_by_name(name: &str) -> Option<&'static TypeSchema> {
    TYPES.binary_search_by(|t| t.name.cmp(name)).ok().map(|i| TYPES[i])
}

/// Whether kube-apiserver accepts `application/strategic-merge-patch+json` for this
/// kind: only built-in kinds. For other kinds (custom resources) the registry should
/// answer 415 Unsupported Media Type, as kube-apiserver does.
pub fn supports_strategic_merge(group: &str, kind: &str) -> bool {
    root_type(group, kind).is_some()
}

/// How to look up the members of a JSON object at some position in an object tree:
/// a typed struct, a map whose values are of one struct type, or unknown (free-form
/// or custom-resource data: every member is treated as a scalar or untyped object).
#[derive(Clone, Copy, Debug)]
pub(crate) enum ObjectSchema<'a> {
    /// A struct with known fields.
    Struct(&'a TypeSchema),
    /// A map from arbitrary keys to values of this struct type.
    MapOf(&'a TypeSchema),
    /// No type information.
    Unknown,
}

impl<'a> ObjectSchema<'a> {
    /// The schema of a whole object of a kind (`None`: a kind without schema).
    pub(crate) fn root(root: Option<&'a TypeSchema>) -> Self {
        root.map_or(ObjectSchema::Unknown, ObjectSchema::Struct)
    }

    /// The metadata of member `key`; `None` means "a scalar, or unknown".
    pub(crate) fn member(self, key: &str) -> Option<Member<'a>> {
        match self {
            ObjectSchema::Struct(t) => t.field(key).map(|f| Member { kind: f.kind, keys: f.keys, elem: f.elem }),
            ObjectSchema::MapOf(t) => Some(Member { kind: FieldKind::Struct, keys: &[], elem: Some(t) }),
            ObjectSchema::Unknown => None,
        }
    }
}

/// The metadata of one member of an object (a struct field or a map value).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member<'a> {
    /// Object, list or map.
    pub(crate) kind: FieldKind,
    /// List-map keys.
    pub(crate) keys: &'a [&'a str],
    /// The struct type of the value, of list items or of map values.
    pub(crate) elem: Option<&'a TypeSchema>,
}

impl<'a> Member<'a> {
    /// How to look up members when this member's value is an object.
    pub(crate) fn object(member: Option<Self>) -> ObjectSchema<'a> {
        match member {
            Some(Member { kind: FieldKind::Struct, elem: Some(t), .. }) => ObjectSchema::Struct(t),
            Some(Member { kind: FieldKind::Map(_), elem: Some(t), .. }) => ObjectSchema::MapOf(t),
            _ => ObjectSchema::Unknown,
        }
    }

    /// How to look up members of the items when this member is a list of objects.
    pub(crate) fn item(member: Option<Self>) -> ObjectSchema<'a> {
        match member {
            Some(Member { kind: FieldKind::List(_), elem: Some(t), .. }) => ObjectSchema::Struct(t),
            _ => ObjectSchema::Unknown,
        }
    }

    /// The list strategy (`None` if not a list).
    pub(crate) fn list_strategy(member: Option<Self>) -> Option<ListStrategy> {
        match member {
            Some(Member { kind: FieldKind::List(s), .. }) => Some(s),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_spec_containers_merge_by_name() {
        let pod = root_type("", "Pod").unwrap();
        let spec = pod.field("spec").unwrap().elem.unwrap();
        assert_eq!(spec.name, "io.k8s.api.core.v1.PodSpec");
        let containers = spec.field("containers").unwrap();
        assert_eq!(containers.kind, FieldKind::List(ListStrategy::Map));
        assert_eq!(containers.patch_merge_key(), Some("name"));
        let container = containers.elem.unwrap();
        let ports = container.field("ports").unwrap();
        assert_eq!(ports.patch_merge_key(), Some("containerPort"));
        assert_eq!(spec.field("volumes").unwrap().keys, &["name"]);
        assert_eq!(container.field("args").unwrap().kind, FieldKind::List(ListStrategy::Atomic));
        assert!(container.field("image").is_none(), "scalars are not listed");
        assert!(spec.field("volumes").unwrap().retain_keys);
        assert_eq!(spec.field("nodeSelector").unwrap().kind, FieldKind::Map(MapStrategy::Atomic));
    }

    #[test]
    fn apply_keys_and_atomic_structs_come_from_the_go_markers() {
        let pod = root_type("", "Pod").unwrap();
        let spec = pod.field("spec").unwrap().elem.unwrap();
        let ports = spec.field("containers").unwrap().elem.unwrap().field("ports").unwrap();
        assert_eq!(ports.keys, &["containerPort", "protocol"]);
        assert_eq!(ports.patch_merge_key(), Some("containerPort"));
        assert_eq!(ports.elem.unwrap().key_default("protocol"), Some(serde_json::json!("TCP")));
        assert_eq!(ports.elem.unwrap().key_default("containerPort"), None);
        let meta = type_by_name("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap();
        assert!(meta.field("ownerReferences").unwrap().elem.unwrap().atomic());
        assert!(type_by_name("io.k8s.api.rbac.v1.RoleRef").unwrap().atomic());
        assert!(!spec.atomic());
    }

    #[test]
    fn metadata_and_lookups() {
        let meta = type_by_name("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta").unwrap();
        assert_eq!(meta.field("finalizers").unwrap().kind, FieldKind::List(ListStrategy::Set));
        assert_eq!(meta.field("labels").unwrap().kind, FieldKind::Map(MapStrategy::Granular));
        assert_eq!(meta.field("ownerReferences").unwrap().keys, &["uid"]);
        let d = root_type_for("apps/v1", "Deployment").unwrap();
        let strategy = d.field("spec").unwrap().elem.unwrap().field("strategy").unwrap();
        assert!(strategy.retain_keys);
        assert!(supports_strategic_merge("", "ConfigMap"));
        assert!(!supports_strategic_merge("stable.example.com", "CronTab"));
        assert!(root_type_for("v1", "Service").is_some());
    }
}

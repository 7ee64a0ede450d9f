//! The `pod-template-hash` of a pod template, as the Deployment controller labels its
//! ReplicaSets and their pods with it.
//!
//! kube hashes the Go struct of the template with FNV-1a (32 bit), adds the
//! Deployment's `collisionCount`, and encodes the decimal digits of the sum with
//! `rand.SafeEncodeString` (alphabet `bcdfghjklmnpqrstvwxz2456789`), which gives the
//! familiar `7c5ddbdf54`. The Go struct printer cannot be reproduced here, so the
//! template is hashed as canonical JSON (keys sorted); the result is stable across
//! runs and key orders and has the same shape as kube's.

use serde_json::Value;

use super::objects::{self, AsJson, Json};

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The label carrying the hash, on ReplicaSets, their selectors and their pods.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

struct Fnv32a(u32);

impl Fnv32a {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
}

fn write_canonical(h: &mut Fnv32a, v: &Value) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            h.write(b"{");
            for k in keys {
                write_canonical(h, &Value::String(k.clone()));
                h.write(b":");
                write_canonical(h, &m[k]);
                h.write(b",");
            }
            h.write(b"}");
        }
        Value::Array(a) => {
            h.write(b"[");
            for x in a {
                write_canonical(h, x);
                h.write(b",");
            }
            h.write(b"]");
        }
        other => h.write(other.to_string().as_bytes()),
    }
}

/// `rand.SafeEncodeString`: each byte mapped into the alphabet without vowels.
pub fn safe_encode(s: &str) -> String {
    s.bytes().map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char).collect()
}

/// The pod-template-hash of `template` (with any `pod-template-hash` label ignored)
/// and the Deployment's collision count.
pub fn pod_template_hash<O: AsJson + ?Sized>(template: &O, collision_count: Option<i64>) -> String {
    let mut t = template.json().to_value();
    if let Some(labels) = objects::at_mut(&mut t, &["metadata", "labels"]).and_then(Value::as_object_mut) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    let mut h = Fnv32a(0x811c_9dc5);
    write_canonical(&mut h, &t);
    if let Some(c) = collision_count {
        h.write(&(c as u32).to_le_bytes());
    }
    safe_encode(&h.0.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stable_and_kube_shaped() {
        let a = json!({"metadata": {"labels": {"app": "web", "x": "1"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}});
        let b = json!({"spec": {"containers": [{"image": "nginx", "name": "c"}]}, "metadata": {"labels": {"x": "1", "app": "web"}}});
        let h = pod_template_hash(&a, None);
        assert_eq!(h, pod_template_hash(&b, None));
        assert!(!h.is_empty() && h.len() <= 10);
        assert!(h.bytes().all(|c| b"456789bcdf".contains(&c)), "{h}");
        let mut c = a.clone();
        c["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert_ne!(h, pod_template_hash(&c, None));
        assert_ne!(h, pod_template_hash(&a, Some(1)));
        let mut with_label = a.clone();
        with_label["metadata"]["labels"][POD_TEMPLATE_HASH] = json!(h.clone());
        assert_eq!(h, pod_template_hash(&with_label, None));
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }
}

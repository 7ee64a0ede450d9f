//! The input shape of the patch targets: a JSON document, a NUL byte, a second JSON
//! document (the object and the patch). Included with `#[path]` by each target.

/// The two documents, when both parse.
pub fn split(data: &[u8]) -> Option<(serde_json::Value, serde_json::Value)> {
    let nul = data.iter().position(|b| *b == 0)?;
    let first = serde_json::from_slice(&data[..nul]).ok()?;
    let second = serde_json::from_slice(&data[nul + 1..]).ok()?;
    Some((first, second))
}

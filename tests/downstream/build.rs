//! Extracts every ```rust block of the repository's README.md, in order, into one async
//! function body (`$OUT_DIR/readme_snippets.rs`), so the README's code is compiled
//! against the application's chosen Kubernetes version and run by `main`.
use std::{env, fs, path::PathBuf};

fn main() {
    let readme = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../README.md");
    println!("cargo::rerun-if-changed={}", readme.display());
    let text = fs::read_to_string(&readme).unwrap_or_else(|e| panic!("reading {}: {e}", readme.display()));
    let mut body = String::new();
    let mut blocks = 0;
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        if !inside && line.trim_end() == "```rust" {
            inside = true;
            blocks += 1;
            body.push_str(&format!("    // README.md line {}\n", n + 1));
        } else if inside && line.trim_end() == "```" {
            inside = false;
        } else if inside {
            body.push_str("    ");
            body.push_str(line);
            body.push('\n');
        }
    }
    assert!(!inside, "README.md: a ```rust block is not closed");
    assert!(blocks > 0, "README.md has no ```rust block");
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("readme_snippets.rs");
    let code = format!(
        "/// The README's {blocks} Rust blocks, in order, as one function.\n\
         #[allow(unused_variables, unused_imports)]\n\
         async fn readme_snippets() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {{\n{body}    Ok(())\n}}\n"
    );
    fs::write(&out, code).unwrap();
}

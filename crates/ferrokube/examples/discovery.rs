//! Asks the server what it serves, like `kubectl version` and `kubectl api-resources`.
//!
//! It prints the server's version, then one table row per resource the server serves:
//!
//! ```text
//! NAME          SHORTNAMES   APIVERSION   NAMESPACED   KIND
//! bindings                   v1           true         Binding
//! ...
//! deployments   deploy       apps/v1      true         Deployment
//! ```
//!
//! As in kubectl, each resource is shown in its group's *preferred* version (plus
//! resources that only another version of the group has), subresources such as
//! `deployments/scale` are left out, and rows are sorted by API group (core first),
//! then by name. The data comes from one
//! [`DiscoveryClient::server_groups_and_resources`] call, which uses aggregated
//! discovery when the server offers it (one request for `/api`, one for `/apis`) and
//! the older per-group-version documents otherwise.
//!
//! It loads the kubeconfig the way kubectl does (`--kubeconfig PATH`, else `KUBECONFIG`,
//! else `~/.kube/config`); with none found, or with `--embedded`, it starts ferrokube's
//! embedded API server in-process.
//!
//! ```sh
//! cargo run -p ferrokube --example discovery -- --embedded
//! ```

mod support;

use ferrokube::discovery::DiscoveryClient;
use ferrokube::schema::GroupVersion;
use support::{Cluster, Flags};

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

/// One row of the table.
struct Row {
    group: String,
    name: String,
    short_names: String,
    api_version: String,
    namespaced: bool,
    kind: String,
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let flags = Flags::parse()?;
    let cluster = Cluster::connect(&flags).await?;
    let discovery = DiscoveryClient::new(&cluster.config)?;

    // `GET /version`.
    let version = discovery.server_version().await?;
    println!("Server version: {} (platform {})", version.git_version, version.platform);
    println!();

    // Groups and resources. Group versions the server could not describe (an
    // aggregated API server that is down, typically) are reported, not fatal: the
    // rest of the answer is still good, and kubectl behaves the same way.
    let snapshot = discovery.server_groups_and_resources().await?;
    for (group_version, reason) in &snapshot.failed {
        eprintln!("warning: unable to retrieve the resources of {group_version}: {reason}");
    }

    let mut rows = Vec::new();
    for list in snapshot.preferred_resources() {
        let group = GroupVersion::parse(&list.group_version).group;
        for resource in list.resources {
            // kubectl skips resources that support no verb at all.
            if resource.verbs.is_empty() {
                continue;
            }
            rows.push(Row {
                group: group.clone(),
                name: resource.name,
                short_names: resource.short_names.unwrap_or_default().join(","),
                api_version: list.group_version.clone(),
                namespaced: resource.namespaced,
                kind: resource.kind,
            });
        }
    }
    // kubectl's default order: by group (the core group `""` sorts first), then name.
    rows.sort_by(|a, b| (&a.group, &a.name).cmp(&(&b.group, &b.name)));

    let table: Vec<[String; 5]> =
        rows.into_iter().map(|r| [r.name, r.short_names, r.api_version, r.namespaced.to_string(), r.kind]).collect();
    print_table(["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"], &table);

    cluster.shutdown().await;
    Ok(())
}

/// Prints `rows` under `header` in aligned columns, the way kubectl's tab writer does
/// (each column as wide as its widest cell plus 3 spaces; the last one not padded).
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}", width = widths[i] + 3));
            }
        }
        println!("{out}");
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
}

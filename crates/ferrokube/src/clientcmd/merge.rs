//! Merging several kubeconfig files into one, with kubectl's precedence rules.
//!
//! When `KUBECONFIG` lists several files, client-go's `ClientConfigLoadingRules.Load`
//! combines them so that **the first file to set a value wins**: a cluster, user or
//! context is taken whole from the first file that defines that name (entries are not
//! merged field by field), and `current-context` comes from the first file that sets it.
//! Later files only add names the earlier ones did not define.
//!
//! The [loader](super::loader) calls [`merge`] after parsing each file; the result is
//! what [`client_config`](super::client_config) picks a context from.

use super::api::{Config, NamedExtension};

/// Merges configs given in precedence order (first = highest priority).
pub fn merge(configs: impl IntoIterator<Item = Config>) -> Config {
    let mut out = Config::default();
    for config in configs {
        if out.kind.is_none() {
            out.kind = config.kind;
        }
        if out.api_version.is_none() {
            out.api_version = config.api_version;
        }
        if out.current_context.is_empty() {
            out.current_context = config.current_context;
        }
        if out.preferences.colors.is_none() {
            out.preferences.colors = config.preferences.colors;
        }
        add_extensions(&mut out.preferences.extensions, config.preferences.extensions);
        add_extensions(&mut out.extensions, config.extensions);
        for entry in config.clusters {
            if !out.clusters.iter().any(|c| c.name == entry.name) {
                out.clusters.push(entry);
            }
        }
        for entry in config.auth_infos {
            if !out.auth_infos.iter().any(|c| c.name == entry.name) {
                out.auth_infos.push(entry);
            }
        }
        for entry in config.contexts {
            if !out.contexts.iter().any(|c| c.name == entry.name) {
                out.contexts.push(entry);
            }
        }
    }
    out
}

fn add_extensions(into: &mut Vec<NamedExtension>, from: Vec<NamedExtension>) {
    for ext in from {
        if !into.iter().any(|e| e.name == ext.name) {
            into.push(ext);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        serde_yaml_ng::from_str(text).unwrap()
    }

    #[test]
    fn first_file_wins_for_entries_and_current_context() {
        let a = parse(
            "current-context: a-ctx\nclusters:\n- name: shared\n  cluster: {server: 'https://a'}\n\
             users:\n- name: u\n  user: {username: from-a}\n",
        );
        let b = parse(
            "current-context: b-ctx\nclusters:\n- name: shared\n  cluster: {server: 'https://b', tls-server-name: b}\n\
             - name: only-b\n  cluster: {server: 'https://only-b'}\n\
             contexts:\n- name: b-ctx\n  context: {cluster: only-b}\n",
        );
        let c = parse(
            "users:\n- name: u\n  user: {username: from-c}\n- name: only-c\n  user: {username: c}\n\
             contexts:\n- name: b-ctx\n  context: {cluster: shared}\n",
        );
        let merged = merge([a, b, c]);
        assert_eq!(merged.current_context, "a-ctx");
        let shared = merged.cluster("shared").unwrap();
        assert_eq!(shared.server, "https://a");
        // Whole entry from the first file: b's tls-server-name does not leak in.
        assert_eq!(shared.tls_server_name, None);
        assert_eq!(merged.cluster("only-b").unwrap().server, "https://only-b");
        assert_eq!(merged.auth_info("u").unwrap().username.as_deref(), Some("from-a"));
        assert_eq!(merged.auth_info("only-c").unwrap().username.as_deref(), Some("c"));
        assert_eq!(merged.context("b-ctx").unwrap().cluster, "only-b");
    }

    #[test]
    fn current_context_comes_from_first_file_that_sets_it() {
        let a = parse("clusters: []\n");
        let b = parse("current-context: from-b\n");
        let c = parse("current-context: from-c\n");
        assert_eq!(merge([a, b, c]).current_context, "from-b");
    }
}

//! The core stays pure: neither it nor anything it depends on (dev-dependencies included) may
//! be an actor framework, an async runtime or a network stack. Read from the workspace's
//! `Cargo.lock`, so adding such a dependency to `core/Cargo.toml` fails this test.

use std::collections::{BTreeSet, HashMap};

/// Crate names (or prefixes of them) the core must never depend on.
const RUNTIME_CRATES: [&str; 6] = ["actix", "tokio", "libp2p", "futures", "async-", "mio"];

/// `name -> dependency names` of every package in a `Cargo.lock`.
fn dependency_graph(lock: &str) -> HashMap<String, Vec<String>> {
    let mut graph = HashMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let mut name = None;
        let mut deps = Vec::new();
        let mut in_deps = false;
        for line in package.lines().map(str::trim) {
            if let Some(value) = line.strip_prefix("name = ") {
                name = Some(value.trim_matches('"').to_owned());
            } else if line.starts_with("dependencies = [") {
                in_deps = true;
            } else if in_deps && line.starts_with(']') {
                in_deps = false;
            } else if in_deps {
                // `"name"` or `"name version"` or `"name version (source)"`.
                let dep = line.trim_matches(|c| c == '"' || c == ',');
                if let Some(dep) = dep.split_whitespace().next() {
                    deps.push(dep.to_owned());
                }
            }
        }
        if let Some(name) = name {
            graph.entry(name).or_insert_with(Vec::new).extend(deps);
        }
    }
    graph
}

/// Every package reachable from `root`.
fn closure(graph: &HashMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(name) = todo.pop() {
        if seen.insert(name.clone()) {
            todo.extend(graph.get(&name).into_iter().flatten().cloned());
        }
    }
    seen
}

#[test]
fn the_core_depends_on_no_actor_framework_runtime_or_network_stack() {
    let lock_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock");
    let lock = std::fs::read_to_string(lock_path).expect("the workspace's Cargo.lock");
    let graph = dependency_graph(&lock);
    let core = closure(&graph, "swarm-progress-core");
    assert!(core.contains("ring"), "the graph was read: {core:?}");
    let impure: Vec<&String> = core
        .iter()
        .filter(|name| RUNTIME_CRATES.iter().any(|bad| name.starts_with(bad)))
        .collect();
    assert!(
        impure.is_empty(),
        "swarm-progress-core depends on {impure:?}"
    );
    // The check can fail: the runtime crate's closure has every one of them.
    let runtime = closure(&graph, "swarm-progress");
    for bad in ["actix", "tokio", "libp2p"] {
        assert!(runtime.iter().any(|n| n.starts_with(bad)), "{bad}");
    }
}

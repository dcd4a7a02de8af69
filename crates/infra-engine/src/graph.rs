//! The dependency graph of a stack, on petgraph (which stays inside this
//! crate): implicit edges from references, explicit ones from `depends_on`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use infra_core::{Address, Diagnostic, Location};
use infra_stack::Stack;
use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

/// Resources and their dependencies; an edge runs from a dependency to
/// the resource that needs it.
#[derive(Debug, Default)]
pub struct DepGraph {
    graph: DiGraph<Address, ()>,
    index: HashMap<Address, NodeIndex>,
}

/// Output formats of `infra graph`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// `{"version": 1, "nodes": [...], "edges": [{"from", "to"}]}`, both
    /// sorted; edges run from a dependency to what needs it, as the arrows
    /// of the other formats.
    Json,
}

impl DepGraph {
    /// Builds the graph of a stack, reporting every dependency cycle with
    /// its whole path and every reference to an undeclared resource.
    pub fn build(stack: &Stack) -> Result<DepGraph, Vec<Diagnostic>> {
        let n = stack.resources.len();
        let mut g = DepGraph {
            graph: DiGraph::with_capacity(n, n),
            index: HashMap::with_capacity(n),
        };
        for r in &stack.resources {
            g.node(&r.address);
        }
        let mut problems = Vec::new();
        let mut deps = Vec::new();
        for r in &stack.resources {
            direct_dependencies_into(r, &mut deps);
            let to = g.index[&r.address];
            for dep in deps.drain(..) {
                match g.index.get(dep) {
                    Some(&from) => {
                        g.graph.update_edge(from, to, ());
                    }
                    None => {
                        let mut d = Diagnostic::error(format!(
                            "`{}` depends on `{dep}`, which is not declared in the stack",
                            r.address
                        ))
                        .on(r.address.clone())
                        .hint(format!(
                            "declare [resources.{}.{}] or remove the reference",
                            dep.ty, dep.name
                        ));
                        if let Some(l) = &r.location {
                            d = d.at(l.clone());
                        }
                        problems.push(d);
                    }
                }
            }
        }
        for cycle in g.cycles() {
            let path: Vec<String> = cycle
                .iter()
                .chain(cycle.first())
                .map(ToString::to_string)
                .collect();
            let first = stack.resource(&cycle[0]);
            let mut d = Diagnostic::error(format!("dependency cycle: {}", path.join(" -> ")))
                .on(cycle[0].clone())
                .hint("break the cycle by removing one of these references or depends_on entries");
            if let Some(l) = first.and_then(|r| cycle_location(r, &cycle)) {
                d = d.at(l.clone());
            }
            let places: Vec<String> = cycle
                .iter()
                .filter_map(|a| {
                    let l = cycle_location(stack.resource(a)?, &cycle)?;
                    Some(format!("{a} at {l}"))
                })
                .collect();
            if !places.is_empty() {
                d.hint = Some(format!(
                    "break the cycle by removing one of these references or depends_on entries: {}",
                    places.join(", ")
                ));
            }
            problems.push(d);
        }
        if problems.is_empty() {
            Ok(g)
        } else {
            Err(problems)
        }
    }

    /// Adds a node if missing.
    pub(crate) fn node(&mut self, address: &Address) -> NodeIndex {
        if let Some(&i) = self.index.get(address) {
            return i;
        }
        let i = self.graph.add_node(address.clone());
        self.index.insert(address.clone(), i);
        i
    }

    /// Adds an edge: `dependent` needs `dependency`.
    pub(crate) fn edge(&mut self, dependency: &Address, dependent: &Address) {
        let (a, b) = (self.node(dependency), self.node(dependent));
        self.graph.update_edge(a, b, ());
    }

    /// Every cycle, one path per strongly connected component, from its
    /// smallest address.
    fn cycles(&self) -> Vec<Vec<Address>> {
        let mut out = Vec::new();
        for scc in tarjan_scc(&self.graph) {
            let self_loop = scc.len() == 1 && self.graph.contains_edge(scc[0], scc[0]);
            if scc.len() < 2 && !self_loop {
                continue;
            }
            let members: BTreeSet<NodeIndex> = scc.iter().copied().collect();
            let start = *scc
                .iter()
                .min_by(|a, b| self.graph[**a].cmp(&self.graph[**b]))
                .unwrap_or(&scc[0]);
            out.push(self.cycle_from(start, &members));
        }
        out.sort();
        out
    }

    /// A shortest path from `start` back to itself inside one component,
    /// following "depends on".
    fn cycle_from(&self, start: NodeIndex, members: &BTreeSet<NodeIndex>) -> Vec<Address> {
        let mut parent: BTreeMap<NodeIndex, NodeIndex> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        while let Some(n) = queue.pop_front() {
            let mut next: Vec<NodeIndex> = self
                .graph
                .neighbors_directed(n, Direction::Incoming)
                .filter(|m| members.contains(m))
                .collect();
            next.sort_by(|a, b| self.graph[*a].cmp(&self.graph[*b]));
            for m in next {
                if m == start {
                    let mut path = vec![self.graph[n].clone()];
                    let mut cur = n;
                    while cur != start {
                        cur = parent[&cur];
                        path.push(self.graph[cur].clone());
                    }
                    path.reverse();
                    return path;
                }
                if let std::collections::btree_map::Entry::Vacant(e) = parent.entry(m) {
                    e.insert(n);
                    queue.push_back(m);
                }
            }
        }
        vec![self.graph[start].clone()]
    }

    /// All addresses in dependency order (dependencies first), ties broken
    /// by address so the order is stable.
    pub fn order(&self) -> Vec<Address> {
        self.order_refs().into_iter().cloned().collect()
    }

    /// [`DepGraph::order`], borrowing the addresses.
    pub(crate) fn order_refs(&self) -> Vec<&Address> {
        // Kahn's algorithm over sorted ready sets; it also detects cycles
        // (some node never becomes ready).
        let n = self.graph.node_count();
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|i| {
                self.graph
                    .neighbors_directed(i, Direction::Incoming)
                    .count()
            })
            .collect();
        let mut ready: BTreeSet<(&Address, NodeIndex)> = self
            .graph
            .node_indices()
            .filter(|i| indegree[i.index()] == 0)
            .map(|i| (&self.graph[i], i))
            .collect();
        let mut out = Vec::with_capacity(n);
        while let Some((a, i)) = ready.pop_first() {
            out.push(a);
            for m in self.graph.neighbors_directed(i, Direction::Outgoing) {
                let d = &mut indegree[m.index()];
                *d -= 1;
                if *d == 0 {
                    ready.insert((&self.graph[m], m));
                }
            }
        }
        if out.len() < n {
            // A cycle: no order exists.
            return self.graph.node_weights().collect();
        }
        out
    }

    /// The direct dependencies of a resource, sorted.
    pub fn dependencies(&self, address: &Address) -> Vec<Address> {
        self.neighbors(address, Direction::Incoming)
    }

    fn neighbors(&self, address: &Address, dir: Direction) -> Vec<Address> {
        let Some(&i) = self.index.get(address) else {
            return Vec::new();
        };
        let mut v: Vec<Address> = self
            .graph
            .neighbors_directed(i, dir)
            .map(|n| self.graph[n].clone())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The given addresses and everything they depend on, transitively.
    pub fn with_dependencies(&self, roots: &[Address]) -> BTreeSet<Address> {
        self.closure(roots, Direction::Incoming)
    }

    /// The given addresses and everything that depends on them, transitively.
    pub fn with_dependents(&self, roots: &[Address]) -> BTreeSet<Address> {
        self.closure(roots, Direction::Outgoing)
    }

    fn closure(&self, roots: &[Address], dir: Direction) -> BTreeSet<Address> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<NodeIndex> = roots
            .iter()
            .filter_map(|a| self.index.get(a).copied())
            .collect();
        while let Some(n) = stack.pop() {
            if seen.insert(self.graph[n].clone()) {
                stack.extend(self.graph.neighbors_directed(n, dir));
            }
        }
        seen
    }

    /// Renders the graph for `infra graph`.
    pub fn render(&self, format: GraphFormat) -> String {
        let mut edges: Vec<(&Address, &Address)> = self
            .graph
            .edge_indices()
            .filter_map(|e| self.graph.edge_endpoints(e))
            .map(|(a, b)| (&self.graph[a], &self.graph[b]))
            .collect();
        edges.sort();
        let mut nodes: Vec<&Address> = self.graph.node_weights().collect();
        nodes.sort();
        let mut out = String::new();
        match format {
            GraphFormat::Dot => {
                out.push_str("digraph infra {\n  rankdir = LR;\n");
                for n in nodes {
                    out.push_str(&format!("  \"{n}\";\n"));
                }
                for (a, b) in edges {
                    out.push_str(&format!("  \"{a}\" -> \"{b}\";\n"));
                }
                out.push_str("}\n");
            }
            GraphFormat::Mermaid => {
                out.push_str("flowchart LR\n");
                let id = |a: &Address| format!("{}__{}", a.ty, a.name).replace('-', "_");
                for n in nodes {
                    out.push_str(&format!("  {}[\"{n}\"]\n", id(n)));
                }
                for (a, b) in edges {
                    out.push_str(&format!("  {} --> {}\n", id(a), id(b)));
                }
            }
            GraphFormat::Json => {
                let edges: Vec<serde_json::Value> = edges
                    .iter()
                    .map(|(a, b)| serde_json::json!({"from": a.to_string(), "to": b.to_string()}))
                    .collect();
                let nodes: Vec<String> = nodes.iter().map(ToString::to_string).collect();
                let doc = serde_json::json!({"version": 1, "nodes": nodes, "edges": edges});
                out = serde_json::to_string_pretty(&doc).unwrap_or_default();
                out.push('\n');
            }
        }
        out
    }
}

/// Where to point at a resource of a cycle: a resource that names itself
/// in `depends_on` at that entry (its whole cycle is written there),
/// otherwise at the resource.
fn cycle_location<'r>(
    r: &'r infra_stack::ResourceConfig,
    cycle: &[Address],
) -> Option<&'r Location> {
    let self_loop = cycle.len() == 1 && cycle[0] == r.address;
    self_loop
        .then(|| r.depends_on_locations.get(&r.address))
        .flatten()
        .or(r.location.as_ref())
}

/// The addresses a resource depends on, borrowed, sorted and deduplicated.
fn direct_dependencies_into<'r>(r: &'r infra_stack::ResourceConfig, out: &mut Vec<&'r Address>) {
    out.clear();
    out.extend(&r.depends_on);
    for expr in r.inputs.values() {
        out.extend(expr.references().into_iter().map(|x| &x.address));
    }
    out.sort_unstable();
    out.dedup();
}

/// The addresses a resource depends on: its references and `depends_on`.
pub fn direct_dependencies(r: &infra_stack::ResourceConfig) -> BTreeSet<Address> {
    let mut deps: BTreeSet<Address> = r.depends_on.iter().cloned().collect();
    for expr in r.inputs.values() {
        deps.extend(expr.references().into_iter().map(|x| x.address.clone()));
    }
    deps
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use infra_stack::{Expr, Reference, StackBuilder};

    use super::*;

    fn stack(edges: &[(&str, &str)]) -> Stack {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (a, b) in edges {
            names.insert(a);
            names.insert(b);
        }
        let mut b = StackBuilder::new("t", ".");
        for n in names {
            let mut inputs = BTreeMap::new();
            let refs: Vec<Expr> = edges
                .iter()
                .filter(|(from, _)| *from == n)
                .map(|(_, to)| {
                    Expr::Ref(Reference::parse(&format!("sim_resource.{to}.id")).unwrap())
                })
                .collect();
            inputs.insert("payload".to_owned(), Expr::List(refs));
            b = b.resource(Address::new("sim_resource", n).unwrap(), inputs, vec![]);
        }
        b.build()
    }

    #[test]
    fn orders_dependencies_first() {
        let g = DepGraph::build(&stack(&[("c", "b"), ("b", "a"), ("d", "a")])).unwrap();
        let order: Vec<String> = g.order().iter().map(|a| a.name.clone()).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
    }

    #[test]
    fn reports_the_whole_cycle() {
        let errs =
            DepGraph::build(&stack(&[("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].message,
            "dependency cycle: sim_resource.a -> sim_resource.b -> sim_resource.c -> sim_resource.a"
        );
    }

    #[test]
    fn a_self_dependency_is_reported_at_its_depends_on_entry() {
        let at = |line, column| Location {
            file: std::path::Path::new("stacks/x.toml").into(),
            line,
            column,
        };
        let a = Address::new("sim_resource", "a").unwrap();
        let b = Address::new("sim_resource", "b").unwrap();
        let mut stack = StackBuilder::new("t", ".")
            .resource(a.clone(), BTreeMap::new(), vec![b.clone(), a.clone()])
            .resource(b.clone(), BTreeMap::new(), vec![])
            .build();
        let r = &mut stack.resources[0];
        r.location = Some(at(1, 1));
        r.depends_on_locations = BTreeMap::from([(b, at(2, 15)), (a, at(2, 31))]);
        let errs = DepGraph::build(&stack).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "error: stacks/x.toml:2:31: sim_resource.a: dependency cycle: sim_resource.a -> sim_resource.a\n  \
             hint: break the cycle by removing one of these references or depends_on entries: sim_resource.a at stacks/x.toml:2:31"
        );
        // Without the entry's location (a stack built in code): the resource's.
        stack.resources[0].depends_on_locations.clear();
        let errs = DepGraph::build(&stack).unwrap_err();
        assert_eq!(errs[0].location, Some(at(1, 1)));
    }
}

// Dijkstra's shortest paths over a list of edge records.
//
// How to run (from the repository root, with `weft up` running):
//
//     weft build examples/js-graph
//     weft deploy examples/js-graph/js-graph.wasm --name js-graph
//     weft call js-graph 'shortest-paths([{source: "a", target: "b", weight: 1.0}], "a")'

export function shortestPaths(edges, start) {
  const out = new Map();
  for (const e of edges) {
    if (e.weight < 0) throw new Error(`edge ${e.source} -> ${e.target} has a negative weight`);
    if (!out.has(e.source)) out.set(e.source, []);
    out.get(e.source).push(e);
  }
  const dist = new Map([[start, 0]]);
  const done = new Set();
  // A plain scan for the nearest open node: graphs here are small.
  for (;;) {
    let node;
    for (const [n, d] of dist) {
      if (!done.has(n) && (node === undefined || d < dist.get(node))) node = n;
    }
    if (node === undefined) break;
    done.add(node);
    for (const e of out.get(node) ?? []) {
      const d = dist.get(node) + e.weight;
      if (!dist.has(e.target) || d < dist.get(e.target)) dist.set(e.target, d);
    }
  }
  return [...dist].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
}

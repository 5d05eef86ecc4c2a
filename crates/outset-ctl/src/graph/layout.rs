//! A layered layout, left to right, for outset's own SVG renderer (Graphviz's `dot` does
//! better, but may not be installed).
//!
//! The classic steps, each kept simple: cycles are broken by turning the back edges of a
//! depth-first search around; each node's rank (column) is its longest path from a source,
//! and a source sits just before the first of its successors; an edge spanning several
//! ranks gets a point-sized dummy node in each rank between, so it bends around the nodes
//! there instead of crossing them; nodes in a rank are ordered by the barycentre of their
//! neighbours, sweeping back and forth and keeping the order with the fewest crossings;
//! vertical positions pull each node towards its neighbours without letting two nodes of a
//! rank come closer than a gap. Edges are polylines through their dummies.

/// Space between two nodes of a rank.
pub const NODE_GAP: f64 = 14.0;
/// Space between two ranks, where the edges run.
pub const RANK_GAP: f64 = 90.0;
const DUMMY_HEIGHT: f64 = 6.0;
const SWEEPS: usize = 24;

/// Where everything goes: node centres and each edge's points, from its source's side to
/// its target's; everything within `(0, 0)`–`(width, height)`. An edge crosses a rank it
/// spans as a horizontal run, in a slot of its own, and bends only between ranks.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub centres: Vec<(f64, f64)>,
    /// Each node's column: its rank's left and right x. An edge leaving a node narrower than
    /// its column should run straight to the column's side before it bends, so it cannot
    /// cross a wider neighbour.
    pub columns: Vec<(f64, f64)>,
    pub paths: Vec<Vec<(f64, f64)>>,
    pub width: f64,
    pub height: f64,
}

/// Lays out nodes of `sizes` (width, height) joined by `edges` (from, to).
pub fn layout(sizes: &[(f64, f64)], edges: &[(usize, usize)]) -> Layout {
    let n = sizes.len();
    let reversed = back_edges(n, edges);
    let dag: Vec<(usize, usize)> = edges
        .iter()
        .zip(&reversed)
        .map(|(&(a, b), &r)| if r { (b, a) } else { (a, b) })
        .collect();
    let rank = ranks(n, &dag);

    // Dummy nodes: every node, real or dummy, has a rank and a size.
    let mut node_rank = rank.clone();
    let mut size: Vec<(f64, f64)> = sizes.to_vec();
    let mut chains: Vec<Vec<usize>> = Vec::with_capacity(dag.len());
    for &(a, b) in &dag {
        let mut chain = vec![a];
        if a != b {
            for r in rank[a] + 1..rank[b] {
                chain.push(node_rank.len());
                node_rank.push(r);
                size.push((0.0, DUMMY_HEIGHT));
            }
            chain.push(b);
        }
        chains.push(chain);
    }
    let total = node_rank.len();
    let mut succ = vec![Vec::new(); total];
    let mut pred = vec![Vec::new(); total];
    for c in &chains {
        for w in c.windows(2) {
            succ[w[0]].push(w[1]);
            pred[w[1]].push(w[0]);
        }
    }
    let ranks_n = node_rank.iter().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); ranks_n];
    for v in initial_order(total, &node_rank, &succ) {
        layers[node_rank[v]].push(v);
    }
    order(&mut layers, &succ, &pred);

    // Columns: each as wide as its widest node.
    let mut x = vec![0.0; total];
    let mut column = vec![(0.0, 0.0); total];
    let mut left = 0.0;
    for layer in &layers {
        let w = layer.iter().map(|&v| size[v].0).fold(0.0, f64::max);
        for &v in layer {
            x[v] = left + w / 2.0;
            column[v] = (left, left + w);
        }
        left += w + RANK_GAP;
    }
    let width = (left - RANK_GAP).max(0.0);
    let y = vertical(&layers, &size, &succ, &pred);
    let height = (0..total)
        .map(|v| y[v] + size[v].1 / 2.0)
        .fold(0.0, f64::max);

    let mut paths = Vec::with_capacity(edges.len());
    for (i, chain) in chains.iter().enumerate() {
        let mut pts: Vec<(f64, f64)> = Vec::with_capacity(chain.len());
        for (k, &v) in chain.iter().enumerate() {
            if chain.len() == 1 {
                // A loop: out of the right side and back in.
                let (cx, cy, w, h) = (x[v], y[v], size[v].0, size[v].1);
                pts.extend([
                    (cx + w / 2.0, cy - h / 4.0),
                    (cx + w / 2.0 + 20.0, cy - h / 4.0),
                    (cx + w / 2.0 + 20.0, cy + h / 4.0),
                    (cx + w / 2.0, cy + h / 4.0),
                ]);
            } else if k == 0 {
                pts.push((x[v] + size[v].0 / 2.0, y[v]));
            } else if k == chain.len() - 1 {
                pts.push((x[v] - size[v].0 / 2.0, y[v]));
            } else {
                // A dummy: straight across its column.
                pts.push((column[v].0, y[v]));
                pts.push((column[v].1, y[v]));
            }
        }
        if reversed[i] {
            pts.reverse();
        }
        paths.push(pts);
    }
    spread_parallel(edges, &mut paths);
    Layout {
        centres: (0..n).map(|v| (x[v], y[v])).collect(),
        columns: column[..n].to_vec(),
        paths,
        width,
        height,
    }
}

/// Which edges a depth-first search finds going back to a node on its stack: turned around,
/// they leave the graph acyclic.
fn back_edges(n: usize, edges: &[(usize, usize)]) -> Vec<bool> {
    let mut adj = vec![Vec::new(); n];
    for (i, &(a, _)) in edges.iter().enumerate() {
        adj[a].push(i);
    }
    let mut state = vec![0u8; n]; // 0 new, 1 on the stack, 2 done
    let mut back = vec![false; edges.len()];
    for root in 0..n {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut next)) = stack.last_mut() {
            if let Some(&e) = adj[v].get(*next) {
                *next += 1;
                let w = edges[e].1;
                match state[w] {
                    0 => {
                        state[w] = 1;
                        stack.push((w, 0));
                    }
                    1 => back[e] = w != v,
                    _ => {}
                }
            } else {
                state[v] = 2;
                stack.pop();
            }
        }
    }
    back
}

/// Longest path from a source for each node of the acyclic `dag`; then each source moves
/// right to just before its nearest successor, so it is not drawn far from what it feeds.
fn ranks(n: usize, dag: &[(usize, usize)]) -> Vec<usize> {
    let mut succ = vec![Vec::new(); n];
    let mut indeg = vec![0usize; n];
    for &(a, b) in dag {
        if a != b {
            succ[a].push(b);
            indeg[b] += 1;
        }
    }
    let sources: Vec<bool> = indeg.iter().map(|&d| d == 0).collect();
    let mut rank = vec![0usize; n];
    let mut queue: Vec<usize> = (0..n).filter(|&v| indeg[v] == 0).collect();
    let mut topo = Vec::with_capacity(n);
    while let Some(v) = queue.pop() {
        topo.push(v);
        for &w in &succ[v] {
            rank[w] = rank[w].max(rank[v] + 1);
            indeg[w] -= 1;
            if indeg[w] == 0 {
                queue.push(w);
            }
        }
    }
    for &v in topo.iter().rev() {
        if let Some(m) = succ[v].iter().map(|&w| rank[w]).min()
            && sources[v]
        {
            rank[v] = m.saturating_sub(1);
        }
    }
    rank
}

/// A first order: depth-first from the first rank's nodes, so connected nodes start close.
fn initial_order(total: usize, rank: &[usize], succ: &[Vec<usize>]) -> Vec<usize> {
    let mut seen = vec![false; total];
    let mut out = Vec::with_capacity(total);
    let mut roots: Vec<usize> = (0..total).collect();
    roots.sort_by_key(|&v| rank[v]);
    for r in roots {
        let mut stack = vec![r];
        while let Some(v) = stack.pop() {
            if std::mem::replace(&mut seen[v], true) {
                continue;
            }
            out.push(v);
            stack.extend(succ[v].iter().rev().copied().filter(|&w| !seen[w]));
        }
    }
    out
}

/// Barycentre ordering: sweeps down (by predecessors) and up (by successors), keeping the
/// order with the fewest crossings.
fn order(layers: &mut [Vec<usize>], succ: &[Vec<usize>], pred: &[Vec<usize>]) {
    let total = succ.len();
    let mut pos = vec![0usize; total];
    let set_pos = |layers: &[Vec<usize>], pos: &mut Vec<usize>| {
        for l in layers {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i;
            }
        }
    };
    set_pos(layers, &mut pos);
    let mut best = layers.to_vec();
    let mut best_cross = crossings(layers, succ, &pos);
    for sweep in 0..SWEEPS {
        if best_cross == 0 {
            break;
        }
        let down = sweep % 2 == 0;
        let idx: Vec<usize> = if down {
            (1..layers.len()).collect()
        } else {
            (0..layers.len().saturating_sub(1)).rev().collect()
        };
        for r in idx {
            let nbrs = if down { pred } else { succ };
            let mut keyed: Vec<(f64, usize)> = layers[r]
                .iter()
                .map(|&v| {
                    let ns = &nbrs[v];
                    let b = if ns.is_empty() {
                        pos[v] as f64
                    } else {
                        ns.iter().map(|&w| pos[w] as f64).sum::<f64>() / ns.len() as f64
                    };
                    (b, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            layers[r] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in layers[r].iter().enumerate() {
                pos[v] = i;
            }
        }
        let c = crossings(layers, succ, &pos);
        if c < best_cross {
            best_cross = c;
            best = layers.to_vec();
        }
    }
    layers.clone_from_slice(&best);
}

/// Edge crossings between neighbouring ranks.
fn crossings(layers: &[Vec<usize>], succ: &[Vec<usize>], pos: &[usize]) -> usize {
    let mut total = 0;
    for l in layers {
        let mut segs: Vec<(usize, usize)> = l
            .iter()
            .flat_map(|&v| succ[v].iter().map(move |&w| (pos[v], pos[w])))
            .collect();
        segs.sort_unstable();
        // Pairs whose ends are in the other order, counted by merge-sort inversions.
        let mut ends: Vec<usize> = segs.iter().map(|s| s.1).collect();
        total += inversions(&mut ends);
    }
    total
}

fn inversions(v: &mut [usize]) -> usize {
    if v.len() < 2 {
        return 0;
    }
    let mid = v.len() / 2;
    let mut count = inversions(&mut v[..mid]) + inversions(&mut v[mid..]);
    let mut merged = Vec::with_capacity(v.len());
    let (mut i, mut j) = (0, mid);
    while i < mid && j < v.len() {
        if v[j] < v[i] {
            count += mid - i;
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
    count
}

/// Vertical centres: stacked first, then pulled towards the neighbours' mean a few times,
/// each rank kept in order with at least [`NODE_GAP`] between its nodes.
fn vertical(
    layers: &[Vec<usize>],
    size: &[(f64, f64)],
    succ: &[Vec<usize>],
    pred: &[Vec<usize>],
) -> Vec<f64> {
    let total = size.len();
    let mut y = vec![0.0; total];
    for l in layers {
        let mut top = 0.0;
        for &v in l {
            y[v] = top + size[v].1 / 2.0;
            top += size[v].1 + NODE_GAP;
        }
    }
    for _ in 0..8 {
        for l in layers {
            let want: Vec<f64> = l
                .iter()
                .map(|&v| {
                    let ns: Vec<usize> = pred[v].iter().chain(&succ[v]).copied().collect();
                    if ns.is_empty() {
                        y[v]
                    } else {
                        ns.iter().map(|&w| y[w]).sum::<f64>() / ns.len() as f64
                    }
                })
                .collect();
            place(l, &want, size, &mut y);
        }
    }
    let top = (0..total)
        .map(|v| y[v] - size[v].1 / 2.0)
        .fold(f64::INFINITY, f64::min);
    if top.is_finite() {
        for v in &mut y {
            *v -= top;
        }
    }
    y
}

/// Places rank `l` as near `want` as its order and gaps allow: the mean of a pass pushing
/// down and a pass pushing up, then made to keep the gaps.
fn place(l: &[usize], want: &[f64], size: &[(f64, f64)], y: &mut [f64]) {
    let k = l.len();
    if k == 0 {
        return;
    }
    let sep = |i: usize| (size[l[i - 1]].1 + size[l[i]].1) / 2.0 + NODE_GAP;
    let mut down = want.to_vec();
    for i in 1..k {
        down[i] = down[i].max(down[i - 1] + sep(i));
    }
    let mut up = want.to_vec();
    for i in (1..k).rev() {
        up[i - 1] = up[i - 1].min(up[i] - sep(i));
    }
    let mut got: Vec<f64> = down.iter().zip(&up).map(|(a, b)| (a + b) / 2.0).collect();
    for i in 1..k {
        got[i] = got[i].max(got[i - 1] + sep(i));
    }
    for (i, &v) in l.iter().enumerate() {
        y[v] = got[i];
    }
}

/// Edges between the same two nodes (a `start on` and a `stop on` on one event) would be
/// drawn on top of each other: their ends are moved apart a little.
fn spread_parallel(edges: &[(usize, usize)], paths: &mut [Vec<(f64, f64)>]) {
    let mut groups: std::collections::BTreeMap<(usize, usize), Vec<usize>> = Default::default();
    for (i, &(a, b)) in edges.iter().enumerate() {
        groups.entry((a.min(b), a.max(b))).or_default().push(i);
    }
    for list in groups.values().filter(|l| l.len() > 1) {
        let mid = (list.len() - 1) as f64 / 2.0;
        for (k, &e) in list.iter().enumerate() {
            let dy = (k as f64 - mid) * 5.0;
            for p in paths[e].iter_mut() {
                p.1 += dy;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(n: usize) -> Vec<(f64, f64)> {
        vec![(40.0, 20.0); n]
    }

    fn overlap(l: &Layout, sizes: &[(f64, f64)]) -> Option<(usize, usize)> {
        for a in 0..sizes.len() {
            for b in a + 1..sizes.len() {
                let (ax, ay) = l.centres[a];
                let (bx, by) = l.centres[b];
                if (ax - bx).abs() < (sizes[a].0 + sizes[b].0) / 2.0
                    && (ay - by).abs() < (sizes[a].1 + sizes[b].1) / 2.0
                {
                    return Some((a, b));
                }
            }
        }
        None
    }

    /// Issue 18 item 3: ranks follow the edges; a source sits just before what it feeds.
    #[test]
    fn issue18_item3_ranks_by_longest_path() {
        // 0 -> 1 -> 2 -> 3, 0 -> 3, 4 -> 3 (4 is a source feeding rank 3 only).
        let edges = [(0, 1), (1, 2), (2, 3), (0, 3), (4, 3)];
        let l = layout(&boxes(5), &edges);
        let xs: Vec<f64> = l.centres.iter().map(|c| c.0).collect();
        assert!(xs[0] < xs[1] && xs[1] < xs[2] && xs[2] < xs[3], "{xs:?}");
        assert_eq!(xs[4], xs[2], "a source sits just before its successor");
        // The long edge runs through dummies in ranks 1 and 2, straight across each.
        assert_eq!(l.paths[3].len(), 6);
        assert_eq!(l.paths[3][1].1, l.paths[3][2].1);
        assert_eq!(l.paths[3][1].0, l.columns[1].0);
        assert_eq!(l.paths[3][2].0, l.columns[1].1);
        assert_eq!(l.paths[3][0], (xs[0] + 20.0, l.centres[0].1));
        let end = *l.paths[3].last().unwrap();
        assert_eq!(end, (xs[3] - 20.0, l.centres[3].1));
        assert!(overlap(&l, &boxes(5)).is_none());
    }

    /// Cycles are laid out (a back edge is turned around for ranking) and still drawn from
    /// their source to their target.
    #[test]
    fn issue18_item3_cycles_and_loops() {
        let edges = [(0, 1), (1, 2), (2, 0), (1, 1)];
        let l = layout(&boxes(3), &edges);
        let back = &l.paths[2];
        // 2 -> 0 ends at node 0's side.
        let (x0, y0) = l.centres[0];
        let end = *back.last().unwrap();
        assert!(
            (end.1 - y0).abs() < 1e-9 && (end.0 - x0).abs() <= 20.0,
            "{back:?}"
        );
        assert_eq!(l.paths[3].len(), 4, "a loop is drawn");
        assert!(overlap(&l, &boxes(3)).is_none());
    }

    /// Barycentre ordering removes the crossings of twisted pairs.
    #[test]
    fn issue18_item3_ordering_removes_crossings() {
        // Ranks [0, 1] -> [3, 2] -> [4, 5], with 0 -> 2 -> 4 and 1 -> 3 -> 5: two crossings.
        let mut layers = vec![vec![0, 1], vec![3, 2], vec![4, 5]];
        let mut succ = vec![Vec::new(); 6];
        let mut pred = vec![Vec::new(); 6];
        for (a, b) in [(0, 2), (2, 4), (1, 3), (3, 5)] {
            succ[a].push(b);
            pred[b].push(a);
        }
        let pos = |layers: &[Vec<usize>]| {
            let mut p = vec![0; 6];
            for l in layers {
                for (i, &v) in l.iter().enumerate() {
                    p[v] = i;
                }
            }
            p
        };
        assert_eq!(crossings(&layers, &succ, &pos(&layers)), 2);
        order(&mut layers, &succ, &pred);
        assert_eq!(crossings(&layers, &succ, &pos(&layers)), 0, "{layers:?}");
        assert_eq!(layers, [[0, 1], [2, 3], [4, 5]]);
    }

    #[test]
    fn issue18_item3_many_nodes_never_overlap() {
        // A wide fan: one source to 30 nodes of mixed heights, half of them feeding a sink.
        let mut sizes = vec![(60.0, 30.0)];
        let mut edges = Vec::new();
        for i in 1..=30 {
            sizes.push((20.0 + i as f64, 10.0 + (i % 4) as f64 * 8.0));
            edges.push((0, i));
            if i % 2 == 0 {
                edges.push((i, 31));
            }
        }
        sizes.push((50.0, 20.0));
        let l = layout(&sizes, &edges);
        assert!(overlap(&l, &sizes).is_none());
        for (v, &(x, y)) in l.centres.iter().enumerate() {
            assert!(x - sizes[v].0 / 2.0 >= -1e-9 && x + sizes[v].0 / 2.0 <= l.width + 1e-9);
            assert!(y - sizes[v].1 / 2.0 >= -1e-9 && y + sizes[v].1 / 2.0 <= l.height + 1e-9);
        }
        assert_eq!(layout(&[], &[]).centres.len(), 0);
    }

    #[test]
    fn inversions_count() {
        assert_eq!(inversions(&mut [3, 1, 2]), 2);
        assert_eq!(inversions(&mut [1, 2, 3]), 0);
    }
}

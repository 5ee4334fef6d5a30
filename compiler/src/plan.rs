//! The static memory plan: buffer sizes and lifetimes in, arena offsets out.
//!
//! This is TFLite Micro's `GreedyMemoryPlanner`: buffers are placed largest first, each at
//! the lowest offset where it does not overlap, in space, any already placed buffer whose
//! lifetime overlaps its own. The plan is computed once, when a model is written, and
//! stored in the `.egm` tensor table; the device only reads offsets.
//!
//! [`plan_arena`] derives the buffers from a model's ops: each tensor's lifetime, and which
//! tensors share one buffer because an op runs in place.

use std::collections::HashMap;

use edgegan_runtime::DType;

/// One buffer to place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferRequest {
    /// Bytes.
    pub size: usize,
    /// First step at which the buffer is written.
    pub first_use: usize,
    /// Last step at which it is read (inclusive).
    pub last_use: usize,
}

impl BufferRequest {
    fn lives_with(&self, other: &BufferRequest) -> bool {
        self.first_use <= other.last_use && other.first_use <= self.last_use
    }
}

/// Offsets of the buffers and the arena they need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Offset of each buffer, in request order; a multiple of the alignment.
    pub offsets: Vec<usize>,
    /// Bytes from offset 0 to the end of the highest buffer (a multiple of the alignment).
    pub arena_bytes: usize,
}

/// A tensor as the arena planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanTensor {
    /// Its size.
    pub bytes: usize,
    /// Its element type (an op runs in place only between tensors of one type).
    pub dtype: DType,
    /// A constant lives in the weights blob, not the arena.
    pub constant: bool,
}

/// An op as the arena planner sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanOp<'a> {
    /// Tensors it reads.
    pub inputs: &'a [usize],
    /// The tensor it writes.
    pub output: usize,
    /// The inputs its kernel may overwrite with the output (elementwise ops, reshape),
    /// in order of preference.
    pub in_place: &'a [usize],
}

/// Where every tensor of a model lives in the arena.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArenaPlan {
    /// Arena offset of each tensor (0 for constants and unused tensors).
    pub offsets: Vec<usize>,
    /// Bytes the arena needs.
    pub arena_bytes: usize,
}

/// Plans the arena of a model: liveness over steps (the role inputs are written at step 0,
/// op `j` runs at step `j + 1`, the `output` is read after the last op), aliasing (an
/// in-place op's output shares its input's buffer when every tensor in that buffer dies
/// at that op), then [`plan_greedy`] over the buffers. With `reuse_memory` off, every
/// tensor lives to the end in its own bytes (calibration reads them all).
#[allow(clippy::needless_range_loop)] // parallel arrays indexed by tensor
pub fn plan_arena(
    tensors: &[PlanTensor],
    ops: &[PlanOp<'_>],
    roles: &[usize],
    output: usize,
    reuse_memory: bool,
    align: usize,
) -> ArenaPlan {
    let nt = tensors.len();
    // Lifetimes over steps: inputs at step 0, op j at step j + 1, the output read at the end.
    let steps = ops.len() + 1;
    let mut first = vec![usize::MAX; nt];
    let mut last = vec![0usize; nt];
    for &r in roles {
        first[r] = 0;
    }
    for (j, op) in ops.iter().enumerate() {
        first[op.output] = first[op.output].min(j + 1);
        last[op.output] = last[op.output].max(j + 1);
        for &i in op.inputs {
            last[i] = last[i].max(j + 1);
        }
    }
    last[output] = steps;
    if !reuse_memory {
        // Every tensor keeps its bytes to the end (calibration reads them all).
        last.iter_mut().for_each(|l| *l = steps);
    }
    // Buffers: a tensor shares its input's buffer when the op can run in place and the
    // input dies there.
    let mut buffer_of: Vec<usize> = (0..nt).collect();
    if reuse_memory {
        for (j, op) in ops.iter().enumerate() {
            let step = j + 1;
            for &x in op.in_place {
                let (xt, yt) = (&tensors[x], &tensors[op.output]);
                if xt.constant || xt.bytes != yt.bytes || xt.dtype != yt.dtype {
                    continue;
                }
                let bx = buffer_of[x];
                // Every tensor in x's buffer must be dead after this op, and the other
                // operand must live elsewhere.
                let group_last = (0..nt)
                    .filter(|&t| buffer_of[t] == bx)
                    .map(|t| last[t])
                    .max()
                    .unwrap_or(0);
                let others_apart = op
                    .inputs
                    .iter()
                    .filter(|&&i| i != x)
                    .all(|&i| tensors[i].constant || buffer_of[i] != bx);
                let reshape_reads_once = op.inputs.iter().filter(|&&i| i == x).count() == 1;
                if group_last == step
                    && others_apart
                    && reshape_reads_once
                    && !roles.contains(&op.output)
                {
                    buffer_of[op.output] = bx;
                    break;
                }
            }
        }
    }
    let mut requests: Vec<BufferRequest> = vec![];
    let mut req_of_buffer: HashMap<usize, usize> = HashMap::new();
    for t in 0..nt {
        if tensors[t].constant || first[t] == usize::MAX {
            continue;
        }
        let size = tensors[t].bytes;
        let b = buffer_of[t];
        match req_of_buffer.get(&b) {
            Some(&ri) => {
                let r: &mut BufferRequest = &mut requests[ri];
                r.first_use = r.first_use.min(first[t]);
                r.last_use = r.last_use.max(last[t]);
                r.size = r.size.max(size);
            }
            None => {
                req_of_buffer.insert(b, requests.len());
                requests.push(BufferRequest {
                    size,
                    first_use: first[t],
                    last_use: last[t].max(first[t]),
                });
            }
        }
    }
    let plan = plan_greedy(&requests, align);
    let offsets = (0..nt)
        .map(|t| {
            req_of_buffer
                .get(&buffer_of[t])
                .map_or(0, |&ri| plan.offsets[ri])
        })
        .collect();
    ArenaPlan {
        offsets,
        arena_bytes: plan.arena_bytes,
    }
}

fn align_up(v: usize, align: usize) -> usize {
    v.div_ceil(align) * align
}

/// Places `buffers` greedily by size; offsets and sizes are rounded up to `align`
/// (a power of two).
///
/// # Examples
///
/// ```
/// use edgegan_compiler::plan::{BufferRequest, plan_greedy};
/// // a -> b -> c: a and c never live together, so c reuses a's bytes.
/// let plan = plan_greedy(&[
///     BufferRequest { size: 100, first_use: 0, last_use: 1 },
///     BufferRequest { size: 50, first_use: 1, last_use: 2 },
///     BufferRequest { size: 100, first_use: 2, last_use: 3 },
/// ], 4);
/// assert_eq!(plan.arena_bytes, 152);
/// assert_eq!(plan.offsets[0], plan.offsets[2]);
/// ```
pub fn plan_greedy(buffers: &[BufferRequest], align: usize) -> Plan {
    let align = align.max(1);
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    // Largest first; ties by earlier first use, then index, so plans are reproducible.
    order.sort_by(|&a, &b| {
        let (x, y) = (&buffers[a], &buffers[b]);
        y.size
            .cmp(&x.size)
            .then(x.first_use.cmp(&y.first_use))
            .then(a.cmp(&b))
    });
    let mut offsets = vec![0usize; buffers.len()];
    let mut placed: Vec<usize> = Vec::with_capacity(buffers.len());
    let mut arena_bytes = 0;
    for &i in &order {
        let b = &buffers[i];
        let size = align_up(b.size, align);
        // Live neighbours by offset; take the first gap that fits.
        let mut live: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&j| buffers[j].lives_with(b))
            .map(|&j| (offsets[j], offsets[j] + align_up(buffers[j].size, align)))
            .collect();
        live.sort_unstable();
        let mut candidate = 0;
        for (start, end) in live {
            if candidate + size <= start {
                break;
            }
            candidate = candidate.max(end);
        }
        offsets[i] = candidate;
        arena_bytes = arena_bytes.max(candidate + size);
        placed.push(i);
    }
    Plan {
        offsets,
        arena_bytes,
    }
}

/// The most bytes (rounded up to `align` per buffer) live at any one step: no plan can use
/// less arena.
pub fn peak_live_bytes(buffers: &[BufferRequest], align: usize) -> usize {
    let last = buffers.iter().map(|b| b.last_use).max().unwrap_or(0);
    (0..=last)
        .map(|t| {
            buffers
                .iter()
                .filter(|b| b.first_use <= t && t <= b.last_use)
                .map(|b| align_up(b.size, align.max(1)))
                .sum()
        })
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assert_no_live_overlap(buffers: &[BufferRequest], plan: &Plan, align: usize) {
        for i in 0..buffers.len() {
            assert_eq!(plan.offsets[i] % align, 0);
            assert!(plan.offsets[i] + buffers[i].size <= plan.arena_bytes);
            for j in 0..i {
                if buffers[i].lives_with(&buffers[j]) {
                    let (a0, a1) = (plan.offsets[i], plan.offsets[i] + buffers[i].size);
                    let (b0, b1) = (plan.offsets[j], plan.offsets[j] + buffers[j].size);
                    assert!(
                        a1 <= b0 || b1 <= a0,
                        "buffers {i} and {j} overlap while both live"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_plan_needs_no_arena() {
        assert_eq!(
            plan_greedy(&[], 4),
            Plan {
                offsets: vec![],
                arena_bytes: 0
            }
        );
    }

    #[test]
    fn chain_arena_equals_largest_live_pair() {
        // z(256) -> h1(1024) -> h2(3136) -> y(3136): peak is the pair h2 + y.
        let sizes = [256, 1024, 3136, 3136];
        let buffers: Vec<_> = sizes
            .iter()
            .enumerate()
            .map(|(i, &s)| BufferRequest {
                size: s,
                first_use: i,
                last_use: i + 1,
            })
            .collect();
        let plan = plan_greedy(&buffers, 4);
        assert_no_live_overlap(&buffers, &plan, 4);
        assert_eq!(plan.arena_bytes, 3136 * 2);
        assert_eq!(plan.arena_bytes, peak_live_bytes(&buffers, 4));
    }

    #[test]
    fn sizes_are_rounded_to_alignment() {
        let buffers = [
            BufferRequest {
                size: 3,
                first_use: 0,
                last_use: 0,
            },
            BufferRequest {
                size: 5,
                first_use: 0,
                last_use: 0,
            },
        ];
        let plan = plan_greedy(&buffers, 8);
        assert_no_live_overlap(&buffers, &plan, 8);
        assert_eq!(plan.arena_bytes, 16);
    }

    proptest! {
        #[test]
        fn live_buffers_never_overlap_and_arena_is_near_peak(
            raw in proptest::collection::vec((1usize..2000, 0usize..12, 0usize..4), 1..24),
            align in prop_oneof![Just(4usize), Just(8usize)],
        ) {
            let buffers: Vec<_> = raw.iter().map(|&(size, first, len)| BufferRequest { size, first_use: first, last_use: first + len }).collect();
            let plan = plan_greedy(&buffers, align);
            assert_no_live_overlap(&buffers, &plan, align);
            let peak = peak_live_bytes(&buffers, align);
            prop_assert!(plan.arena_bytes >= peak);
            let total: usize = buffers.iter().map(|b| align_up(b.size, align)).sum();
            prop_assert!(plan.arena_bytes <= total);
            // Greedy-by-size is not optimal, but on random interval sets it stays close.
            prop_assert!(plan.arena_bytes * 2 <= peak * 3 + 2 * 2000, "arena {} vs peak {}", plan.arena_bytes, peak);
        }

        #[test]
        fn chains_are_planned_at_the_peak(sizes in proptest::collection::vec(1usize..5000, 1..16)) {
            let buffers: Vec<_> = sizes.iter().enumerate().map(|(i, &s)| BufferRequest { size: s, first_use: i, last_use: i + 1 }).collect();
            let plan = plan_greedy(&buffers, 4);
            assert_no_live_overlap(&buffers, &plan, 4);
            // A chain's buffers are only ever live in neighbouring pairs; greedy may
            // fragment, but never beyond the two largest buffers plus the largest pair.
            let peak = peak_live_bytes(&buffers, 4);
            let mut s: Vec<usize> = buffers.iter().map(|b| align_up(b.size, 4)).collect();
            s.sort_unstable();
            s.reverse();
            prop_assert!(plan.arena_bytes <= peak + s[0], "arena {} peak {}", plan.arena_bytes, peak);
        }
    }
}

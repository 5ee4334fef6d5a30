//! The sampling path performs no heap allocation: a counting global allocator sees zero
//! allocations across 10,000 samples of every format and condition kind.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use edgegan_runtime::{Condition, DeviceModel, Sampler};

struct Counting;

thread_local! {
    // Only this thread's allocations count: the test harness allocates on its own threads
    // (output capture, timers) at moments we do not control.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to `System` unchanged; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn ten_thousand_samples_allocate_nothing() {
    let (mask, masked) = mask_inputs(0);
    let graphs = [mlp(), conv(), label_mlp(), mask_gen()];
    let mut total = 0;
    for graph in &graphs {
        for format in FORMATS {
            let bytes = write(graph, format);
            let mut arena = vec![0u8; 64 * 1024];
            let mut out = vec![0.0f32; 4 * 64];
            let mut px = [0u8; 64];
            let condition = match graph.condition {
                edgegan_runtime::ConditionKind::None => Condition::None,
                edgegan_runtime::ConditionKind::Label { .. } => Condition::Label(3),
                edgegan_runtime::ConditionKind::Mask { .. } => Condition::Mask {
                    mask: &mask,
                    masked: &masked,
                },
            };
            let before = allocations();
            let model = DeviceModel::from_bytes(bytes.as_slice()).unwrap();
            let n = model.output_len();
            let mut sampler = Sampler::new(&model, &mut arena).unwrap();
            for seed in 0..800u64 {
                sampler.sample(seed, condition, &mut out[..n]).unwrap();
            }
            let z = [0.25f32; 64];
            for seed in 0..50u64 {
                sampler
                    .sample_with_noise(&z[..model.noise_dim()], condition, &mut out[..n])
                    .unwrap();
                sampler.sample_u8(seed, condition, &mut px[..n]).unwrap();
                sampler.sample_batch(seed, 4, condition, &mut out).unwrap();
            }
            // Errors allocate nothing either.
            let _ = sampler.sample(0, Condition::Label(99), &mut out);
            let _ = model.sample(0, condition, &mut [0u8; 3], &mut out);
            total += 800 + 50 + 50 + 200;
            let after = allocations();
            assert_eq!(after - before, 0, "loading and sampling allocated");
        }
    }
    assert!(total >= 10_000, "{total} samples");
}

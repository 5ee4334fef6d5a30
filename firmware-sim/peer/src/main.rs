//! Peer bench firmware (not in CI): the same generator as the edgegan firmware, but through
//! burn-onnx's import — the ONNX turned into Burn code at build time, weights embedded,
//! run by Burn's flex backend without std — on the same Cortex-M4F in QEMU, for the same
//! noise and labels. Built and run by `firmware-sim bench-peer`.
//!
//! It prints the edgegan firmware's protocol (see `../firmware/src/main.rs`) plus the heap:
//!
//! ```text
//! EGM <heap bytes after loading the model> <output len> <sample count>
//! CAL <instructions> <timer ticks>
//! S <index> <timer ticks> <hex f32 bits>...   only `forward` is timed
//! HEAP <peak heap bytes> <heap bytes after loading>
//! STACK <bytes>
//! DONE
//! ```
#![no_std]
#![no_main]

extern crate alloc;

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{Device, Int, Tensor, TensorData};
use cortex_m_rt::entry;
use cortex_m_semihosting::debug;

// The timer, calibration loop, stack painting, writer and failure handlers of ../firmware.
use edgegan_board::{Writer, calibrate, paint_stack, stack_used, timer_now, timer_start};
use embedded_alloc::LlffHeap;

mod config {
    include!(concat!(env!("OUT_DIR"), "/config.rs"));
}
#[allow(clippy::all, unused)]
mod model {
    include!(concat!(env!("OUT_DIR"), "/model/model.rs"));
}

use config::{HEAP_BYTES, LABELS, NOISE_DIM, Z};

/// The heap, with its high-water mark.
struct Tracked {
    heap: LlffHeap,
    peak: AtomicUsize,
}

unsafe impl GlobalAlloc for Tracked {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { self.heap.alloc(layout) };
        self.peak.fetch_max(self.heap.used(), Ordering::Relaxed);
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { self.heap.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static HEAP: Tracked = Tracked {
    heap: LlffHeap::empty(),
    peak: AtomicUsize::new(0),
};

static mut HEAP_MEM: [u8; HEAP_BYTES] = [0; HEAP_BYTES];

#[entry]
fn main() -> ! {
    paint_stack();
    // SAFETY: once, before any allocation.
    unsafe { HEAP.heap.init((&raw mut HEAP_MEM) as usize, HEAP_BYTES) };
    run();
    let mut w = Writer::new();
    w.str("STACK ");
    w.dec(stack_used() as u64);
    w.str("\nDONE\n");
    w.flush();
    debug::exit(debug::EXIT_SUCCESS);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[inline(never)]
fn run() {
    let mut w = Writer::new();
    timer_start();
    let (cal_instructions, cal_ticks) = calibrate();
    let device: Device = Default::default();
    let model = model::Model::from_embedded(&device);
    let loaded = HEAP.heap.used();
    let count = LABELS.len();
    let mut header_done = false;
    for i in 0..count {
        let z = Tensor::<2>::from_data(
            TensorData::new(
                Z[i * NOISE_DIM..(i + 1) * NOISE_DIM].to_vec(),
                [1, NOISE_DIM],
            ),
            &device,
        );
        let label =
            Tensor::<1, Int>::from_data(TensorData::new(alloc::vec![LABELS[i]], [1]), &device);
        let t0 = timer_now();
        let x = model.forward(z, label);
        // the values are computed by the time they are read back
        let data = x.into_data();
        let ticks = t0.wrapping_sub(timer_now());
        let values = data.as_slice::<f32>().unwrap_or(&[]);
        if !header_done {
            w.str("EGM ");
            w.dec(loaded as u64);
            w.str(" ");
            w.dec(values.len() as u64);
            w.str(" ");
            w.dec(count as u64);
            w.str("\nCAL ");
            w.dec(cal_instructions);
            w.str(" ");
            w.dec(u64::from(cal_ticks));
            w.str("\n");
            header_done = true;
        }
        w.str("S ");
        w.dec(i as u64);
        w.str(" ");
        w.dec(u64::from(ticks));
        for v in values {
            w.str(" ");
            w.hex(v.to_bits());
        }
        w.str("\n");
    }
    w.str("HEAP ");
    w.dec(HEAP.peak.load(Ordering::Relaxed) as u64);
    w.str(" ");
    w.dec(loaded as u64);
    w.str("\n");
    w.flush();
}

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
use core::arch::asm;
use core::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::{Device, Int, Tensor, TensorData};
use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::{debug, hio};
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

const PAINT: u32 = 0xC0DE_5EED;
const PAINT_GUARD: usize = 64;

const TIMER0_CTRL: *mut u32 = 0x4000_0000 as *mut u32;
const TIMER0_VALUE: *mut u32 = 0x4000_0004 as *mut u32;
const TIMER0_RELOAD: *mut u32 = 0x4000_0008 as *mut u32;

unsafe extern "C" {
    static __sheap: u32;
    static _stack_start: u32;
}

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

// The timer, calibration loop, stack painting and writer are those of ../firmware.

fn timer_start() {
    // SAFETY: MMIO registers of the board's timer 0, which nothing else uses.
    unsafe {
        TIMER0_CTRL.write_volatile(0);
        TIMER0_RELOAD.write_volatile(u32::MAX);
        TIMER0_VALUE.write_volatile(u32::MAX);
        TIMER0_CTRL.write_volatile(1);
    }
}

fn timer_now() -> u32 {
    // SAFETY: as in `timer_start`.
    unsafe { TIMER0_VALUE.read_volatile() }
}

#[inline(never)]
fn calibrate() -> (u64, u32) {
    const TURNS: u32 = 500_000;
    let t0 = timer_now();
    // SAFETY: a register-only countdown loop.
    unsafe {
        asm!(
            "2:",
            "subs {n}, {n}, #1",
            "bne 2b",
            n = inout(reg) TURNS => _,
            options(nomem, nostack),
        );
    }
    let ticks = t0.wrapping_sub(timer_now());
    (2 * u64::from(TURNS), ticks)
}

fn stack_bounds() -> (usize, usize) {
    (
        (&raw const __sheap) as usize,
        (&raw const _stack_start) as usize,
    )
}

#[inline(never)]
fn paint_stack() {
    let (low, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = (low + 3) & !3;
    while p + PAINT_GUARD < sp {
        // SAFETY: [low, sp - guard) is free RAM between the statics and the live stack.
        unsafe { (p as *mut u32).write_volatile(PAINT) };
        p += 4;
    }
}

fn stack_used() -> usize {
    let (low, top) = stack_bounds();
    let mut p = (low + 3) & !3;
    // SAFETY: reads of RAM between the statics and the stack top.
    while p < top && unsafe { (p as *const u32).read_volatile() } == PAINT {
        p += 4;
    }
    top - p
}

struct Writer {
    buf: [u8; 256],
    len: usize,
}

impl Writer {
    fn new() -> Self {
        Writer {
            buf: [0; 256],
            len: 0,
        }
    }

    fn byte(&mut self, b: u8) {
        if self.len == self.buf.len() {
            self.flush();
        }
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn str(&mut self, s: &str) {
        for &b in s.as_bytes() {
            self.byte(b);
        }
    }

    fn dec(&mut self, mut v: u64) {
        let mut digits = [0u8; 20];
        let mut n = 0;
        loop {
            digits[n] = b'0' + (v % 10) as u8;
            n += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        for &d in digits[..n].iter().rev() {
            self.byte(d);
        }
    }

    fn hex(&mut self, v: u32) {
        for shift in (0..8).rev() {
            let nibble = ((v >> (shift * 4)) & 0xF) as u8;
            self.byte(if nibble < 10 {
                b'0' + nibble
            } else {
                b'a' + nibble - 10
            });
        }
    }

    fn flush(&mut self) {
        if self.len > 0 {
            if let Ok(mut out) = hio::hstdout() {
                let _ = out.write_all(&self.buf[..self.len]);
            }
            self.len = 0;
        }
    }
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR panic\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR unexpected interrupt\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    if let Ok(mut out) = hio::hstdout() {
        let _ = out.write_all(b"ERR hard fault\n");
    }
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

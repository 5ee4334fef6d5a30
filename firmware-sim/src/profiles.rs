//! Device profiles: real flash and RAM budgets, each written into the firmware's `memory.x`.
//!
//! The emulated `mps2-an386` board has 4 MB + 4 MB of memory, which would hide any overflow,
//! so the firmware is always linked against a profile instead.

use crate::{Error, Result};

/// A core family the firmware is built for and the QEMU machine that runs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Core {
    /// In words, for reports (`Cortex-M4F`).
    pub name: &'static str,
    /// The Rust target.
    pub target: &'static str,
    /// The QEMU system emulator that runs it, and its Debian package.
    pub qemu: (&'static str, &'static str),
    /// QEMU's `-machine`.
    pub machine: &'static str,
    /// QEMU's `-cpu` (`None`: the machine's own).
    pub cpu: Option<&'static str>,
    /// Where the machine boots from (the firmware's FLASH region).
    pub flash_origin: u32,
    /// Where the firmware's RAM region starts.
    pub ram_origin: u32,
    /// The firmware (and board crate) feature that selects this machine's peripherals.
    pub board_feature: Option<&'static str>,
    /// Whether the core has the DSP extension (`SXTB16`, `SMLAD`): the firmware is then
    /// built with its `dsp` feature, the runtime's int8 kernels for it.
    pub dsp: bool,
}

const ARM_QEMU: (&str, &str) = ("qemu-system-arm", "qemu-system-arm");

/// Cortex-M4F on QEMU's MPS2 AN386 (the default board).
pub const CORTEX_M4: Core = Core {
    name: "Cortex-M4F",
    target: "thumbv7em-none-eabihf",
    qemu: ARM_QEMU,
    machine: "mps2-an386",
    cpu: Some("cortex-m4"),
    flash_origin: 0x0000_0000,
    ram_origin: 0x2000_0000,
    board_feature: None,
    dsp: true,
};

/// Cortex-M7F on QEMU's MPS2 AN500: the AN386's memory map and peripherals, and the same
/// firmware build as the Cortex-M4F (`thumbv7em-none-eabihf` with the DSP kernels). Under
/// `-icount` QEMU counts instructions, not the M7's dual-issue cycles, so its figures are
/// instructions executed on an M7 core model.
pub const CORTEX_M7: Core = Core {
    name: "Cortex-M7F",
    machine: "mps2-an500",
    cpu: Some("cortex-m7"),
    ..CORTEX_M4
};

/// Cortex-M0 (Armv6-M: no FPU, no DSP, no hardware divide) on QEMU's BBC micro:bit
/// (nRF51822): 256 KiB flash at 0, 16 KiB RAM at 0x2000_0000. It stands for the
/// Cortex-M0+ parts (same instruction set).
pub const CORTEX_M0: Core = Core {
    name: "Cortex-M0",
    target: "thumbv6m-none-eabi",
    qemu: ARM_QEMU,
    machine: "microbit",
    cpu: Some("cortex-m0"),
    flash_origin: 0x0000_0000,
    ram_origin: 0x2000_0000,
    board_feature: Some("microbit"),
    dsp: false,
};

/// Cortex-M33F (Armv8-M mainline, TrustZone; the firmware runs in the secure state it
/// boots in) on QEMU's MPS2 AN505: code in SSRAM1's secure alias, data in SSRAM2/3's.
pub const CORTEX_M33: Core = Core {
    name: "Cortex-M33F",
    target: "thumbv8m.main-none-eabihf",
    qemu: ARM_QEMU,
    machine: "mps2-an505",
    cpu: Some("cortex-m33"),
    flash_origin: 0x1000_0000,
    ram_origin: 0x3800_0000,
    board_feature: Some("an505"),
    dsp: true,
};

/// RISC-V `rv32imac` (ESP32-C3/C6, GD32V class) on QEMU's `virt` board, machine mode,
/// without firmware (`-bios none`): its RAM at 0x8000_0000 holds the FLASH region and,
/// 4 MiB higher, the RAM region.
pub const RISCV32: Core = Core {
    name: "RISC-V rv32imac",
    target: "riscv32imac-unknown-none-elf",
    qemu: ("qemu-system-riscv32", "qemu-system-misc"),
    machine: "virt",
    cpu: None,
    flash_origin: 0x8000_0000,
    ram_origin: 0x8040_0000,
    board_feature: None,
    dsp: false,
};

/// A device budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The CLI name.
    pub name: &'static str,
    /// A device it stands for.
    pub example: &'static str,
    /// Flash bytes.
    pub flash: u32,
    /// RAM bytes.
    pub ram: u32,
    /// The core it is built for and emulated on.
    pub core: Core,
}

const KIB: u32 = 1024;

/// Every profile, smallest first.
pub const PROFILES: [Profile; 7] = [
    Profile {
        name: "m0-microbit",
        example: "BBC micro:bit v1 (nRF51822): Cortex-M0, 256 KB flash / 16 KB RAM (QEMU microbit)",
        flash: 256 * KIB,
        ram: 16 * KIB,
        core: CORTEX_M0,
    },
    Profile {
        name: "m4-small",
        example: "Cortex-M4F, 512 KB flash / 64 KB RAM (e.g. STM32F401RB class)",
        flash: 512 * KIB,
        ram: 64 * KIB,
        core: CORTEX_M4,
    },
    Profile {
        name: "m4-mid",
        example: "Cortex-M4F, 512 KB flash / 128 KB RAM (e.g. STM32F411RE class)",
        flash: 512 * KIB,
        ram: 128 * KIB,
        core: CORTEX_M4,
    },
    Profile {
        name: "m4-large",
        example: "nRF52840: Cortex-M4F, 1 MB flash / 256 KB RAM",
        flash: 1024 * KIB,
        ram: 256 * KIB,
        core: CORTEX_M4,
    },
    Profile {
        name: "m33-nrf5340",
        example: "nRF5340 application core: Cortex-M33F, 1 MB flash / 512 KB RAM (QEMU mps2-an505)",
        flash: 1024 * KIB,
        ram: 512 * KIB,
        core: CORTEX_M33,
    },
    Profile {
        name: "rv32-esp32c3",
        example: "ESP32-C3 class: RISC-V rv32imac, 4 MB flash / 400 KB RAM (QEMU virt)",
        flash: 4096 * KIB,
        ram: 400 * KIB,
        core: RISCV32,
    },
    Profile {
        name: "m7",
        example: "STM32H743: Cortex-M7, 2 MB flash / 1 MB RAM (QEMU mps2-an500)",
        flash: 2048 * KIB,
        ram: 1024 * KIB,
        core: CORTEX_M7,
    },
];

/// Flash the firmware's code, vectors and tables take besides the model (measured: the
/// firmware is well under this; `run` reports the real figure).
pub const CODE_RESERVE: u32 = 32 * KIB;
/// RAM for the stack and the firmware's own statics besides the arena and output buffer.
pub const STACK_RESERVE: u32 = 4 * KIB;

/// The profile named `name`.
///
/// # Errors
///
/// [`Error::UnknownProfile`], listing the known names.
pub fn find(name: &str) -> Result<Profile> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .copied()
        .ok_or_else(|| Error::UnknownProfile {
            name: name.to_string(),
            known: PROFILES.map(|p| p.name).join(", "),
        })
}

/// Estimated firmware footprint of a model: `(flash, ram)` bytes. A mask-conditioned
/// model (`mask_len` > 0) also needs the firmware's test picture in flash and its mask and
/// masked buffers in RAM, `mask_len` f32 each.
pub fn estimate(
    model_bytes: usize,
    arena_bytes: usize,
    output_len: usize,
    mask_len: usize,
) -> (u64, u64) {
    let flash = model_bytes as u64 + 4 * mask_len as u64 + u64::from(CODE_RESERVE);
    let ram =
        arena_bytes as u64 + 4 * output_len as u64 + 8 * mask_len as u64 + u64::from(STACK_RESERVE);
    (flash, ram)
}

impl Profile {
    /// Whether an estimated `(flash, ram)` footprint fits.
    pub fn fits(&self, (flash, ram): (u64, u64)) -> bool {
        flash <= u64::from(self.flash) && ram <= u64::from(self.ram)
    }
}

/// `n` bytes as KiB with one decimal when not whole.
pub fn kib(n: u64) -> String {
    if n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_profile_lists_the_known_ones() {
        let err = find("m3").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown device profile `m3` (known: m0-microbit, m4-small, m4-mid, m4-large, \
             m33-nrf5340, rv32-esp32c3, m7)"
        );
    }

    #[test]
    fn profiles_are_smallest_first() {
        // per core: the ESP32-C3's 4 MB of flash and 400 KB of RAM do not order with the
        // others
        for core in [CORTEX_M0, CORTEX_M4, CORTEX_M7, CORTEX_M33, RISCV32] {
            let same: Vec<&Profile> = PROFILES.iter().filter(|p| p.core == core).collect();
            for w in same.windows(2) {
                assert!(w[0].flash <= w[1].flash && w[0].ram <= w[1].ram);
            }
        }
    }
}

//! Device profiles: real flash and RAM budgets, each written into the firmware's `memory.x`.
//!
//! The emulated `mps2-an386` board has 4 MB + 4 MB of memory, which would hide any overflow,
//! so the firmware is always linked against a profile instead.

use crate::{Error, Result};

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
}

const KIB: u32 = 1024;

/// Every profile, smallest first.
pub const PROFILES: [Profile; 4] = [
    Profile {
        name: "m4-small",
        example: "Cortex-M4F, 512 KB flash / 64 KB RAM (e.g. STM32F401RB class)",
        flash: 512 * KIB,
        ram: 64 * KIB,
    },
    Profile {
        name: "m4-mid",
        example: "Cortex-M4F, 512 KB flash / 128 KB RAM (e.g. STM32F411RE class)",
        flash: 512 * KIB,
        ram: 128 * KIB,
    },
    Profile {
        name: "m4-large",
        example: "nRF52840: Cortex-M4F, 1 MB flash / 256 KB RAM",
        flash: 1024 * KIB,
        ram: 256 * KIB,
    },
    Profile {
        name: "m7",
        example: "STM32H743: Cortex-M7, 2 MB flash / 1 MB RAM (emulated as a Cortex-M4F)",
        flash: 2048 * KIB,
        ram: 1024 * KIB,
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
            "unknown device profile `m3` (known: m4-small, m4-mid, m4-large, m7)"
        );
    }

    #[test]
    fn profiles_are_smallest_first() {
        for w in PROFILES.windows(2) {
            assert!(w[0].flash <= w[1].flash && w[0].ram <= w[1].ram);
        }
    }
}

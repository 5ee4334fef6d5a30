//! Just enough ELF32 (little-endian) to measure a firmware image: its allocated sections.

use std::path::Path;

use crate::{Error, Result};

/// An allocated section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// Its name (`.text`, `.rodata`, …).
    pub name: String,
    /// Its run-time address.
    pub addr: u32,
    /// Bytes.
    pub size: u32,
    /// Whether it has contents in the file (not `.bss`-like).
    pub has_bits: bool,
}

const SHF_ALLOC: u32 = 0x2;
const SHT_NOBITS: u32 = 8;

/// The allocated sections of the ELF32 image `bytes`.
///
/// # Errors
///
/// [`Error::Elf`] if it is not a little-endian ELF32 file or a table is out of bounds.
pub fn sections(path: &Path, bytes: &[u8]) -> Result<Vec<Section>> {
    let bad = |reason: &str| Error::Elf {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let u16_at = |o: usize| -> Result<u32> {
        bytes
            .get(o..o + 2)
            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
            .ok_or_else(|| bad("truncated"))
    };
    let u32_at = |o: usize| -> Result<u32> {
        bytes
            .get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .ok_or_else(|| bad("truncated"))
    };
    if bytes.get(..6) != Some(b"\x7fELF\x01\x01".as_slice()) {
        return Err(bad("not a little-endian 32-bit ELF file"));
    }
    let shoff = u32_at(0x20)? as usize;
    let shentsize = u16_at(0x2E)? as usize;
    let shnum = u16_at(0x30)? as usize;
    let shstrndx = u16_at(0x32)? as usize;
    if shentsize < 40 || shstrndx >= shnum {
        return Err(bad("bad section header table"));
    }
    let header = |i: usize| shoff + i * shentsize;
    let strtab = u32_at(header(shstrndx) + 16)? as usize;
    let name_at = |o: usize| -> Result<String> {
        let tail = bytes.get(strtab + o..).ok_or_else(|| bad("bad name"))?;
        let end = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad("bad name"))?;
        Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
    };
    let mut out = vec![];
    for i in 0..shnum {
        let h = header(i);
        let flags = u32_at(h + 8)?;
        if flags & SHF_ALLOC == 0 {
            continue;
        }
        out.push(Section {
            name: name_at(u32_at(h)? as usize)?,
            addr: u32_at(h + 12)?,
            size: u32_at(h + 20)?,
            has_bits: u32_at(h + 4)? != SHT_NOBITS,
        });
    }
    Ok(out)
}

/// Flash and RAM taken by a linked firmware image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Everything stored in flash (code, read-only data, `.data`'s initial values).
    pub flash: u64,
    /// `.text` and the vector table.
    pub code: u64,
    /// Statically allocated RAM (`.data`, `.bss`, `.uninit`).
    pub static_ram: u64,
}

/// The footprint of `sections` with RAM starting at `ram_origin`.
pub fn footprint(sections: &[Section], ram_origin: u32) -> Footprint {
    let mut f = Footprint::default();
    for s in sections {
        // riscv-rt describes the free stack (and heap) as NOLOAD sections up to the top of
        // RAM: not static data (the stack is measured at run time)
        if s.name == ".stack" || s.name == ".heap" {
            continue;
        }
        let size = u64::from(s.size);
        if s.addr >= ram_origin {
            f.static_ram += size;
            if s.has_bits {
                // `.data` is copied from flash at boot.
                f.flash += size;
            }
        } else {
            f.flash += size;
            if s.name == ".text" || s.name == ".vector_table" {
                f.code += size;
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_an_elf_is_an_error() {
        let err = sections(Path::new("x"), b"\x7fELF\x02\x01rest").unwrap_err();
        assert!(err.to_string().contains("32-bit ELF"), "{err}");
    }

    #[test]
    fn data_counts_in_flash_and_ram() {
        let s = |name: &str, addr, size, has_bits| Section {
            name: name.into(),
            addr,
            size,
            has_bits,
        };
        let f = footprint(
            &[
                s(".vector_table", 0, 0x400, true),
                s(".text", 0x400, 1000, true),
                s(".rodata", 0x800, 500, true),
                s(".data", 0x2000_0000, 8, true),
                s(".bss", 0x2000_0008, 100, false),
                s(".stack", 0x2000_006c, 4000, false),
            ],
            0x2000_0000,
        );
        assert_eq!(f.flash, 0x400 + 1000 + 500 + 8);
        assert_eq!(f.code, 0x400 + 1000);
        assert_eq!(f.static_ram, 108);
    }
}

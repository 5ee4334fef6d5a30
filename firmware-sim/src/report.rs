//! The text reports of `firmware-sim inspect` (a model) and `firmware-sim run` (a firmware
//! run against a device profile).

use std::fmt::Write as _;
use std::path::Path;

use edgegan_runtime::format::OpFormat;
use edgegan_runtime::{DeviceModel, Storage};

use crate::firmware;
use crate::profiles::{self, PROFILES, Profile, kib};

/// The description `firmware-sim inspect` prints: ops, weight format, parameters, arena
/// and flash bytes, MACs, and which device profiles it fits.
///
/// # Errors
///
/// Never in practice (writing to a `String`).
pub fn inspect(path: &Path, m: &DeviceModel<'_>) -> Result<String, std::fmt::Error> {
    let mut s = String::new();
    let w = &mut s;
    let (lo, hi) = m.value_range();
    writeln!(w, "model:       {}", path.display())?;
    writeln!(w, "format:      {}", m.weight_format().name())?;
    writeln!(w, "condition:   {}", m.condition())?;
    writeln!(w, "noise:       z[{}]", m.noise_dim())?;
    writeln!(w, "output:      {:?}, values {lo}..{hi}", m.output_shape())?;
    writeln!(w, "ops:         {}", m.op_count())?;
    let mut params = 0u64;
    let mut consts = 0u64;
    for i in 0..m.tensor_count() {
        if let Some(t) = m.tensor(i).filter(|t| t.storage == Storage::Const) {
            consts += u64::from(t.numel);
        }
    }
    for i in 0..m.op_count() {
        let Some(op) = m.op(i) else { continue };
        let out = m.tensor(op.output as usize);
        let fmt = match op.format {
            OpFormat::F32 => "f32",
            OpFormat::W8A32 => "w8a32",
            OpFormat::W8A8 => "w8a8",
        };
        let n = m.op_learned_params(i);
        params += n;
        writeln!(
            w,
            "  {i:>3} {:<10} {fmt:<5} -> {:?}{}{}",
            op.kind.name(),
            out.map(|t| t.shape().to_vec()).unwrap_or_default(),
            if op.activation == 1 { " +relu" } else { "" },
            if n > 0 {
                format!("  ({n} params)")
            } else {
                String::new()
            }
        )?;
    }
    writeln!(
        w,
        "parameters:  {} ({} B of weights and tables)",
        params + consts,
        m.weight_bytes()
    )?;
    writeln!(w, "arena:       {} B", m.arena_bytes())?;
    writeln!(w, "flash:       {} B (the model)", m.bytes().len())?;
    writeln!(w, "MACs:        {} per sample", m.macs())?;
    let mask_len = m.condition().mask_len();
    let est = profiles::estimate(m.bytes().len(), m.arena_bytes(), m.output_len(), mask_len);
    let masks = if mask_len > 0 {
        (" + test picture", " + mask buffers")
    } else {
        ("", "")
    };
    writeln!(
        w,
        "fits:        estimate {} flash (model{} + {} code), {} RAM (arena + output{} + {} \
         stack); `firmware-sim run` measures",
        kib(est.0),
        masks.0,
        kib(u64::from(profiles::CODE_RESERVE)),
        kib(est.1),
        masks.1,
        kib(u64::from(profiles::STACK_RESERVE)),
    )?;
    for p in PROFILES {
        writeln!(
            w,
            "  {:<9} {}",
            p.name,
            if p.fits(est) { "fits" } else { "does not fit" }
        )?;
    }
    Ok(s)
}

fn pct(part: u64, whole: u32) -> String {
    format!("{:.1}%", 100.0 * part as f64 / f64::from(whole.max(1)))
}

/// The report of a firmware run: footprint against the profile, instructions per sample.
pub fn run_report(path: &Path, m: &DeviceModel<'_>, r: &firmware::Report) -> String {
    let p: &Profile = &r.profile;
    let f = &r.footprint;
    let n = r.instructions.len().max(1) as u64;
    let total: u64 = r.instructions.iter().sum();
    let mean = total / n;
    let min = r.instructions.iter().min().copied().unwrap_or(0);
    let max = r.instructions.iter().max().copied().unwrap_or(0);
    let ram = f.static_ram + r.stack;
    let other_static = f
        .static_ram
        .saturating_sub(r.arena_bytes + r.output_bytes + r.mask_bytes);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "model:        {} ({}, {})",
        path.display(),
        m.weight_format().name(),
        m.condition()
    );
    let _ = writeln!(
        s,
        "profile:      {} ({} flash / {} RAM), QEMU {} {}",
        p.name,
        kib(u64::from(p.flash)),
        kib(u64::from(p.ram)),
        p.core.machine,
        p.core.name
    );
    let _ = writeln!(
        s,
        "samples:      {} from the firmware, bit-identical to the host runtime",
        r.samples.len()
    );
    let picture = if r.picture_bytes > 0 {
        format!(", test picture {} B", r.picture_bytes)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "flash:        {} B ({} of {}): model {} B (weights {} B), code {} B{picture}, other {} B",
        f.flash,
        pct(f.flash, p.flash),
        p.name,
        r.model_bytes,
        r.weight_bytes,
        f.code,
        f.flash
            .saturating_sub(r.model_bytes + f.code + r.picture_bytes)
    );
    let masks = if r.mask_bytes > 0 {
        format!(", mask + masked {} B", r.mask_bytes)
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "ram:          {} B ({} of {}): arena {} B, output {} B{masks}, other static {} B, stack {} B (high-water mark)",
        ram,
        pct(ram, p.ram),
        p.name,
        r.arena_bytes,
        r.output_bytes,
        other_static,
        r.stack
    );
    let per_mac = if r.macs > 0 {
        format!("{:.2}", mean as f64 / r.macs as f64)
    } else {
        "-".to_string()
    };
    let _ = writeln!(
        s,
        "instructions: {mean} per sample (min {min}, max {max}), {} MACs, {per_mac} per MAC",
        r.macs
    );
    let _ = writeln!(
        s,
        "              (QEMU -icount shift=0 virtual time via the board timer; {:.2} instructions per tick)",
        r.instructions_per_tick
    );
    if !r.op_instructions.is_empty() {
        s.push_str(&op_table(
            m,
            &r.op_instructions,
            r.instructions.first().copied(),
        ));
    }
    s
}

/// Per op: kind, output shape, MACs and instructions in one run of the first sample, and
/// the rest of the sample (noise, condition, output copy) against its plain run.
fn op_table(m: &DeviceModel<'_>, ops: &[u64], sample: Option<u64>) -> String {
    let mut s = String::new();
    let sum: u64 = ops.iter().sum();
    let whole = sample.unwrap_or(sum).max(sum).max(1);
    let _ = writeln!(
        s,
        "per op (sample 0, timed on its own run; the timer counts in steps of about 40 instructions):"
    );
    let _ = writeln!(
        s,
        "  {:>3} {:<16} {:<18} {:>11} {:>12} {:>8} {:>6}",
        "op", "kind", "output", "MACs", "instructions", "per MAC", "share"
    );
    for (i, &n) in ops.iter().enumerate() {
        let rec = m.op(i);
        let kind = rec.map_or("?", |r| r.kind.name());
        let shape = rec
            .and_then(|r| m.tensor(r.output as usize))
            .map(|t| format!("{:?}", t.shape()))
            .unwrap_or_default();
        let macs = m.op_macs(i);
        let per_mac = if macs > 0 {
            format!("{:.2}", n as f64 / macs as f64)
        } else {
            "-".to_string()
        };
        let _ = writeln!(
            s,
            "  {i:>3} {kind:<16} {shape:<18} {macs:>11} {n:>12} {per_mac:>8} {:>5.1}%",
            100.0 * n as f64 / whole as f64
        );
    }
    if let Some(total) = sample {
        let rest = total.saturating_sub(sum);
        let _ = writeln!(
            s,
            "      {:<16} {:<18} {:>11} {rest:>12} {:>8} {:>5.1}%",
            "rest",
            "(noise, input, output)",
            "",
            "",
            100.0 * rest as f64 / whole as f64
        );
    }
    s
}

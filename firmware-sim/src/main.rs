//! `firmware-sim`: sample an edgegan device model on the host exactly as a device would,
//! and build and run the real firmware on an emulated Cortex-M4 against a device budget.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use edgegan_runtime::{ConditionKind, DeviceModel, Limits, WeightFormat};
use firmware_sim::card;
use firmware_sim::demo::{self, DemoKind};
use firmware_sim::firmware::{self, RunOptions};
use firmware_sim::host::{self, Batch, MaskInput, MaskPlan, ModelFile};
use firmware_sim::inputs::{self, Role};
use firmware_sim::output::Format;
use firmware_sim::profiles::{self, PROFILES, kib};
use firmware_sim::samples::{self, View, ViewArgs};
use firmware_sim::{maskgen, peer, picture, report};

#[derive(Debug, Parser)]
#[command(name = "firmware-sim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Describe a model: ops, weight format, parameters, arena and flash bytes, MACs, and
    /// which device profiles it fits.
    Inspect {
        /// The `.egm` model.
        model: PathBuf,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Sample on the host with the device runtime (the firmware's code path).
    Sample {
        /// The `.egm` model [default: models/fashion-cgan/model.w8a8.egm in the repository].
        #[arg(long)]
        model: Option<PathBuf>,
        /// Class (label-conditioned models): an index, or a name from the model card
        /// (`model.toml` next to the model), case-insensitive; without it, sample i gets
        /// class i mod classes.
        #[arg(long, allow_negative_numbers = true)]
        class: Option<String>,
        /// First noise seed; sample i uses seed + i.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of samples.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        n: u32,
        /// Output file (png: a grid; inpainting models: rows of masked input and completion).
        #[arg(long, default_value = "samples.png")]
        out: PathBuf,
        /// Output format (default: from the file extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// The noise to sample instead of seeded noise: .npy float32 [N, Z], one sample per
        /// row (e.g. the z your framework fed its generator, to compare sample for sample);
        /// the CSV's seed column holds the row.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["seed", "n"])]
        z: Option<PathBuf>,
        /// One class per --z row: .npy int64 [N] [default: --class, or row i mod classes].
        #[arg(long, value_name = "FILE", requires = "z", conflicts_with = "class")]
        labels: Option<PathBuf>,
        #[command(flatten)]
        view: ViewArgs,
        #[command(flatten)]
        masks: MaskArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List the device profiles.
    Profiles,
    /// Build the firmware with the model for a device profile, run it in QEMU
    /// (mps2-an386, Cortex-M4), check it against the host and report flash, RAM and cost.
    Run {
        /// The `.egm` model.
        #[arg(long)]
        model: PathBuf,
        /// Device profile (see `firmware-sim profiles`).
        #[arg(long)]
        profile: String,
        /// Class (label-conditioned models): an index or a name from the model card; without
        /// it, sample i gets class i mod classes.
        #[arg(long, allow_negative_numbers = true)]
        class: Option<String>,
        /// First noise seed; sample i uses seed + i.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of samples.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        n: u32,
        /// Also write the samples here (png, csv or npy by extension or --format).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Output format for --out.
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Seconds QEMU may run before it counts as hung.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        view: ViewArgs,
        /// Run the C example firmware (firmware-sim/c-example: main.c, Makefile, the C
        /// API's static library, gcc-arm-none-eabi) instead of the Rust one.
        #[arg(long)]
        c: bool,
        #[command(flatten)]
        masks: MaskArgs,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Compile a generator ONNX into device models: tract parses and declutters, edgegan
    /// lowers, calibrates and quantises. Writes model.f32.egm, model.w8a32.egm and
    /// model.w8a8.egm and prints each format's error against f32 and tract.
    Compile {
        /// The generator ONNX (e.g. from `edgegan-train export`).
        onnx: PathBuf,
        /// Folder for the `.egm` files (created if missing).
        #[arg(long)]
        out_dir: PathBuf,
        #[command(flatten)]
        roles: RoleArgs,
        /// Conditions to calibrate the w8a8 model with, for models whose conditions are not
        /// uniform (the default: every class equally, or four built-in masks): .npy int64
        /// [N] of class labels, float32 [N, 2, C, H, W] of (mask, masked object) pairs, or
        /// float32 [N, C, H, W] of masks (1 = known; the object from the noise).
        #[arg(long, value_name = "FILE")]
        calibration: Option<PathBuf>,
    },
    /// Peer bench (not in CI): the folder's generator.onnx through burn-onnx's import as
    /// no_std + alloc Burn firmware (firmware-sim/peer), and edgegan's w8a8 firmware, on
    /// the same QEMU Cortex-M4 and the same noise and labels; prints flash, RAM,
    /// instructions and the outputs' difference from edgegan's f32 model.
    BenchPeer {
        /// Model folder with generator.onnx, model.w8a8.egm and model.f32.egm
        /// [default: models/ring8-cgan in the repository].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Device profile edgegan's firmware is built for.
        #[arg(long, default_value = "m4-small")]
        profile: String,
        /// First noise seed; sample i uses seed + i and class i mod classes.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of samples.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000))]
        n: u32,
        /// Seconds each QEMU run may take.
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Check formatting and lints (`cargo fmt --check`, `cargo clippy -D warnings`) of
    /// the device crates outside the workspace: firmware, board and peer (scripts/test.sh).
    Lint,
    /// Write a small demo generator (made with the runtime's GraphBuilder) as `.egm`.
    DemoModel {
        /// Which generator.
        #[arg(long, value_enum, default_value_t = DemoArg::Mlp)]
        kind: DemoArg,
        /// Weight format.
        #[arg(long, value_enum, default_value_t = FormatArg::W8a8)]
        weights: FormatArg,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
}

/// The caps a model read from a file must fit (a model you did not write could ask for a
/// 4 GiB arena or hours of work per sample); a model over them is refused before it runs.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Largest arena (bytes) a model may ask for.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::HOST.max_arena_bytes as u64)]
    max_arena: u64,
    /// Most multiply-accumulates per sample.
    #[arg(long, value_name = "N", default_value_t = Limits::HOST.max_macs)]
    max_macs: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        let arena = usize::try_from(self.max_arena).unwrap_or(usize::MAX);
        Limits {
            max_arena_bytes: arena,
            max_macs: self.max_macs,
            max_op_output_bytes: Limits::HOST.max_op_output_bytes.max(arena),
        }
    }
}

/// Inputs of mask-conditioned (inpainting) models. Without any, the built-in test picture
/// (a Fashion-MNIST pullover) gets mixed masks drawn from the noise seeds.
#[derive(Debug, Default, clap::Args)]
struct MaskArgs {
    /// Mask (1 = known): .npy float32 [C,H,W] or [N,C,H,W] of 0/1, or a PNG of the
    /// model's size (pixel >= 128 = known). `sample` only (the firmware draws its masks).
    #[arg(long, value_name = "FILE")]
    mask: Option<PathBuf>,
    /// Masked object: .npy float32 [C,H,W] or [N,C,H,W] in the model's range, or a PNG
    /// (mapped to the range); it is multiplied by the mask. Needs --mask.
    #[arg(long, value_name = "FILE", requires = "mask")]
    masked: Option<PathBuf>,
    /// A picture (.npy or PNG) to mask: with --mask, masked = picture · mask; otherwise
    /// masks are drawn from --mask-kind and --mask-seed.
    #[arg(long, value_name = "FILE", conflicts_with = "masked")]
    image: Option<PathBuf>,
    /// Drawn masks: a random rectangle, a random half, or either [default: mixed].
    #[arg(long, value_enum, conflicts_with = "mask")]
    mask_kind: Option<MaskKindArg>,
    /// First mask seed (sample i uses mask seed + i) [default: the noise seed].
    #[arg(long, conflicts_with = "mask")]
    mask_seed: Option<u64>,
}

impl MaskArgs {
    fn any(&self) -> bool {
        self.mask.is_some()
            || self.masked.is_some()
            || self.image.is_some()
            || self.mask_kind.is_some()
            || self.mask_seed.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum MaskKindArg {
    /// A random rectangle (a quarter to a half of each side) is unknown.
    Rect,
    /// A random half (top, bottom, left or right) is unknown.
    Half,
    /// Rectangles and halves, half the time each.
    Mixed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum DemoArg {
    /// Label-conditioned MLP 8+8 -> 32 -> 64 tanh (10 classes).
    Mlp,
    /// Unconditional conv generator, output [1, 8, 8].
    Conv,
    /// A model with a 128 KiB arena (does not fit 64 KiB of RAM).
    Wide,
    /// Mask-conditioned (inpainting) conv generator on [1, 8, 8].
    Inpaint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum FormatArg {
    F32,
    W8a32,
    W8a8,
}

/// Writing to stdout failed (a closed pipe, a full disk): `println!` would panic.
#[derive(Debug)]
struct StdoutError(std::io::Error);

impl std::fmt::Display for StdoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "writing to standard output: {}", self.0)
    }
}

impl std::error::Error for StdoutError {}

/// `print!` that returns a [`StdoutError`] from the enclosing function instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        write!(stdout, $($arg)*)
            .and_then(|()| stdout.flush())
            .map_err(StdoutError)?
    }};
}

/// `println!` as [`out!`].
macro_rules! outln {
    ($($arg:tt)*) => {{
        out!($($arg)*);
        out!("\n");
    }};
}

/// Whether `err` is a closed stdout (the reader, e.g. `head`, has all it wanted).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<StdoutError>()
            .is_some_and(|e| e.0.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // a closed pipe ends the command quietly, as `head`'s producers do
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("firmware-sim: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// Which ONNX input is which (a foreign generator's names are not edgegan's); each is
/// inferred when the graph leaves one choice.
#[derive(Debug, clap::Args)]
struct RoleArgs {
    /// The noise input (float [N, Z]).
    #[arg(long, value_name = "NAME")]
    noise: Option<String>,
    /// The class label input (integer [N]).
    #[arg(long, value_name = "NAME", conflicts_with = "mask")]
    label: Option<String>,
    /// The mask input (float [N, C, H, W], 1 = known); needs --masked.
    #[arg(long, value_name = "NAME", requires = "masked")]
    mask: Option<String>,
    /// The masked-object input (float [N, C, H, W]); needs --mask.
    #[arg(long, value_name = "NAME", requires = "mask")]
    masked: Option<String>,
    /// The output to compile (when the graph has several).
    #[arg(long, value_name = "NAME")]
    output: Option<String>,
}

fn compile(
    onnx: &Path,
    out_dir: &Path,
    roles: RoleArgs,
    calibration: Option<&Path>,
) -> anyhow::Result<()> {
    use edgegan_compiler::compile::{CompileError, CompileOptions};
    let mut options = CompileOptions {
        roles: edgegan_compiler::compile::Roles {
            noise: roles.noise,
            label: roles.label,
            mask: roles.mask.zip(roles.masked),
            output: roles.output,
        },
        ..Default::default()
    };
    if let Some(path) = calibration {
        match inputs::read_calibration(path)? {
            inputs::Calibration::Labels(labels) => {
                // each given label at least once; as many samples as ten uniform classes
                options.calibration_seeds = (labels.len() as u64).max(2560);
                options.evaluation_seeds = 160;
                options.labels = labels;
            }
            inputs::Calibration::Masks(masks) => {
                // every given mask with as many seeds as make about the default 1024 runs
                let n = masks.len() as u64;
                options.calibration_seeds = 1024u64.div_ceil(n);
                options.evaluation_seeds = 64u64.div_ceil(n);
                options.masks = masks;
            }
        }
        outln!("calibrating with the conditions in {}", path.display());
    }
    let compiled = match edgegan_compiler::compile::compile_onnx(onnx, &options) {
        Err(e @ CompileError::Calibration(_)) => {
            let path = calibration.map_or_else(String::new, |p| p.display().to_string());
            bail!("{path}: {e} (compiling {})", onnx.display())
        }
        other => other.with_context(|| format!("compiling {}", onnx.display()))?,
    };
    if compiled.roles.inferred {
        outln!("inferred roles: {}", compiled.roles);
    }
    out!("{compiled}");
    // All-or-nothing: the .egm files and the card (names, units, hashes) go in together.
    let written = firmware_sim::bundle::write_compiled(onnx, &compiled, out_dir)?;
    for note in &written.notes {
        eprintln!("firmware-sim: note: {note}");
    }
    for (path, bytes) in &written.files {
        outln!("wrote {} ({bytes} bytes)", path.display());
    }
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Cmd::Inspect { model, limits } => {
            let file = ModelFile::read_with_limits(&model, limits.limits())?;
            let m = file.model()?;
            let view = load_view(&model, &m, ViewArgs::default())?;
            out!("{}", report::inspect(&model, &m)?);
            out!("{}", samples::describe(&view));
        }
        Cmd::Sample {
            model,
            class,
            seed,
            n,
            out,
            format,
            z,
            labels,
            view,
            masks,
            limits,
        } => {
            let format = output_format(&out, format)?;
            let model = match model {
                Some(m) => m,
                None => card::default_model()?,
            };
            let file = ModelFile::read_with_limits(&model, limits.limits())?;
            let m = file.model()?;
            let batch = match &z {
                Some(z) => noise_batch(&m, &model, z, labels.as_deref(), class.as_deref(), &masks)?,
                None => make_batch(&m, &model, seed, n, class.as_deref(), &masks)?,
            };
            let view = load_view(&model, &m, view)?;
            let units = samples::write_samples(&m, &batch, None, &out, format, &view)?;
            if let Some(u) = units {
                outln!("{u}");
            }
            outln!(
                "wrote {} samples of {} to {}",
                batch.pairs.len(),
                model.display(),
                out.display()
            );
        }
        Cmd::Profiles => {
            for p in PROFILES {
                outln!(
                    "{:<9} {:>9} flash {:>9} RAM   {}",
                    p.name,
                    kib(u64::from(p.flash)),
                    kib(u64::from(p.ram)),
                    p.example
                );
            }
        }
        Cmd::Run {
            model,
            profile,
            class,
            seed,
            n,
            out,
            format,
            timeout,
            view,
            c,
            masks,
            limits,
        } => {
            let profile = profiles::find(&profile)?;
            let format = out
                .as_deref()
                .map(|o| output_format(o, format))
                .transpose()?;
            let limits = limits.limits();
            let file = ModelFile::read_with_limits(&model, limits)?;
            let m = file.model()?;
            let batch = make_batch(&m, &model, seed, n, class.as_deref(), &masks)?;
            // Checked before the (long) build: the firmware draws masks from seeds only.
            firmware::pairs_env(&batch.pairs)?;
            let opts = RunOptions {
                model: model.clone(),
                profile,
                batch: batch.clone(),
                timeout: Duration::from_secs(timeout),
                limits,
            };
            let report = if c {
                outln!("firmware:     C example (firmware-sim/c-example, edgegan C API)");
                firmware_sim::c_example::run(&opts)?
            } else {
                firmware::run(&opts)?
            };
            out!("{}", report::run_report(&model, &m, &report));
            if let (Some(out), Some(format)) = (out, format) {
                let view = load_view(&model, &m, view)?;
                let samples = Some(&report.samples[..]);
                samples::write_samples(&m, &batch, samples, &out, format, &view)?;
                outln!("wrote the firmware's samples to {}", out.display());
            }
        }
        Cmd::Compile {
            onnx,
            out_dir,
            roles,
            calibration,
        } => compile(&onnx, &out_dir, roles, calibration.as_deref())?,
        Cmd::BenchPeer {
            dir,
            profile,
            seed,
            n,
            timeout,
        } => {
            let dir = dir.unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ring8-cgan")
            });
            let dir = std::fs::canonicalize(&dir)
                .with_context(|| format!("model folder {}", dir.display()))?;
            out!(
                "{}",
                bench_peer(&dir, &profile, seed, n, Duration::from_secs(timeout))?
            );
        }
        Cmd::Lint => {
            for line in firmware_sim::lint::lint()? {
                outln!("ok  {line}");
            }
        }
        Cmd::DemoModel { kind, weights, out } => {
            let kind = match kind {
                DemoArg::Mlp => DemoKind::Mlp,
                DemoArg::Conv => DemoKind::Conv,
                DemoArg::Wide => DemoKind::Wide,
                DemoArg::Inpaint => DemoKind::Inpaint,
            };
            let format = match weights {
                FormatArg::F32 => WeightFormat::F32,
                FormatArg::W8a32 => WeightFormat::W8A32,
                FormatArg::W8a8 => WeightFormat::W8A8,
            };
            let bytes = demo::model(kind, format)?;
            firmware_sim::output::write_file(&out, &bytes)?;
            outln!("wrote {} ({} bytes)", out.display(), bytes.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs edgegan's firmware (w8a8) and the burn-onnx peer on the same inputs; the report.
fn bench_peer(
    dir: &Path,
    profile: &str,
    seed: u64,
    n: u32,
    timeout: Duration,
) -> anyhow::Result<String> {
    let profile = profiles::find(profile)?;
    let w8a8_path = dir.join("model.w8a8.egm");
    let w8a8_file = ModelFile::read(&w8a8_path)?;
    let m = w8a8_file.model()?;
    let f32_file = ModelFile::read(&dir.join("model.f32.egm"))?;
    let batch = make_batch(&m, &w8a8_path, seed, n, None, &MaskArgs::default())?;
    let ours = firmware::run(&RunOptions {
        model: w8a8_path.clone(),
        profile,
        batch: batch.clone(),
        timeout,
        limits: Limits::HOST,
    })?;
    let ours_f32 = host::sample(&f32_file.model()?, &batch)?;
    let onnx = dir.join("generator.onnx");
    let peer = peer::run(&onnx, m.noise_dim(), m.output_len(), &batch.pairs, timeout)?;
    let mean = |v: &[u64]| v.iter().sum::<u64>() / v.len().max(1) as u64;
    let (ours_i, peer_i) = (mean(&ours.instructions), mean(&peer.instructions));
    let macs = m.macs().max(1) as f64;
    let (of, pf) = (&ours.footprint, &peer.footprint);
    let peer_static = pf.static_ram.saturating_sub(peer::HEAP_BYTES as u64);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "peer bench: {} ({} samples from seed {seed}), QEMU mps2-an386 Cortex-M4, -icount shift=0",
        dir.display(),
        batch.pairs.len()
    );
    let _ = writeln!(
        s,
        "  edgegan firmware ({}, {}): flash {} B = model {} B + code {} B + other {} B; RAM arena \
         {} B + other static {} B + stack {} B; {ours_i} instructions/sample ({:.1} per MAC)",
        w8a8_path.display(),
        profile.name,
        of.flash,
        ours.model_bytes,
        of.code,
        of.flash.saturating_sub(ours.model_bytes + of.code),
        ours.arena_bytes,
        of.static_ram
            .saturating_sub(ours.arena_bytes + ours.output_bytes + ours.mask_bytes)
            + ours.output_bytes,
        ours.stack,
        ours_i as f64 / macs,
    );
    let _ = writeln!(
        s,
        "  burn-onnx import peer ({}, f32, flex, no_std + alloc): flash {} B = burnpack {} B + \
         code {} B + other {} B; RAM heap peak {} B ({} B after loading) + other static {} B + \
         stack {} B; {peer_i} instructions/sample ({:.1} per MAC, {:.1}x edgegan w8a8)",
        onnx.display(),
        pf.flash,
        peer.model_bytes,
        pf.code,
        pf.flash.saturating_sub(peer.model_bytes + pf.code),
        peer.heap_peak,
        peer.heap_loaded,
        peer_static,
        peer.stack,
        peer_i as f64 / macs,
        peer_i as f64 / ours_i.max(1) as f64,
    );
    let _ = writeln!(
        s,
        "  max |x - edgegan f32 (model.f32.egm)|: peer {:.3e}, edgegan w8a8 {:.3e}",
        peer::max_abs_diff(&peer.samples, &ours_f32),
        peer::max_abs_diff(&ours.samples, &ours_f32),
    );
    Ok(s)
}

fn output_format(out: &Path, format: Option<Format>) -> anyhow::Result<Format> {
    match format.or_else(|| Format::from_path(out)) {
        Some(f) => Ok(f),
        None => bail!(
            "cannot tell the output format of {}: use a .png, .csv or .npy name or --format",
            out.display()
        ),
    }
}

/// The model card's view of `model`; a card that does not match the model's bytes is
/// warned about (stderr), not refused: the names may still be right.
fn load_view(model: &Path, m: &DeviceModel<'_>, args: ViewArgs) -> anyhow::Result<View> {
    let (view, warnings) = View::load(model, m, args)?;
    for w in warnings {
        eprintln!("firmware-sim: warning: {w}");
    }
    Ok(view)
}

/// The samples for `n` seeds from `seed`: the class resolved (index or card name) and the
/// mask inputs read.
fn make_batch(
    m: &DeviceModel<'_>,
    model_path: &Path,
    seed: u64,
    n: u32,
    class: Option<&str>,
    masks: &MaskArgs,
) -> anyhow::Result<Batch> {
    let class = resolve_class(m, model_path, class)?;
    let plan = mask_plan(m, seed, masks)?;
    Ok(host::batch(m, seed, n as usize, class, plan)?)
}

/// `--class` as an index: a number, or a name from the model card.
fn resolve_class(
    m: &DeviceModel<'_>,
    model_path: &Path,
    class: Option<&str>,
) -> anyhow::Result<Option<u32>> {
    let classes = match m.condition() {
        ConditionKind::Label { classes } => Some(classes),
        _ => None,
    };
    Ok(class
        .map(|c| card::resolve_class(c, model_path, classes))
        .transpose()?)
}

/// The samples of the noise in `z_path` (`sample --z`): labels from `labels_path`, the
/// class or row mod classes; mask inputs as [`make_batch`]. Errors name the file.
fn noise_batch(
    m: &DeviceModel<'_>,
    model_path: &Path,
    z_path: &Path,
    labels_path: Option<&Path>,
    class: Option<&str>,
    masks: &MaskArgs,
) -> anyhow::Result<Batch> {
    let noise = inputs::read_noise(z_path, m.noise_dim())?;
    let rows = noise.len();
    let labels = match (labels_path, m.condition()) {
        (None, _) => None,
        (Some(path), ConditionKind::Label { classes }) => {
            let labels = inputs::read_labels(path, classes)?;
            if labels.len() != rows {
                bail!(
                    "{}: {} labels, but {} holds {rows} noise rows: give one label per row",
                    path.display(),
                    labels.len(),
                    z_path.display()
                );
            }
            Some(labels)
        }
        (Some(path), kind) => bail!(
            "{}: labels given, but the model takes {kind}",
            path.display()
        ),
    };
    let class = resolve_class(m, model_path, class)?;
    let plan = mask_plan(m, 0, masks)?;
    if let Some(MaskPlan::Given(given)) = &plan
        && given.len() != 1
        && given.len() != rows
        && let Some(mask) = &masks.mask
    {
        bail!(
            "{} holds {} masks, but {} holds {rows} noise rows: give as many masks as rows, or one",
            mask.display(),
            given.len(),
            z_path.display()
        );
    }
    Ok(host::batch_with_noise(m, noise, labels, class, plan)?)
}

/// The mask inputs the flags ask for (`None`: none given).
fn mask_plan(m: &DeviceModel<'_>, seed: u64, a: &MaskArgs) -> anyhow::Result<Option<MaskPlan>> {
    if !a.any() {
        return Ok(None);
    }
    let Some(shape) = host::mask_shape(m) else {
        bail!(
            "mask inputs (--mask, --masked, --image, --mask-kind, --mask-seed) given, but \
             the model takes {}",
            m.condition()
        );
    };
    let one_picture = |path: &Path| -> anyhow::Result<Vec<f32>> {
        let mut items = inputs::read(path, Role::Picture, &shape)?;
        if items.len() != 1 {
            bail!(
                "{}: holds {} pictures; masks drawn from seeds apply to one picture",
                path.display(),
                items.len()
            );
        }
        Ok(items.remove(0))
    };
    let Some(mask_path) = &a.mask else {
        let picture = match &a.image {
            Some(path) => one_picture(path)?,
            None => picture::test_picture(shape.channels, shape.height, shape.width, shape.range),
        };
        return Ok(Some(MaskPlan::Generated {
            picture,
            kind: match a.mask_kind.unwrap_or(MaskKindArg::Mixed) {
                MaskKindArg::Rect => maskgen::RECT,
                MaskKindArg::Half => maskgen::HALF,
                MaskKindArg::Mixed => maskgen::MIXED,
            },
            first_mask_seed: a.mask_seed.unwrap_or(seed),
        }));
    };
    let masks = inputs::read(mask_path, Role::Mask, &shape)?;
    let (pictures, picture_path) = match (&a.masked, &a.image) {
        (Some(p), _) | (None, Some(p)) => (inputs::read(p, Role::Picture, &shape)?, p),
        (None, None) => bail!(
            "--mask {} needs the known object: --masked FILE (or --image FILE to mask)",
            mask_path.display()
        ),
    };
    // N masks with N pictures pair up; one of either is used with every item of the other.
    let count = masks.len().max(pictures.len());
    if masks.len() != pictures.len() && masks.len() != 1 && pictures.len() != 1 {
        bail!(
            "{} holds {} masks but {} holds {} items: give as many of each, or one of either",
            mask_path.display(),
            masks.len(),
            picture_path.display(),
            pictures.len()
        );
    }
    let given = (0..count)
        .map(|i| {
            let mask = masks[i % masks.len()].clone();
            let masked = inputs::apply_mask(&pictures[i % pictures.len()], &mask);
            MaskInput { mask, masked }
        })
        .collect();
    Ok(Some(MaskPlan::Given(given)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_flags_parse() {
        let cli = Cli::try_parse_from([
            "firmware-sim",
            "sample",
            "--model",
            "m.egm",
            "--class",
            "3",
            "--seed",
            "7",
            "--n",
            "4",
            "--out",
            "x.csv",
        ])
        .unwrap();
        let Cmd::Sample {
            class,
            seed,
            n,
            format,
            ..
        } = cli.command
        else {
            panic!("not sample")
        };
        assert_eq!((class.as_deref(), seed, n, format), (Some("3"), 7, 4, None));
    }

    #[test]
    fn sample_count_must_be_positive() {
        assert!(
            Cli::try_parse_from([
                "firmware-sim",
                "sample",
                "--model",
                "m.egm",
                "--n",
                "0",
                "--out",
                "x.png"
            ])
            .is_err()
        );
    }

    #[test]
    fn run_needs_a_profile() {
        assert!(Cli::try_parse_from(["firmware-sim", "run", "--model", "m.egm"]).is_err());
        let cli = Cli::try_parse_from([
            "firmware-sim",
            "run",
            "--model",
            "m.egm",
            "--profile",
            "m4-small",
            "--n",
            "100",
        ])
        .unwrap();
        let Cmd::Run { n, timeout, .. } = cli.command else {
            panic!("not run")
        };
        assert_eq!((n, timeout), (100, 120));
    }

    #[test]
    fn format_comes_from_the_extension() {
        assert_eq!(
            output_format(Path::new("a.PNG"), None).unwrap(),
            Format::Png
        );
        assert_eq!(
            output_format(Path::new("a.png"), Some(Format::Csv)).unwrap(),
            Format::Csv
        );
        assert!(output_format(Path::new("a.txt"), None).is_err());
    }
}

//! `edgegan-train sample`: generated samples as CSV rows (data units) or a PNG grid.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use edgegan_train::config::{limits, memory};
use edgegan_train::data::images::grid::write_labelled_grid;
use edgegan_train::training::RunDir;
use rand::SeedableRng;

use crate::cli::train::load_for_sampling;
use crate::{flag_max, write_stdout};

#[derive(Debug, Args)]
pub(crate) struct SampleArgs {
    /// Run folder.
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// Number of samples.
    #[arg(long, short, default_value_t = 10)]
    n: usize,
    /// Class to generate (conditional models): its name or its index.
    #[arg(long)]
    label: Option<String>,
    /// Noise seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start the CSV with a header of the data's column names (a CSV's own header; `x`,
    /// `y` for the mixtures) and add a `class` column with the class name.
    #[arg(long)]
    header: bool,
    /// Image runs: write the samples as a PNG grid here (one row) instead of CSV.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Refuse when the samples are estimated to need more memory than this (bytes, or
    /// with K, M, G, T) [default: 3/4 of the machine's memory].
    #[arg(long, value_name = "BYTES", value_parser = memory::parse_bytes)]
    max_memory: Option<u64>,
}

pub(crate) fn sample(args: &SampleArgs) -> anyhow::Result<()> {
    flag_max("-n", args.n, limits::MAX_SAMPLES)?;
    let (run, config) = RunDir::open(&args.run)?;
    // each value is held as f32 and printed as text (or drawn into the grid)
    let gan = load_for_sampling(&run, config, None, args.n, 24, args.max_memory)?;
    if args.label.is_some() && !gan.conditional() {
        bail!(
            "{} is an unconditional model; --label does not apply",
            args.run.display()
        );
    }
    let label = match &args.label {
        Some(name) => gan.dataset.class_index(name)?,
        None => 0,
    };
    let labels = vec![label; args.n];
    let mut rng = rand_pcg::Pcg64::seed_from_u64(args.seed);
    if gan.inpainting() {
        bail!(
            "{} is an inpainting model: its samples need masked images; see its sample grid \
             in samples/ or use firmware-sim sample --mask",
            args.run.display()
        );
    }
    let x = gan.generate(&mut rng, &labels)?;
    let class_name = gan
        .conditional()
        .then(|| gan.dataset.class_names().get(label as usize).cloned())
        .flatten();
    if let Some(png) = &args.png {
        let Some(shape) = gan.dataset.image_shape() else {
            bail!("--png applies to image runs; this one samples points");
        };
        let rows: Vec<String> = class_name.into_iter().collect();
        write_labelled_grid(png, &x, shape, 1, args.n, 2, &rows)?;
        eprintln!("wrote {}", png.display());
        return Ok(());
    }
    let dim = gan.dataset.dim();
    // rows only by default (what scripts read); --header names the columns and the class
    let class_cell = class_name.as_deref().filter(|_| args.header).map(csv_cell);
    let mut out = String::new();
    if args.header {
        let mut names: Vec<String> = gan
            .dataset
            .column_names()
            .iter()
            .map(|n| csv_cell(n))
            .collect();
        if names.is_empty() {
            names = (0..dim).map(|i| format!("x{i}")).collect();
        }
        out.push_str(&names.join(","));
        if class_cell.is_some() {
            out.push_str(",class");
        }
        out.push('\n');
    }
    for row in x.chunks(dim) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        out.push_str(&cells.join(","));
        if let Some(cell) = &class_cell {
            out.push(',');
            out.push_str(cell);
        }
        out.push('\n');
    }
    out!("{out}");
    Ok(())
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

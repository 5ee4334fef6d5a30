//! Training speed for the record: ms per step and CPU-seconds per step of
//! - the ring8 conditional MLP (the default config: G and D 2x128, batch 256), and
//! - the fashion-cgan conv GAN (`configs/fashion-cgan.toml`: batch 64),
//!
//! both with the seed's algorithm (D on a fake batch, D on a real batch, G), and for the
//! fashion-cgan steps the wall time of each phase of a step. The machine
//! may be shared: compare CPU-ms per step (all threads of this process) rather than wall
//! time. Run with `cargo bench -p edgegan-train --bench train_speed`; an argument picks
//! one model (`ring8` or `fashion`), another where the steps run (`cpu`, the default,
//! `gpu` or `auto`, as `--device`). The fashion-cgan case needs Fashion-MNIST (Debian's
//! `dataset-fashion-mnist`, installed by `scripts/setup.sh`); without it the bench fails
//! and says so.

use std::path::Path;
use std::time::Instant;

use edgegan_train::config::{DeviceChoice, TrainConfig};
use edgegan_train::data::Dataset;
use edgegan_train::training::{Gan, PhaseTimes};

/// CPU time (user + system) of this process in seconds, from /proc (Linux).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // fields after the parenthesised command name; utime and stime are the 14th and 15th
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on every Linux ABI Rust supports
    Some((utime + stime) / 100.0)
}

/// Steps `config`'s GAN `warmup` times untimed, then `measured` times, and prints the
/// figures under `title`.
fn measure(
    title: &str,
    config: TrainConfig,
    dataset: Dataset,
    warmup: usize,
    measured: usize,
    profile: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut gan = Gan::new(config, dataset)?;
    for _ in 0..warmup {
        gan.train_step()?;
    }
    if profile {
        gan.phase_times = Some(PhaseTimes::default());
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for _ in 0..measured {
        gan.train_step()?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    let config = &gan.config;
    println!(
        "train_speed: {title}, batch {}, {} D step(s) per G step ({:?}), on {}",
        config.batch_size,
        config.algorithm.d_steps,
        config.algorithm.d_update,
        gan.device.description
    );
    println!("  steps measured    {measured} (after {warmup} warm-up)");
    println!("  wall              {wall:.2} s");
    println!("  steps/s           {:.1}", measured as f64 / wall);
    println!("  ms per step       {:.2}", 1000.0 * wall / measured as f64);
    match cpu {
        Some(cpu) => {
            println!("  CPU-seconds       {cpu:.2}");
            println!("  CPU-ms per step   {:.2}", 1000.0 * cpu / measured as f64);
        }
        None => println!("  CPU-seconds       n/a (no /proc/self/stat)"),
    }
    if let Some(times) = &gan.phase_times {
        println!("  wall time per phase (the same steps):\n{}", times.table());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; any other argument names the models to run
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    // `cpu`, `gpu` or `auto` picks where the steps run (default: the CPU)
    let device = only
        .iter()
        .find_map(|a| a.parse::<DeviceChoice>().ok())
        .unwrap_or_default();
    let models: Vec<&String> = only
        .iter()
        .filter(|a| a.parse::<DeviceChoice>().is_err())
        .collect();
    let wants = |name: &str| models.is_empty() || models.iter().any(|a| *a == name);
    if wants("ring8") {
        let config = TrainConfig {
            device,
            ..TrainConfig::default()
        };
        let title = format!(
            "ring8 conditional MLP G/D {:?}/{:?}",
            config.generator.hidden, config.discriminator.hidden
        );
        let dataset = Dataset::from_config(&config.data)?;
        measure(&title, config, dataset, 200, 3_000, false)?;
    }
    if wants("fashion") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/fashion-cgan.toml");
        let mut config = TrainConfig::from_toml_file(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        config.device = device;
        let dataset_hint = "the fashion-cgan case needs Fashion-MNIST \
             (Debian's dataset-fashion-mnist; run scripts/setup.sh)";
        let dataset =
            Dataset::from_config(&config.data).map_err(|e| format!("{e}: {dataset_hint}"))?;
        measure(
            "fashion-cgan conv G/D (configs/fashion-cgan.toml)",
            config,
            dataset,
            10,
            60,
            true,
        )?;
    }
    Ok(())
}

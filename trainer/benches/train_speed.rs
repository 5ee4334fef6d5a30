//! Training speed for the record: steps/s and CPU-seconds of a fixed MLP run (the
//! default conditional ring8 config: G and D 2x128, batch 256, the seed's algorithm).
//! Run with `cargo bench -p edgegan-train --bench train_speed`.

use std::time::Instant;

use edgegan_train::config::TrainConfig;
use edgegan_train::data::Dataset;
use edgegan_train::training::Gan;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let warmup = 200;
    let measured = 3_000;
    let config = TrainConfig::default();
    let dataset = Dataset::from_config(&config.data)?;
    let mut gan = Gan::new(config.clone(), dataset)?;
    for _ in 0..warmup {
        gan.train_step()?;
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for _ in 0..measured {
        gan.train_step()?;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "train_speed: ring8 conditional MLP G/D {:?}/{:?}, batch {}, {} D step(s) per G step",
        config.generator.hidden,
        config.discriminator.hidden,
        config.batch_size,
        config.algorithm.d_steps
    );
    println!("  steps measured    {measured} (after {warmup} warm-up)");
    println!("  wall              {wall:.2} s");
    println!("  steps/s           {:.1}", measured as f64 / wall);
    match cpu {
        Some(cpu) => {
            println!("  CPU-seconds       {cpu:.2}");
            println!("  CPU-ms per step   {:.3}", 1000.0 * cpu / measured as f64);
        }
        None => println!("  CPU-seconds       n/a (no /proc/self/stat)"),
    }
    Ok(())
}

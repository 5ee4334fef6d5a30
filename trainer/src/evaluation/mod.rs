//! Deterministic evaluation of a trained GAN (same checkpoint + same seed = same report).
//!
//! - [`points`]: point datasets — mode coverage of Gaussian mixtures (ring8, grid25),
//!   per-column KS and Wasserstein-1 otherwise, mean D(x) on real and generated samples
//! - [`images`]: image datasets — classifier-feature Fréchet distance,
//!   precision/recall/density/coverage, label accuracy, inpainting error
//! - [`classifier`]: the evaluation classifier whose features the image metrics use
//! - [`metrics`], [`image_metrics`]: the pure metric functions behind both
//!
//! [`evaluate_run`] and [`evaluate_image_run`] evaluate a run's GAN and write the report
//! as the run folder's `eval.json`.

pub mod classifier;
pub mod image_metrics;
pub mod images;
pub mod metrics;
pub mod points;

use std::path::{Path, PathBuf};

use self::classifier::TrainedClassifier;
use self::images::ImageEvalReport;
use self::points::EvalReport;
use crate::data::Dataset;
use crate::data::images::ImageSet;
use crate::error::{Result, TrainError};
use crate::files::write_atomic;
use crate::training::{Gan, RunDir};

/// Evaluates `gan` with the dataset's default sample count and writes `eval.json`.
pub fn evaluate_run(
    run: &RunDir,
    gan: &Gan,
    samples: Option<usize>,
    seed: u64,
) -> Result<EvalReport> {
    let n = samples.unwrap_or_else(|| points::default_samples(gan.config.data.kind));
    let report = points::evaluate(gan, n, seed)?;
    let json = serde_json::to_vec_pretty(&report).map_err(|e| TrainError::Config(e.to_string()))?;
    write_atomic(&run.path("eval.json"), &json)?;
    Ok(report)
}

/// Default classifier folder for the image evaluation (the shipped one).
pub const DEFAULT_CLASSIFIER: &str = "models/classifier";

/// A run's own classifier folder (`RUN/classifier`), where `edgegan-train classifier
/// --like RUN` and `train` put one trained on the run's data.
pub const RUN_CLASSIFIER: &str = "classifier";

/// The card of the classifier in `dir` when there is one and it reads `set`'s images.
fn fitting(dir: &Path, set: &ImageSet) -> Option<PathBuf> {
    let card = TrainedClassifier::load_card(dir).ok()?;
    images::classifier_fits(&card, set).then(|| dir.to_path_buf())
}

/// The classifier an image run is evaluated with, without being told: the one its
/// `run.json` records, else its own `RUN/classifier`, else the shipped
/// [`DEFAULT_CLASSIFIER`] (relative to the working directory) — the first that exists and
/// reads the run's images (same shape and class names). `None` when none does.
pub fn find_classifier(run: &RunDir, set: &ImageSet) -> Result<Option<PathBuf>> {
    let recorded = run.read_info()?.classifier;
    Ok(recorded
        .iter()
        .map(PathBuf::as_path)
        .chain([
            run.path(RUN_CLASSIFIER).as_path(),
            Path::new(DEFAULT_CLASSIFIER),
        ])
        .find_map(|dir| fitting(dir, set)))
}

/// Records `classifier` (made absolute) as the run's evaluation classifier in `run.json`.
pub fn record_classifier(run: &RunDir, classifier: &Path) -> Result<()> {
    let mut info = run.read_info()?;
    info.classifier = Some(std::path::absolute(classifier).map_err(TrainError::io(classifier))?);
    run.write_info(&info)
}

/// Epochs that give a classifier about 300 gradient steps on a small set (a picture
/// folder of a few hundred images is one batch per epoch) and 3 on a large one.
pub fn auto_epochs(set: &ImageSet) -> usize {
    let batches = set.train.len().div_ceil(classifier::BATCH).max(1);
    300usize.div_ceil(batches).clamp(3, 300)
}

/// Evaluates an image GAN with the classifier in `classifier_dir` and writes
/// `eval.json`. `samples` defaults to [`images::default_samples`].
pub fn evaluate_image_run(
    run: &RunDir,
    gan: &Gan,
    classifier_dir: &Path,
    samples: Option<usize>,
    seed: u64,
) -> Result<ImageEvalReport> {
    let classifier = TrainedClassifier::load(classifier_dir)?;
    let n = match (&gan.dataset, samples) {
        (_, Some(n)) => n,
        (Dataset::Images(set), None) => images::default_samples(set),
        (_, None) => 10_000,
    };
    let report = images::evaluate_images(gan, &classifier, n, seed)?;
    let path = run.path("eval.json");
    let json = serde_json::to_vec_pretty(&report).map_err(|e| TrainError::Run {
        path: path.clone(),
        message: e.to_string(),
    })?;
    write_atomic(&path, &json)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::test_support::{QUIET, new_run, tiny_config};
    use crate::training::{checkpoint, train};

    #[test]
    fn run_folder_holds_config_log_checkpoints_and_plots() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(DatasetKind::Ring8, true);
        let (run, mut gan) = new_run(&dir.path().join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        let report = evaluate_run(&run, &gan, Some(200), 1).unwrap();
        for f in [
            "config.toml",
            "config.json",
            "metrics.jsonl",
            "eval.json",
            "plots/losses.png",
            "plots/d_outputs.png",
            "plots/samples.png",
        ] {
            assert!(run.path(f).is_file(), "{f} missing");
        }
        // keep_checkpoints = 2 of steps 10, 20, 30
        let kept = checkpoint::list(&run.checkpoints()).unwrap();
        let names: Vec<String> = kept
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["step-0000020", "step-0000030"]);
        assert_eq!(checkpoint::latest(&run.checkpoints()).unwrap(), kept[1]);
        assert_eq!(report.step, 30);
        let (_, on_disk) = RunDir::open(&run.root).unwrap();
        assert_eq!(on_disk, config);
    }

    #[test]
    fn one_dimensional_run_draws_the_histogram() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny_config(DatasetKind::Gauss1d, false);
        let (run, mut gan) = new_run(&dir.path().join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        assert!(run.path("plots/histogram.png").is_file());
        let report = evaluate_run(&run, &gan, Some(500), 1).unwrap();
        assert_eq!(report.marginals.len(), 1);
        assert!(report.modes.is_none());
    }
}

//! The run folder a user watches and resumes:
//!
//! ```text
//! runs/NAME/
//!   config.toml, config.json   the resolved configuration
//!   metrics.jsonl              one line per `log_every` steps: losses, D(real), D(fake)
//!   checkpoints/step-NNNNNNN/  G, D, both optimisers, EMA, step, RNG (see `checkpoint`)
//!   checkpoints/latest         the newest checkpoint's name
//!   plots/losses.png           D and G loss against step
//!   plots/d_outputs.png        mean D(real) and D(fake) against step, ideal 0.5 dashed
//!   plots/samples.png          2-D: generated samples over the real modes
//!   plots/histogram.png        1-D: real vs generated histograms and D(x)
//!   eval.json                  the last evaluation
//!   run.json                   the class and column names of its data, its classifier
//!   .edgegan-train.lock        locked by the one process writing the folder
//! ```
//!
//! Nothing here overwrites an existing run: a new run needs an empty or absent folder, or
//! one holding only this tool's files and no checkpoint (a run stopped before its first
//! checkpoint, which starts over), and `--resume` continues one from its latest
//! checkpoint (or from step 0 when it has none). Every writer (`train`, `--resume`,
//! `eval`, `ship`) holds the folder's lock for its whole life, so two never mix their
//! files.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::checkpoint;
use super::gan::Gan;
use crate::config::TrainConfig;
use crate::data::Dataset;
use crate::error::{Result, TrainError};
use crate::files::{append_file, write_atomic};

/// One line of `metrics.jsonl`: means over the `log_every` steps ending at `step`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// last step of the window
    pub step: usize,
    /// mean D loss (itself the mean of its fake and real losses)
    pub d_loss: f32,
    /// mean G loss
    pub g_loss: f32,
    /// mean D(real) (ideal end 0.5 for BCE)
    pub d_real: f32,
    /// mean D(fake) (ideal end 0.5 for BCE)
    pub d_fake: f32,
    /// wall-clock seconds since this process started training
    pub elapsed_s: f64,
    /// steps per second over the window
    pub steps_per_s: f64,
}

/// What a run records beside its config (`run.json`): the names its data gave the
/// classes (picture sub-folders in alphabetical order, IDX label values, CSV labels) and
/// the columns, and the evaluation classifier of an image run, so `sample --label NAME`,
/// `eval` and `--resume` need not be told again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunInfo {
    /// class names, index = label
    pub class_names: Vec<String>,
    /// names of the values of one point sample (CSV header, `x`, `y`); empty for images
    pub columns: Vec<String>,
    /// absolute path of the evaluation classifier folder (image runs)
    pub classifier: Option<PathBuf>,
}

impl RunInfo {
    /// The names `dataset` gives its classes and columns (no classifier yet).
    pub fn of(dataset: &Dataset) -> Self {
        Self {
            class_names: dataset.class_names(),
            columns: dataset.column_names(),
            classifier: None,
        }
    }
}

/// The lock file in a run folder: whoever holds an exclusive lock on it (for the
/// process's life) is the folder's only writer.
pub const LOCK_FILE: &str = ".edgegan-train.lock";

/// The files and folders this tool writes into a run folder besides its checkpoints: a
/// folder holding only these (and no checkpoint) is a run that stopped before its first
/// checkpoint, and a new run may start over in it.
const OWN_ENTRIES: [&str; 10] = [
    LOCK_FILE,
    "config.toml",
    "config.json",
    "run.json",
    "metrics.jsonl",
    "eval.json",
    "plots",
    "samples",
    "checkpoints",
    "classifier",
];

/// A run folder.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// its root
    pub root: PathBuf,
    /// the held lock file (see [`RunDir::lock`]); released when the last clone drops
    lock: Option<Arc<File>>,
}

impl RunDir {
    /// Creates a new run folder and writes the resolved config into it, holding the
    /// folder's lock. Refuses a folder with content, so no earlier run is overwritten,
    /// except one that holds only this tool's own files and no checkpoint (a run killed
    /// before its first checkpoint): that one starts over, and `restarted` says so.
    pub fn create(root: &Path, config: &TrainConfig) -> Result<Self> {
        Self::create_reporting(root, config).map(|(run, _)| run)
    }

    /// [`RunDir::create`], also saying whether an unfinished run's files were replaced.
    pub fn create_reporting(root: &Path, config: &TrainConfig) -> Result<(Self, bool)> {
        let existed = root.exists();
        if existed && !root.is_dir() {
            return Err(TrainError::Run {
                path: root.to_path_buf(),
                message: "exists and is not a folder; choose another `--out`".into(),
            });
        }
        // refuse an earlier run before creating anything ...
        if existed {
            Self::holds_unfinished_run(root)?;
        }
        std::fs::create_dir_all(root).map_err(TrainError::io(root))?;
        let mut run = Self {
            root: root.to_path_buf(),
            lock: None,
        };
        run.lock()?;
        // ... and decide under the lock: another process may have made a run here since
        let restart = Self::holds_unfinished_run(root)?;
        if restart {
            for name in OWN_ENTRIES.iter().filter(|n| **n != LOCK_FILE) {
                let path = root.join(name);
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                match removed {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(TrainError::io(&path)(e));
                    }
                    _ => {}
                }
            }
        }
        std::fs::create_dir_all(root.join("plots")).map_err(TrainError::io(root))?;
        run.update_config(config)?;
        Ok((run, restart))
    }

    /// Whether `root` may hold a new run: `Ok(false)` when it is empty (or holds only the
    /// lock file), `Ok(true)` when it holds only this tool's files and no checkpoint, an
    /// error when it holds anything else.
    fn holds_unfinished_run(root: &Path) -> Result<bool> {
        let mut own = false;
        for entry in std::fs::read_dir(root).map_err(TrainError::io(root))? {
            let entry = entry.map_err(TrainError::io(root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name == LOCK_FILE {
                continue;
            }
            // temporary files of an atomic write (`.NAME.PID-N.tmp`)
            let temp = name.starts_with('.') && name.ends_with(".tmp");
            if !(OWN_ENTRIES.contains(&name.as_str()) || temp) {
                return Err(TrainError::Run {
                    path: root.to_path_buf(),
                    message: format!(
                        "already exists and holds `{name}`, which is not part of a run; \
                         choose another `--out`"
                    ),
                });
            }
            own = true;
        }
        if !own {
            return Ok(false);
        }
        let checkpoints = root.join("checkpoints");
        if checkpoints.join("latest").exists() || !checkpoint::list(&checkpoints)?.is_empty() {
            return Err(TrainError::Run {
                path: root.to_path_buf(),
                message:
                    "already exists and holds a run with checkpoints; resume it with `--resume` \
                          or choose another `--out`"
                        .into(),
            });
        }
        Ok(true)
    }

    /// Takes the folder's exclusive lock for as long as this `RunDir` (or a clone) lives:
    /// `train`, `--resume`, `eval` and `ship` hold it, so two of them never write one run
    /// at once. Another process holding it is an error saying so.
    pub fn lock(&mut self) -> Result<()> {
        if self.lock.is_some() {
            return Ok(());
        }
        let path = self.path(LOCK_FILE);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(TrainError::io(&path))?;
        match file.try_lock() {
            Ok(()) => {
                self.lock = Some(Arc::new(file));
                Ok(())
            }
            Err(TryLockError::WouldBlock) => Err(TrainError::RunInUse {
                path: self.root.clone(),
            }),
            Err(TryLockError::Error(e)) => Err(TrainError::io(&path)(e)),
        }
    }

    /// Opens an existing run folder and reads its config.
    pub fn open(root: &Path) -> Result<(Self, TrainConfig)> {
        let config_path = root.join("config.toml");
        if !config_path.is_file() {
            return Err(TrainError::Run {
                path: root.to_path_buf(),
                message: "is not a run folder (no config.toml)".into(),
            });
        }
        let config = TrainConfig::from_toml_file(&config_path)?;
        Ok((
            Self {
                root: root.to_path_buf(),
                lock: None,
            },
            config,
        ))
    }

    /// [`RunDir::open`] holding the folder's lock (for commands that write into it).
    pub fn open_locked(root: &Path) -> Result<(Self, TrainConfig)> {
        if !root.join("config.toml").is_file() {
            return Self::open(root);
        }
        let mut run = Self {
            root: root.to_path_buf(),
            lock: None,
        };
        run.lock()?;
        // read the config under the lock (a resume may be rewriting it)
        let (_, config) = Self::open(root)?;
        Ok((run, config))
    }

    /// A path inside the run folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The checkpoints folder.
    pub fn checkpoints(&self) -> PathBuf {
        self.path("checkpoints")
    }

    /// Writes the resolved config as `config.toml` and `config.json`; a resumed run calls
    /// it again to record its new step count (it may train longer).
    pub fn update_config(&self, config: &TrainConfig) -> Result<()> {
        write_atomic(&self.path("config.toml"), config.to_toml()?.as_bytes())?;
        write_atomic(&self.path("config.json"), &config.to_json()?)
    }

    /// Reads `run.json` (the default, nothing recorded, for a run made before it existed).
    pub fn read_info(&self) -> Result<RunInfo> {
        let path = self.path("run.json");
        if !path.exists() {
            return Ok(RunInfo::default());
        }
        let text = std::fs::read_to_string(&path).map_err(TrainError::io(&path))?;
        serde_json::from_str(&text).map_err(|e| TrainError::data(&path, e.to_string()))
    }

    /// Writes `run.json`.
    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        let path = self.path("run.json");
        let json =
            serde_json::to_vec_pretty(info).map_err(|e| TrainError::data(&path, e.to_string()))?;
        write_atomic(&path, &json)
    }

    /// Records the names of `dataset`'s classes and columns in `run.json`, keeping the
    /// classifier already recorded.
    pub fn record_names(&self, dataset: &Dataset) -> Result<RunInfo> {
        let info = RunInfo {
            classifier: self.read_info()?.classifier,
            ..RunInfo::of(dataset)
        };
        self.write_info(&info)?;
        Ok(info)
    }

    /// Reads `metrics.jsonl` (empty if absent). A malformed last line is a write cut
    /// short (a full disk, a kill) and is ignored; a malformed line before it is an error.
    pub fn read_log(&self) -> Result<Vec<LogRecord>> {
        let path = self.path("metrics.jsonl");
        if !path.exists() {
            return Ok(Vec::new());
        }
        let bytes = std::fs::read(&path).map_err(TrainError::io(&path))?;
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut records = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            match serde_json::from_str(line) {
                Ok(r) => records.push(r),
                Err(_) if i + 1 == lines.len() => break,
                Err(e) => {
                    return Err(TrainError::Data {
                        path: path.clone(),
                        message: format!("line {}: {e}", i + 1),
                    });
                }
            }
        }
        Ok(records)
    }

    /// Rewrites `metrics.jsonl` with only the records up to `step` (a resumed run
    /// replays the steps after its checkpoint and logs them again), dropping a torn last
    /// line.
    pub fn truncate_log(&self, step: usize) -> Result<Vec<LogRecord>> {
        let kept: Vec<LogRecord> = self
            .read_log()?
            .into_iter()
            .filter(|r| r.step <= step)
            .collect();
        let mut text = String::new();
        for r in &kept {
            text.push_str(
                &serde_json::to_string(r).map_err(|e| TrainError::Config(e.to_string()))?,
            );
            text.push('\n');
        }
        write_atomic(&self.path("metrics.jsonl"), text.as_bytes())?;
        Ok(kept)
    }

    /// Appends one line to `metrics.jsonl`; a failed write (a full disk) is cut back off,
    /// so the log never holds half a line before a later one.
    pub(super) fn append_log(&self, record: &LogRecord) -> Result<()> {
        let path = self.path("metrics.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(TrainError::io(&path))?;
        let before = file.metadata().map_err(TrainError::io(&path))?.len();
        let mut line =
            serde_json::to_string(record).map_err(|e| TrainError::Config(e.to_string()))?;
        line.push('\n');
        append_file(&mut file, line.as_bytes()).map_err(|e| {
            let _ = file.set_len(before);
            TrainError::io(&path)(e)
        })
    }
}

/// Builds a GAN for a run's config, resuming from the latest checkpoint when there is one.
pub fn load_gan(run: &RunDir, config: TrainConfig, checkpoint_dir: Option<&Path>) -> Result<Gan> {
    let dataset = Dataset::from_config(&config.data)?;
    load_gan_with(run, config, dataset, checkpoint_dir)
}

/// [`load_gan`] on data already read (a caller that checked the memory the run needs
/// against the data's shape first).
pub fn load_gan_with(
    run: &RunDir,
    config: TrainConfig,
    dataset: Dataset,
    checkpoint_dir: Option<&Path>,
) -> Result<Gan> {
    let mut gan = Gan::new(config, dataset)?;
    let dir = match checkpoint_dir {
        Some(d) => d.to_path_buf(),
        None => checkpoint::latest(&run.checkpoints())?,
    };
    checkpoint::load(&mut gan, &dir)?;
    Ok(gan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DatasetKind;
    use crate::test_support::{QUIET, new_run, tiny_config};
    use crate::training::train;

    #[test]
    fn existing_run_folder_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("r");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("precious.txt"), "keep me").unwrap();
        let err = RunDir::create(&root, &TrainConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(
            std::fs::read_to_string(root.join("precious.txt")).unwrap(),
            "keep me"
        );
    }

    fn trained_run(dir: &Path) -> RunDir {
        let mut config = tiny_config(DatasetKind::Ring8, true);
        config.steps = 10;
        let (run, mut gan) = new_run(&dir.join("r"), &config);
        train(&run, &mut gan, QUIET).unwrap();
        run
    }

    #[test]
    fn a_torn_last_log_line_is_ignored_and_cut_but_a_torn_middle_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let path = run.path("metrics.jsonl");
        let good = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, format!("{good}{{\"step\":15,\"d_l")).unwrap();
        assert_eq!(run.read_log().unwrap().len(), 2);
        run.truncate_log(10).unwrap();
        let cut = std::fs::read_to_string(&path).unwrap();
        assert_eq!(cut.lines().count(), 2, "{cut}");
        assert!(cut.ends_with('\n') && !cut.contains("\"d_l\""), "{cut}");
        std::fs::write(&path, format!("{{\"step\":1,\n{good}")).unwrap();
        let err = run.read_log().unwrap_err().to_string();
        assert!(
            err.contains("metrics.jsonl") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn a_second_lock_on_a_run_folder_is_refused_until_the_first_drops() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        // the creating `RunDir` holds the lock until it drops
        assert!(matches!(
            RunDir::open_locked(&run.root),
            Err(TrainError::RunInUse { .. })
        ));
        let root = run.root.clone();
        drop(run);
        let (mut first, _) = RunDir::open(&root).unwrap();
        first.lock().unwrap();
        let err = RunDir::open_locked(&root).unwrap_err();
        assert!(matches!(err, TrainError::RunInUse { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("in use by another edgegan-train process")
        );
        drop(first);
        RunDir::open_locked(&root).unwrap();
    }

    #[test]
    fn truncated_checkpoint_is_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        let g = ckpt.join("generator.bpk");
        let bytes = std::fs::read(&g).unwrap();
        for cut in [0, 7, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&g, &bytes[..cut]).unwrap();
            let (run, config) = RunDir::open(&run.root).unwrap();
            let err = load_gan(&run, config, None)
                .err()
                .expect("truncated checkpoint loaded");
            assert!(
                err.to_string().contains("generator.bpk"),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_state_and_missing_checkpoint_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        std::fs::write(ckpt.join("state.json"), "{ not json").unwrap();
        let (run, config) = RunDir::open(&run.root).unwrap();
        let err = load_gan(&run, config.clone(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("state.json") && err.contains("malformed"),
            "{err}"
        );
        std::fs::remove_dir_all(run.checkpoints()).unwrap();
        let err = load_gan(&run, config, None).err().unwrap().to_string();
        assert!(err.contains("no checkpoint"), "{err}");
    }

    #[test]
    fn checkpoint_of_another_model_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let run = trained_run(dir.path());
        let (_, mut config) = RunDir::open(&run.root).unwrap();
        config.generator.hidden = vec![32];
        let err = load_gan(&run, config.clone(), None)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("different model"), "{err}");
        // the same check when state.json is consistent but the tensors are not
        let ckpt = checkpoint::latest(&run.checkpoints()).unwrap();
        let mut state = checkpoint::read_state(&ckpt).unwrap();
        state.config = config.clone();
        std::fs::write(ckpt.join("state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
        let err = load_gan(&run, config, None).err().unwrap().to_string();
        assert!(err.contains("generator.bpk"), "{err}");
    }
}

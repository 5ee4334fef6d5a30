//! Reading, writing and checking a [`TrainConfig`]: the TOML file in, `config.toml` /
//! `config.json` out without the keys a run never reads, and the validation (values that
//! cannot train, sizes above [`limits`]).

use std::path::Path;

use super::limits;
use super::{Activation, Arch, DatasetKind, TrainConfig};
use crate::error::TrainError;

/// `text` (TOML as `toml::to_string_pretty` writes it: `key = value` lines, multi-line
/// arrays closed by a `]` line, `[section]` and `[section.sub]` headers) without the
/// `(section, key)` entries of `keys` (section `""` is the top level); a key that is a
/// sub-table loses its whole `[section.key]` block. Text, not a table, so the key order
/// and number formatting of the struct stay as they are.
fn remove_keys(text: &str, keys: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut section = String::new();
    let mut skipping_table = false;
    let mut skipping_array = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if skipping_array {
            skipping_array = trimmed != "]";
            continue;
        }
        if trimmed.starts_with('[') && trimmed.ends_with(']') && !trimmed.contains('=') {
            section = trimmed.trim_matches(['[', ']']).to_string();
            skipping_table = keys.iter().any(|(s, k)| {
                let full = if s.is_empty() {
                    k.to_string()
                } else {
                    format!("{s}.{k}")
                };
                section == full || section.starts_with(&format!("{full}."))
            });
            if skipping_table {
                continue;
            }
        } else if skipping_table {
            continue;
        } else if let Some((key, value)) = trimmed.split_once('=') {
            let key = key.trim();
            if keys.iter().any(|&(s, k)| s == section && k == key) {
                skipping_array = value.trim() == "[";
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    // a section left with no keys keeps its header: harmless, and it reads back
    out
}

impl TrainConfig {
    /// Reads and validates a TOML config file.
    pub fn from_toml_file(path: &Path) -> Result<Self, TrainError> {
        let text = std::fs::read_to_string(path).map_err(TrainError::io(path))?;
        let config: Self = toml::from_str(&text).map_err(|e| TrainError::ConfigFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.validate().map_err(|e| match e {
            TrainError::Config(message) => TrainError::ConfigFile {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// The config as TOML text, without the keys that do not apply to this run (see
    /// [`TrainConfig::unused_keys`]): a reader of a run's `config.toml` sees only what
    /// shaped it. Parsing it back gives [`TrainConfig::without_unused`].
    pub fn to_toml(&self) -> Result<String, TrainError> {
        let full = toml::to_string_pretty(self).map_err(|e| TrainError::Config(e.to_string()))?;
        Ok(remove_keys(&full, &self.unused_keys()))
    }

    /// The config as pretty JSON, without the keys that do not apply (the same content
    /// as [`TrainConfig::to_toml`]).
    pub fn to_json(&self) -> Result<Vec<u8>, TrainError> {
        // through the TOML text, so numbers read as written (an f32 0.999, not
        // 0.9990000128746033)
        let table: toml::Table =
            toml::from_str(&self.to_toml()?).map_err(|e| TrainError::Config(e.to_string()))?;
        serde_json::to_vec_pretty(&table).map_err(|e| TrainError::Config(e.to_string()))
    }

    /// `(section, key)` of the settings this config's dataset and networks never read
    /// (`data.means` of an image run, `generator.channels` of an MLP, ...).
    pub fn unused_keys(&self) -> Vec<(&'static str, &'static str)> {
        let d = &self.data;
        let image = d.kind.is_image();
        let mut keys = Vec::new();
        if d.kind != DatasetKind::Gauss1d {
            keys.extend([("data", "means"), ("data", "stds")]);
        }
        if d.kind != DatasetKind::Csv {
            keys.extend([("data", "path"), ("data", "label_column")]);
        }
        if image {
            // pixels are always mapped to [-1, 1]
            keys.push(("data", "normalize"));
        } else {
            keys.extend([("data", "dir"), ("data", "limit")]);
        }
        if d.kind != DatasetKind::ImageFolder {
            keys.extend([("data", "image_size"), ("data", "channels")]);
        }
        if !d.conditional {
            keys.extend([
                ("generator", "embedding_dim"),
                ("discriminator", "embedding_dim"),
            ]);
        }
        for (section, arch) in [
            ("generator", self.generator.arch),
            ("discriminator", self.discriminator.arch),
        ] {
            match arch {
                Arch::Mlp => keys.push((section, "channels")),
                Arch::Conv => keys.extend([(section, "hidden"), (section, "activation")]),
            }
        }
        if self.discriminator.arch == Arch::Mlp || !d.conditional {
            keys.push(("discriminator", "projection"));
        }
        if d.masks.is_none() {
            keys.push(("algorithm", "l1_weight"));
        }
        if !image {
            keys.push(("", "grid_every"));
        }
        keys
    }

    /// This config with every setting in [`TrainConfig::unused_keys`] at its default:
    /// what reading back [`TrainConfig::to_toml`] gives. A new run starts from it, so the
    /// config in memory, in `config.toml` and in its checkpoints are one and the same.
    pub fn without_unused(&self) -> Self {
        self.to_toml()
            .ok()
            .and_then(|text| toml::from_str(&text).ok())
            .unwrap_or_else(|| self.clone())
    }

    /// Rejects values that cannot train (zero sizes, bad rates, inconsistent mixture) or
    /// that pass the sane upper bounds of [`limits`] (each error names the key and bound).
    pub fn validate(&self) -> Result<(), TrainError> {
        self.check_bounds()?;
        let bad = |m: String| Err(TrainError::Config(m));
        if self.steps == 0 {
            return bad("steps must be at least 1".into());
        }
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1".into());
        }
        if self.log_every == 0 {
            return bad("log_every must be at least 1".into());
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints must be at least 1".into());
        }
        if self.generator.noise_dim == 0 {
            return bad("generator.noise_dim must be at least 1".into());
        }
        if self.generator.hidden.contains(&0) || self.discriminator.hidden.contains(&0) {
            return bad("hidden layer widths must be at least 1".into());
        }
        if self.data.conditional
            && (self.generator.embedding_dim == 0 || self.discriminator.embedding_dim == 0)
        {
            return bad("embedding_dim must be at least 1 for a conditional model".into());
        }
        if self.discriminator.pack == 0 || !self.batch_size.is_multiple_of(self.discriminator.pack)
        {
            return bad(format!(
                "discriminator.pack ({}) must be at least 1 and divide batch_size ({})",
                self.discriminator.pack, self.batch_size
            ));
        }
        if self.algorithm.d_steps == 0 {
            return bad("algorithm.d_steps must be at least 1".into());
        }
        if !(0.0..0.5).contains(&self.algorithm.label_smoothing) {
            return bad("algorithm.label_smoothing must be in [0, 0.5)".into());
        }
        if let Some(decay) = self.algorithm.ema_decay
            && !(0.0..1.0).contains(&decay)
        {
            return bad("algorithm.ema_decay must be in [0, 1)".into());
        }
        for (name, adam) in [
            ("g_optimizer", &self.g_optimizer),
            ("d_optimizer", &self.d_optimizer),
        ] {
            if !(adam.lr.is_finite() && adam.lr > 0.0) {
                return bad(format!("{name}.lr must be a positive number"));
            }
            if !(0.0..1.0).contains(&adam.beta1) || !(0.0..1.0).contains(&adam.beta2) {
                return bad(format!("{name}.beta1 and beta2 must be in [0, 1)"));
            }
        }
        for act in [self.generator.activation, self.discriminator.activation] {
            if let Activation::LeakyRelu { slope } = act
                && !(slope.is_finite() && (0.0..1.0).contains(&slope))
            {
                return bad("leaky_relu slope must be in [0, 1)".into());
            }
        }
        if self.data.kind == DatasetKind::Gauss1d {
            let d = &self.data;
            if d.means.is_empty() || d.means.len() != d.stds.len() {
                return bad(
                    "data.means and data.stds must be non-empty and of equal length".into(),
                );
            }
            if d.means.iter().any(|m| !m.is_finite())
                || d.stds.iter().any(|s| !(s.is_finite() && *s > 0.0))
            {
                return bad("data.means must be finite and data.stds positive".into());
            }
        }
        let image = self.data.kind.is_image();
        if self.data.masks.is_some() && !image {
            return bad("data.masks (inpainting) needs an image dataset".into());
        }
        if self.data.masks.is_some() && self.data.conditional {
            return bad(
                "choose one condition: data.conditional (class label) or data.masks (inpainting)"
                    .into(),
            );
        }
        if self.data.masks.is_some() && self.generator.arch != Arch::Conv {
            return bad("inpainting (data.masks) needs generator.arch = \"conv\"".into());
        }
        for (name, arch) in [
            ("generator", self.generator.arch),
            ("discriminator", self.discriminator.arch),
        ] {
            if arch == Arch::Conv && !image {
                return bad(format!("{name}.arch = \"conv\" needs an image dataset"));
            }
        }
        if self.generator.arch == Arch::Conv {
            if self.generator.channels.is_empty() || self.generator.channels.contains(&0) {
                return bad("generator.channels must be non-empty and positive".into());
            }
            if self.algorithm.ema_decay.is_some() {
                return bad(
                    "algorithm.ema_decay is not supported with the conv generator: its \
                     BatchNorm running statistics are not averaged"
                        .into(),
                );
            }
        }
        if self.discriminator.arch == Arch::Conv
            && (self.discriminator.channels.is_empty() || self.discriminator.channels.contains(&0))
        {
            return bad("discriminator.channels must be non-empty and positive".into());
        }
        if !(self.algorithm.l1_weight.is_finite() && self.algorithm.l1_weight >= 0.0) {
            return bad("algorithm.l1_weight must be a non-negative number".into());
        }
        if self.data.kind == DatasetKind::ImageFolder {
            if self.data.dir.is_none() {
                return bad("data.dir is required for the image_folder dataset".into());
            }
            if self.data.image_size.contains(&0) || !matches!(self.data.channels, 1 | 3) {
                return bad("data.image_size must be positive and data.channels 1 or 3".into());
            }
        }
        if self.data.limit == Some(0) {
            return bad("data.limit must be at least 1".into());
        }
        if self.data.kind == DatasetKind::Csv && self.data.path.is_none() {
            return bad("data.path is required for the csv dataset".into());
        }
        if self.data.kind == DatasetKind::Csv
            && self.data.conditional
            && self.data.label_column.is_none()
        {
            return bad("a conditional csv model needs data.label_column".into());
        }
        Ok(())
    }
}

/// An error unless `value <= max`, naming `key` and the bound.
pub fn check_max(key: &str, value: usize, max: usize) -> Result<(), TrainError> {
    if value > max {
        return Err(TrainError::Config(format!(
            "{key} = {value} is above the limit of {max}"
        )));
    }
    Ok(())
}

impl TrainConfig {
    fn check_bounds(&self) -> Result<(), TrainError> {
        use limits::*;
        check_max("steps", self.steps, MAX_STEPS)?;
        check_max("algorithm.d_steps", self.algorithm.d_steps, MAX_D_STEPS)?;
        check_max("batch_size", self.batch_size, MAX_BATCH_SIZE)?;
        check_max(
            "generator.noise_dim",
            self.generator.noise_dim,
            MAX_NOISE_DIM,
        )?;
        check_max(
            "generator.embedding_dim",
            self.generator.embedding_dim,
            MAX_EMBEDDING_DIM,
        )?;
        check_max(
            "discriminator.embedding_dim",
            self.discriminator.embedding_dim,
            MAX_EMBEDDING_DIM,
        )?;
        for (key, widths) in [
            ("generator.hidden", &self.generator.hidden),
            ("discriminator.hidden", &self.discriminator.hidden),
            ("generator.channels", &self.generator.channels),
            ("discriminator.channels", &self.discriminator.channels),
        ] {
            check_max(
                &format!("the number of layers in {key}"),
                widths.len(),
                MAX_DEPTH,
            )?;
            for &w in widths {
                check_max(&format!("a width in {key}"), w, MAX_WIDTH)?;
            }
        }
        for side in self.data.image_size {
            check_max("a side of data.image_size", side, MAX_IMAGE_SIDE)?;
        }
        check_max("data.channels", self.data.channels, MAX_CHANNELS)?;
        Ok(())
    }
}

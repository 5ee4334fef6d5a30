//! The part of the model card (`model.toml`) that `firmware-sim compile` writes: what the
//! source ONNX says about its outputs (class names, columns, units, the normaliser back to
//! data units) and which files the compile produced (each `.egm`'s SHA-256, the ONNX's).
//!
//! It is one `[compiled]` table at the end of the card, after a marker line. A compile into
//! a folder that already has a card keeps everything above the marker (hand-written notes,
//! the shipped models' training records) and replaces the rest, so recompiling never loses
//! what people wrote, and the tables above stay valid TOML on their own.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use edgegan_compiler::contract::Metadata;
use edgegan_runtime::{ConditionKind, DeviceModel};
use sha2::Digest as _;

use crate::{Error, Result};

/// The line that starts the written part of a card.
pub const MARKER: &str =
    "# --- written by `firmware-sim compile` (rewritten on every compile: add notes above) ---";

/// One `.egm` file of the compiled set.
#[derive(Clone, Debug, PartialEq)]
pub struct EgmRecord {
    /// The weight format (`f32`, `w8a32`, `w8a8`), the key in `[compiled.egm]`.
    pub format: String,
    /// The file name, beside the card.
    pub file: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
}

/// The values to bring a network output back to data units: `data = x * scale + center`
/// (the contract's type, so the card and the ONNX metadata cannot drift apart).
pub use edgegan_compiler::contract::Normalizer;

/// The `[compiled]` table of a card.
#[derive(Clone, Debug, PartialEq)]
pub struct CompiledCard {
    /// The source ONNX's file name.
    pub source: String,
    /// The source ONNX's SHA-256.
    pub source_sha256: String,
    /// Whether the ONNX had edgegan's metadata (false: a foreign ONNX; names are indices).
    pub metadata: bool,
    /// `none`, `label` or `mask`.
    pub condition: String,
    /// One name per class (label models), index = label.
    pub class_names: Vec<String>,
    /// Shape of one sample.
    pub output_shape: Vec<u32>,
    /// Names of a point sample's values (`[]`: images, or none recorded).
    pub column_names: Vec<String>,
    /// The network's output range.
    pub value_range: (f32, f32),
    /// What a value means, in words.
    pub units: String,
    /// Back to data units, when the ONNX recorded one that fits the output.
    pub normalizer: Option<Normalizer>,
    /// The `.egm` files written with this card.
    pub egm: Vec<EgmRecord>,
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

impl CompiledCard {
    /// The card of a compile: graph facts from the compiled model `m`, names and units from
    /// the ONNX's metadata `meta` when it has usable ones.
    ///
    /// Returns the card and notes on metadata that was present but not used (printed by
    /// the CLI so a user sees why names are missing).
    pub fn new(
        source: &Path,
        source_bytes: &[u8],
        meta: Option<&Metadata>,
        m: &DeviceModel<'_>,
        egm: Vec<EgmRecord>,
    ) -> (CompiledCard, Vec<String>) {
        let mut notes = vec![];
        let classes = match m.condition() {
            ConditionKind::Label { classes } => classes as usize,
            _ => 0,
        };
        let condition = match m.condition() {
            ConditionKind::None => "none",
            ConditionKind::Label { .. } => "label",
            _ => "mask",
        };
        let meta_names = meta.and_then(|md| match &md.condition {
            edgegan_compiler::contract::MetadataCondition::Label { class_names } => {
                Some(class_names.clone())
            }
            _ => None,
        });
        // The graph decides how many classes there are; names that disagree are not used.
        let class_names = match meta_names {
            Some(names) if names.len() == classes => names,
            Some(names) => {
                notes.push(format!(
                    "the metadata names {} classes but the graph has {classes}: classes are \
                     named by index",
                    names.len()
                ));
                (0..classes).map(|i| i.to_string()).collect()
            }
            None => (0..classes).map(|i| i.to_string()).collect(),
        };
        let output_len: usize = m.output_shape().iter().map(|&d| d as usize).product();
        let point = m.output_shape().len() == 1;
        let column_names = match meta.map(Metadata::column_names) {
            Some(Ok(names)) if names.len() == output_len && point => names,
            Some(Ok(names)) if names.is_empty() || !point => vec![],
            Some(Ok(names)) => {
                notes.push(format!(
                    "edgegan.column_names has {} names for {output_len} values: not used",
                    names.len()
                ));
                vec![]
            }
            Some(Err(e)) => {
                notes.push(format!("{e}: not used"));
                vec![]
            }
            None => vec![],
        };
        let normalizer = match meta.map(Metadata::normalizer) {
            Some(Ok(Some(n))) if point && n.center.len() == output_len => Some(n),
            Some(Err(e)) => {
                notes.push(format!("{e}: not used"));
                None
            }
            _ => None,
        };
        let (lo, hi) = m.value_range();
        let units = if normalizer.is_some() {
            "network units; data = x * scale + center (normalizer below)".to_string()
        } else if m.output_shape().len() >= 2 {
            if (lo, hi) == (-1.0, 1.0) {
                "pixels: 0..255 = (x + 1) * 127.5".to_string()
            } else {
                format!("pixels: 0..255 = (x - ({lo})) * 255 / {}", hi - lo)
            }
        } else {
            "network units (no normalizer recorded)".to_string()
        };
        let source_name = source.file_name().map_or_else(
            || source.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let card = CompiledCard {
            source: source_name,
            source_sha256: sha256_hex(source_bytes),
            metadata: meta.is_some(),
            condition: condition.into(),
            class_names,
            output_shape: m.output_shape().to_vec(),
            column_names,
            value_range: (lo, hi),
            units,
            normalizer,
            egm,
        };
        (card, notes)
    }

    /// The card's text: `previous` (an existing card) up to its [`MARKER`], then the
    /// marker and the `[compiled]` table.
    pub fn render(&self, previous: Option<&str>) -> String {
        let mut s = String::new();
        match previous.map(keep_above_marker) {
            Some(head) if !head.trim().is_empty() => {
                s.push_str(head.trim_end());
                s.push_str("\n\n");
            }
            _ => s.push_str(
                "# Model card: what firmware-sim knows about the .egm files beside it.\n\n",
            ),
        }
        let q = |v: &str| toml::Value::String(v.into()).to_string();
        let list = |v: &[String]| {
            format!(
                "[{}]",
                v.iter().map(|x| q(x)).collect::<Vec<_>>().join(", ")
            )
        };
        let floats = |v: &[f32]| {
            format!(
                "[{}]",
                v.iter()
                    .map(|x| toml::Value::Float(f64::from(*x)).to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let w = &mut s;
        let _ = writeln!(w, "{MARKER}");
        let _ = writeln!(w, "[compiled]");
        let _ = writeln!(w, "source = {}", q(&self.source));
        let _ = writeln!(w, "source_sha256 = {}", q(&self.source_sha256));
        let _ = writeln!(
            w,
            "metadata = {}{}",
            self.metadata,
            if self.metadata {
                ""
            } else {
                "   # no edgegan.* metadata: names are what the graph tells"
            }
        );
        let _ = writeln!(w, "condition = {}", q(&self.condition));
        let _ = writeln!(w, "classes = {}", self.class_names.len());
        let _ = writeln!(w, "class_names = {}", list(&self.class_names));
        let _ = writeln!(
            w,
            "output_shape = [{}]",
            self.output_shape
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let _ = writeln!(w, "column_names = {}", list(&self.column_names));
        let _ = writeln!(
            w,
            "value_range = {}",
            floats(&[self.value_range.0, self.value_range.1])
        );
        let _ = writeln!(w, "units = {}", q(&self.units));
        if let Some(n) = &self.normalizer {
            let _ = writeln!(
                w,
                "normalizer = {{ center = {}, scale = {} }}",
                floats(&n.center),
                floats(&n.scale)
            );
        }
        let _ = writeln!(w, "\n[compiled.egm]");
        for e in &self.egm {
            let _ = writeln!(
                w,
                "{} = {{ file = {}, bytes = {}, sha256 = {} }}",
                e.format,
                q(&e.file),
                e.bytes,
                q(&e.sha256)
            );
        }
        s
    }

    /// The `[compiled]` table of the card text `text` (`Ok(None)` without one).
    ///
    /// # Errors
    ///
    /// A message if the card is not TOML or a `[compiled]` entry has the wrong type.
    pub fn parse(text: &str) -> std::result::Result<Option<CompiledCard>, String> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
        let Some(c) = table.get("compiled") else {
            return Ok(None);
        };
        let c = c.as_table().ok_or("`compiled` is not a table")?;
        let str_of = |k: &str| -> std::result::Result<String, String> {
            c.get(k)
                .and_then(toml::Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| format!("`compiled.{k}` is not a string"))
        };
        let strings =
            |v: Option<&toml::Value>, k: &str| -> std::result::Result<Vec<String>, String> {
                let Some(v) = v else { return Ok(vec![]) };
                v.as_array()
                    .and_then(|a| a.iter().map(|x| x.as_str().map(str::to_string)).collect())
                    .ok_or_else(|| format!("`{k}` is not an array of strings"))
            };
        let floats = |v: Option<&toml::Value>, k: &str| -> std::result::Result<Vec<f32>, String> {
            v.and_then(toml::Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .map(|x| {
                            x.as_float()
                                .or_else(|| x.as_integer().map(|i| i as f64))
                                .map(|f| f as f32)
                        })
                        .collect()
                })
                .ok_or_else(|| format!("`{k}` is not an array of numbers"))
        };
        let range = floats(c.get("value_range"), "compiled.value_range")?;
        let [lo, hi] = range[..] else {
            return Err("`compiled.value_range` needs two numbers".into());
        };
        let normalizer = match c.get("normalizer") {
            None => None,
            Some(n) => {
                let center = floats(n.get("center"), "compiled.normalizer.center")?;
                let scale = floats(n.get("scale"), "compiled.normalizer.scale")?;
                if center.len() != scale.len() {
                    return Err("`compiled.normalizer`: center and scale differ in length".into());
                }
                Some(Normalizer { center, scale })
            }
        };
        let mut egm = vec![];
        if let Some(t) = c.get("egm").and_then(toml::Value::as_table) {
            for (format, e) in t {
                let get = |k: &str| e.get(k).and_then(toml::Value::as_str).map(str::to_string);
                let (Some(file), Some(sha256)) = (get("file"), get("sha256")) else {
                    return Err(format!("`compiled.egm.{format}` needs `file` and `sha256`"));
                };
                let bytes = e
                    .get("bytes")
                    .and_then(toml::Value::as_integer)
                    .unwrap_or(0);
                egm.push(EgmRecord {
                    format: format.clone(),
                    file,
                    bytes: u64::try_from(bytes).unwrap_or(0),
                    sha256,
                });
            }
        }
        let shape = c
            .get("output_shape")
            .and_then(toml::Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_integer().and_then(|i| u32::try_from(i).ok()))
                    .collect::<Option<Vec<u32>>>()
            })
            .ok_or("`compiled.output_shape` is not an array of sizes")?;
        Ok(Some(CompiledCard {
            source: str_of("source")?,
            source_sha256: str_of("source_sha256")?,
            metadata: c
                .get("metadata")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false),
            condition: str_of("condition")?,
            class_names: strings(c.get("class_names"), "compiled.class_names")?,
            output_shape: shape,
            column_names: strings(c.get("column_names"), "compiled.column_names")?,
            value_range: (lo, hi),
            units: str_of("units").unwrap_or_default(),
            normalizer,
            egm,
        }))
    }

    /// Reads the `[compiled]` table of the card beside `model` (`Ok(None)`: no card, or a
    /// card without one, e.g. written by hand).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the card exists but cannot be read, [`Error::Card`] if it is not
    /// TOML or its `[compiled]` table is malformed.
    pub fn beside(model: &Path) -> Result<Option<(PathBuf, CompiledCard)>> {
        let path = crate::card::card_path(model);
        if !path.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&path).map_err(crate::io("reading model card", &path))?;
        let card = CompiledCard::parse(&text).map_err(|reason| Error::Card {
            path: path.clone(),
            reason,
        })?;
        Ok(card.map(|c| (path, c)))
    }

    /// A warning if `model`'s bytes are not the ones this card recorded for its file name
    /// (the set is mixed: an `.egm` from another compile, or a card left from one).
    pub fn mismatch(&self, card_path: &Path, model: &Path, bytes: &[u8]) -> Option<String> {
        let name = model.file_name()?.to_string_lossy();
        let Some(rec) = self.egm.iter().find(|e| e.file == name) else {
            return Some(format!(
                "{} does not list {name}: the card may belong to other models",
                card_path.display()
            ));
        };
        let actual = sha256_hex(bytes);
        (actual != rec.sha256).then(|| {
            format!(
                "{} is not the file {} recorded (sha256 {}, recorded {}, compiled from {} \
                 sha256 {}): the folder holds a mixed set; recompile with `firmware-sim \
                 compile ONNX --out-dir {}`",
                model.display(),
                card_path.display(),
                short(&actual),
                short(&rec.sha256),
                self.source,
                short(&self.source_sha256),
                model
                    .parent()
                    .map_or_else(|| ".".into(), |p| p.display().to_string())
            )
        })
    }

    /// Maps network values of one sample to data units (`x * scale + center`), `None` if
    /// the card has no normaliser for this many values.
    pub fn to_data(&self, sample: &[f32]) -> Option<Vec<f32>> {
        let n = self.normalizer.as_ref()?;
        (n.center.len() == sample.len()).then(|| {
            sample
                .iter()
                .zip(n.scale.iter().zip(&n.center))
                .map(|(x, (s, c))| x * s + c)
                .collect()
        })
    }
}

/// The first 12 hex digits of a hash, enough to tell two apart in a message.
fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// The part of a card above [`MARKER`] (all of it without one).
fn keep_above_marker(text: &str) -> &str {
    match text.find(MARKER) {
        Some(at) => &text[..at],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> CompiledCard {
        CompiledCard {
            source: "generator.onnx".into(),
            source_sha256: "ab".repeat(32),
            metadata: true,
            condition: "label".into(),
            class_names: vec!["east".into(), "say \"hi\"".into()],
            output_shape: vec![2],
            column_names: vec!["east_km".into(), "north_km".into()],
            value_range: (-1.0, 1.0),
            units: "network units".into(),
            normalizer: Some(Normalizer {
                center: vec![0.5, -1.0],
                scale: vec![2.0, 3.25],
            }),
            egm: vec![EgmRecord {
                format: "w8a8".into(),
                file: "model.w8a8.egm".into(),
                bytes: 10,
                sha256: "cd".repeat(32),
            }],
        }
    }

    #[test]
    fn render_parse_round_trip_keeps_hand_written_notes() {
        let c = card();
        let first = c.render(Some("name = \"mine\"\n[dataset]\nwhat = \"points\"\n"));
        assert!(first.starts_with("name = \"mine\""), "{first}");
        assert_eq!(CompiledCard::parse(&first).unwrap(), Some(c.clone()));
        // A second compile replaces the written part only.
        let mut c2 = c.clone();
        c2.class_names = vec!["a".into(), "b".into()];
        let second = c2.render(Some(&first));
        assert_eq!(second.matches(MARKER).count(), 1);
        assert!(second.contains("what = \"points\""));
        assert_eq!(CompiledCard::parse(&second).unwrap(), Some(c2));
        // The scanner the CLI resolves names with sees the same names.
        assert_eq!(
            crate::card::scan_class_names(&first).unwrap(),
            vec![c.class_names.clone()]
        );
        assert_eq!(CompiledCard::parse("name = 'x'\n").unwrap(), None);
        assert!(CompiledCard::parse("[compiled]\nsource = 1\n").is_err());
    }

    #[test]
    fn data_units_and_mismatch() {
        let c = card();
        assert_eq!(c.to_data(&[1.0, 2.0]), Some(vec![2.5, 5.5]));
        assert_eq!(c.to_data(&[1.0]), None);
        let p = Path::new("d/model.w8a8.egm");
        assert!(c.mismatch(Path::new("d/model.toml"), p, b"x").is_some());
        assert!(
            c.mismatch(Path::new("d/model.toml"), Path::new("d/other.egm"), b"x")
                .is_some()
        );
        let mut ok = c.clone();
        ok.egm[0].sha256 = sha256_hex(b"x");
        assert_eq!(ok.mismatch(Path::new("d/model.toml"), p, b"x"), None);
    }
}

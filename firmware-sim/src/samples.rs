//! Writing a batch's samples the way the model card describes them: CSV headers with the
//! card's column and class names, point values back in data units (`--raw` keeps the
//! network's range), PNG grids scaled for viewing.

use std::path::{Path, PathBuf};

use edgegan_runtime::{ConditionKind, DeviceModel};

use crate::compiled_card::CompiledCard;
use crate::host::{self, Batch, MaskInput};
use crate::output::{self, Completion, CsvNames, Format};
use crate::{Error, Result, card};

/// How samples are written (`sample` and `run --out`).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct ViewArgs {
    /// CSV/NPY values in the network's range, not mapped to data units with the model
    /// card's normaliser.
    #[arg(long)]
    pub raw: bool,
    /// PNG grids: each pixel drawn as an N x N block [default: the smallest N that makes
    /// the grid at least 512 px wide].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub scale: Option<u32>,
}

/// What the card beside a model says, as far as writing samples needs it.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// The card's `[compiled]` table, if it has one.
    pub card: Option<(PathBuf, CompiledCard)>,
    /// Class names (from `[compiled]` or a hand-written `class_names`), checked against
    /// the model's class count.
    pub class_names: Option<Vec<String>>,
    /// The flags.
    pub args: ViewArgs,
}

impl View {
    /// Reads the card beside `model_path` (none is fine). Returns the view and warnings: a
    /// card whose recorded hash does not match the model's bytes.
    ///
    /// # Errors
    ///
    /// The card's errors ([`Error::Card`], [`Error::Io`]).
    pub fn load(
        model_path: &Path,
        m: &DeviceModel<'_>,
        args: ViewArgs,
    ) -> Result<(View, Vec<String>)> {
        let mut warnings = vec![];
        let card = CompiledCard::beside(model_path)?;
        if let Some((path, c)) = &card {
            let bytes = std::fs::read(model_path).map_err(crate::io("reading", model_path))?;
            warnings.extend(c.mismatch(path, model_path, &bytes));
        }
        let classes = match m.condition() {
            ConditionKind::Label { classes } => Some(classes as usize),
            _ => None,
        };
        let card_file = card::card_path(model_path);
        let names = match (&card, classes) {
            (_, None) => None,
            (Some((_, c)), Some(k)) if c.class_names.len() == k => Some(c.class_names.clone()),
            (_, Some(k)) if card_file.is_file() => {
                card::class_names(&card_file)?.filter(|n| n.len() == k)
            }
            _ => None,
        };
        Ok((
            View {
                card,
                class_names: names,
                args,
            },
            warnings,
        ))
    }

    /// The card's normaliser applies to this model's samples (and `--raw` is not given).
    pub fn data_units(&self, m: &DeviceModel<'_>) -> bool {
        !self.args.raw
            && self.card.as_ref().is_some_and(|(_, c)| {
                c.normalizer
                    .as_ref()
                    .is_some_and(|n| n.center.len() == m.output_len())
            })
    }

    /// Column names for a point model's CSV (empty: none recorded).
    fn columns(&self, m: &DeviceModel<'_>) -> Vec<String> {
        self.card
            .as_ref()
            .map(|(_, c)| c.column_names.clone())
            .filter(|c| c.len() == m.output_len())
            .unwrap_or_default()
    }
}

/// Writes samples: `firmware` values when given (they equal the host's), else the host's.
/// Returns a line on the units of CSV/NPY values, for the user.
///
/// # Errors
///
/// [`Error::Output`] for a format that does not fit the model, sampling and write errors.
pub fn write_samples(
    model: &DeviceModel<'_>,
    batch: &Batch,
    firmware: Option<&[Vec<f32>]>,
    out: &Path,
    format: Format,
    view: &View,
) -> Result<Option<String>> {
    let shape = model.output_shape();
    let scale = view.args.scale;
    match format {
        Format::Png if host::mask_shape(model).is_some() => {
            output::image_shape(shape)?;
            let range = model.value_range();
            let items = batch
                .pairs
                .iter()
                .zip(host::sample_u8(model, batch)?)
                .map(|(p, output)| {
                    let m = batch.mask_input(model, p).unwrap_or(MaskInput {
                        mask: vec![],
                        masked: vec![],
                    });
                    Completion {
                        masked: m
                            .masked
                            .iter()
                            .map(|&v| output::to_pixel(v, range))
                            .collect(),
                        mask: m.mask,
                        output,
                    }
                })
                .collect::<Vec<_>>();
            output::write_inpaint_png(out, shape, &items, scale)?;
            Ok(None)
        }
        Format::Png => {
            output::image_shape(shape)?;
            let rows = grid_rows(&batch.pairs, view.class_names.as_deref());
            output::write_png(out, shape, &host::sample_u8(model, batch)?, &rows, scale)?;
            Ok(None)
        }
        Format::Csv | Format::Npy => {
            let mut samples = match firmware {
                Some(s) => s.to_vec(),
                None => host::sample(model, batch)?,
            };
            let units = if view.data_units(model) {
                let (path, card) = view.card.as_ref().ok_or_else(|| {
                    Error::Output("data units without a card (a firmware-sim bug)".into())
                })?;
                for s in &mut samples {
                    if let Some(d) = card.to_data(s) {
                        *s = d;
                    }
                }
                format!(
                    "values in data units (x * scale + center, the normalizer of {}; --raw \
                     for the network's range)",
                    path.display()
                )
            } else {
                let (lo, hi) = model.value_range();
                format!("values in the network's range ({lo}..{hi})")
            };
            if format == Format::Csv {
                // Class names go in their own column for point models only: image CSVs keep
                // `seed,class,x0,…`, which `edgegan-train score` reads.
                let point = shape.len() == 1;
                let names = CsvNames {
                    columns: if point { view.columns(model) } else { vec![] },
                    classes: view.class_names.clone().filter(|_| point),
                };
                output::write_csv(out, &batch.pairs, &samples, &names)?;
            } else {
                output::write_npy(out, shape, &samples)?;
            }
            Ok(Some(units))
        }
    }
}

/// How a grid shows `pairs`: samples of several classes one row per class (in the order
/// the classes first appear), each row named by the class (`names[label]`, else `class
/// N`) like the trainer's grids; one class, an about square grid with every row named by
/// it; no labels, an about square grid without names.
pub fn grid_rows(pairs: &[host::Pair], names: Option<&[String]>) -> Vec<output::GridRow> {
    let name = |l: u32| {
        names
            .and_then(|n| n.get(l as usize))
            .cloned()
            .unwrap_or_else(|| format!("class {l}"))
    };
    // (label, samples) in the order the labels first appear
    let mut groups: Vec<(Option<u32>, Vec<usize>)> = vec![];
    for (i, p) in pairs.iter().enumerate() {
        match groups.iter_mut().find(|(l, _)| *l == p.label) {
            Some((_, v)) => v.push(i),
            None => groups.push((p.label, vec![i])),
        }
    }
    if groups.len() <= 1 {
        let label = groups.first().and_then(|(l, _)| *l);
        let mut rows = output::square_rows(pairs.len());
        rows.iter_mut().for_each(|r| r.name = label.map(name));
        return rows;
    }
    groups
        .into_iter()
        .map(|(l, samples)| output::GridRow {
            samples,
            name: l.map(name),
        })
        .collect()
}

/// The card's part of `inspect`: where names and units come from.
pub fn describe(view: &View) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    if let Some((path, c)) = &view.card {
        let _ = writeln!(
            s,
            "card:        {} (compiled from {}, sha256 {})",
            path.display(),
            c.source,
            c.source_sha256
        );
        if !c.metadata {
            let _ = writeln!(
                s,
                "             no edgegan metadata: classes named by index"
            );
        }
        if !c.column_names.is_empty() {
            let _ = writeln!(s, "columns:     {}", c.column_names.join(", "));
        }
        let _ = writeln!(s, "units:       {}", c.units);
        if let Some(n) = &c.normalizer {
            let _ = writeln!(
                s,
                "normalizer:  data = x * scale + center, center {:?}, scale {:?}",
                n.center, n.scale
            );
        }
    }
    if let Some(names) = &view.class_names {
        let _ = writeln!(s, "classes:     (sample --class NAME or INDEX)");
        for (i, n) in names.iter().enumerate() {
            let _ = writeln!(s, "  {i:>3} {n}");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Pair;

    fn pairs(labels: &[Option<u32>]) -> Vec<Pair> {
        labels
            .iter()
            .enumerate()
            .map(|(i, &label)| Pair {
                seed: i as u64,
                label,
                mask: None,
            })
            .collect()
    }

    fn layout(rows: &[output::GridRow]) -> Vec<(Vec<usize>, Option<&str>)> {
        rows.iter()
            .map(|r| (r.samples.clone(), r.name.as_deref()))
            .collect()
    }

    #[test]
    fn grid_rows_are_one_per_class_named_like_the_card() {
        let names = ["bag".to_string(), "shoe".to_string(), "shirt".to_string()];
        // classes cycling (sample --n 5 without --class): one row per class
        let p = pairs(&[Some(0), Some(1), Some(2), Some(0), Some(1)]);
        assert_eq!(
            layout(&grid_rows(&p, Some(&names))),
            [
                (vec![0, 3], Some("bag")),
                (vec![1, 4], Some("shoe")),
                (vec![2], Some("shirt")),
            ]
        );
        // without a card the rows say the index
        assert_eq!(grid_rows(&p, None)[2].name.as_deref(), Some("class 2"));
        // one class (--class): a square grid, every row named
        let p = pairs(&[Some(1); 5]);
        assert_eq!(
            layout(&grid_rows(&p, Some(&names))),
            [(vec![0, 1, 2], Some("shoe")), (vec![3, 4], Some("shoe"))]
        );
        // no labels: a square grid without names
        let p = pairs(&[None; 4]);
        assert_eq!(
            layout(&grid_rows(&p, Some(&names))),
            [(vec![0, 1], None), (vec![2, 3], None)]
        );
    }
}

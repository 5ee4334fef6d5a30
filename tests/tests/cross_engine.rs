//! The cross-engine suite: every shipped model × its case list × every engine, every
//! engine pair compared within its named tolerance. Run with `-- --nocapture` to see the
//! table of max |difference| per pair and batch. The foreign-generator corpus
//! (`tests/corpus/`) runs through the engines that can read it
//! (`every_engine_agrees_on_every_corpus_model`).

mod common;

use std::collections::BTreeMap;

use edgegan_runtime::contract::keys;
use edgegan_tests::case::{CaseInputs, Condition, case_specs};
use edgegan_tests::engine::{
    ENGINES, Engine, F32_TOLERANCE, default_tolerances, max_abs_diff, mean_abs_diff,
    mean_tolerances, pair_key,
};
use edgegan_tests::engines::egm::{EgmEngine, FORMATS, WeightFormat, file_name};
use edgegan_tests::engines::{self, tract::TractEngine};
use edgegan_tests::foreign::{ForeignModel, corpus_models, corpus_root, foreign_models_root};
use edgegan_tests::golden::{
    MANIFEST, Manifest, egm_output_file, read_inputs, read_manifest, read_npy, write_golden,
};
use edgegan_tests::model::{ModelDir, sha256_hex};
use edgegan_tests::npy;

use common::shipped_models;

/// The tolerance of each pair for `model`: the default, tightened by the card.
fn tolerances(model: &ModelDir) -> BTreeMap<String, f32> {
    let mut t = default_tolerances();
    for (pair, &value) in &model.card.tolerances {
        if let Some(v) = t.get_mut(pair) {
            *v = v.min(value);
        }
    }
    t
}

#[test]
fn every_engine_agrees_on_every_case_of_every_model() {
    let mut failures = Vec::new();
    for model in shipped_models() {
        read_manifest(&model).unwrap_or_else(|e| panic!("{e}"));
        let engines = engines::all(&model).unwrap_or_else(|e| panic!("{}: {e}", model.name));
        let names: Vec<&str> = engines.iter().map(|e| e.name()).collect();
        assert_eq!(names, ENGINES, "the suite must run every engine it names");
        let tolerances = tolerances(&model);

        let means = mean_tolerances();

        // (pair, batch) -> largest max and mean |difference| over the cases of that batch
        let mut table: BTreeMap<(String, usize), (f32, f32)> = BTreeMap::new();
        for spec in case_specs(&model.info) {
            let case = spec.inputs(&model.info);
            let outputs: Vec<_> = engines
                .iter()
                .map(|e| {
                    e.run(&case)
                        .unwrap_or_else(|err| panic!("{}: {err}", model.name))
                })
                .collect();
            for i in 0..engines.len() {
                for j in i + 1..engines.len() {
                    let key = pair_key(engines[i].name(), engines[j].name());
                    // only the pairs the tolerance table names are compared
                    let Some(&tol) = tolerances.get(&key) else {
                        continue;
                    };
                    let diff = max_abs_diff(&outputs[i], &outputs[j])
                        .unwrap_or_else(|e| panic!("{} {key} {}: {e}", model.name, case.name));
                    let mean = mean_abs_diff(&outputs[i], &outputs[j]).unwrap();
                    if diff > tol {
                        failures.push(format!(
                            "{} case {}: {key} differ by {diff:e} > {tol:e}",
                            model.name, case.name
                        ));
                    }
                    if let Some(&mean_tol) = means.get(&key)
                        && mean > mean_tol
                    {
                        failures.push(format!(
                            "{} case {}: {key} differ by {mean:e} on average > {mean_tol:e}",
                            model.name, case.name
                        ));
                    }
                    let slot = table.entry((key, spec.batch)).or_insert((0.0, 0.0));
                    *slot = (slot.0.max(diff), slot.1.max(mean));
                }
            }
        }
        println!(
            "{}: max |difference| (and largest per-case mean) per engine pair and batch",
            model.name
        );
        for ((pair, batch), (diff, mean)) in &table {
            let mean_tol = means
                .get(pair)
                .map_or(String::new(), |t| format!(", mean {t:e}"));
            println!(
                "  {pair:<18} batch {batch:>3}  max {diff:.3e}  mean {mean:.3e}  (tolerance {:e}{mean_tol})",
                tolerances[pair]
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_model_is_run_at_batch_1_and_64() {
    for model in shipped_models() {
        let manifest = read_manifest(&model).unwrap_or_else(|e| panic!("{e}"));
        for batch in [1, 64] {
            assert!(
                manifest.cases.iter().any(|c| c.batch == batch),
                "{}: no golden case at batch {batch}",
                model.name
            );
        }
    }
}

#[test]
fn golden_inputs_regenerate_bit_for_bit() {
    // The golden outputs are only meaningful for the inputs stored beside them; if the
    // case generator changed, every engine would still agree but on other numbers.
    for model in shipped_models() {
        for spec in case_specs(&model.info) {
            let case = spec.inputs(&model.info);
            let stored = read_inputs(
                &model.golden_dir().join(&case.name),
                &case.name,
                &case.condition,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", model.name));
            assert!(
                stored == case,
                "{} case {}: stored inputs differ from generated; run `{}`",
                model.name,
                case.name,
                model.regen_command()
            );
        }
    }
}

#[test]
fn model_cards_match_their_artifacts() {
    for model in shipped_models() {
        let mismatches = model.card_mismatches();
        assert!(
            mismatches.is_empty(),
            "{}: model.toml disagrees with generator.onnx:\n{}",
            model.name,
            mismatches.join("\n")
        );
        let known = default_tolerances();
        for (pair, &value) in &model.card.tolerances {
            assert!(
                known.contains_key(pair),
                "{}: tolerance for unknown engine pair `{pair}` (known: {:?})",
                model.name,
                known.keys().collect::<Vec<_>>()
            );
            assert!(
                value > 0.0 && value <= known[pair],
                "{}: tolerance {pair} = {value:e} loosens the suite's {:e}",
                model.name,
                known[pair]
            );
        }
        // The Burn engine samples from the folder's checkpoint: it must be the one the
        // ONNX was exported from. The export records the SHA-256 of the run's config.
        for file in ["config.toml", "generator.bpk"] {
            assert!(
                model.dir.join(file).is_file(),
                "{}: the Burn checkpoint file {file} is missing",
                model.name
            );
        }
        if let Some(expected) = model.info.metadata.get(keys::CONFIG_SHA256) {
            let config = std::fs::read(model.dir.join("config.toml")).unwrap();
            assert_eq!(
                &sha256_hex(&config),
                expected,
                "{}: config.toml is not the config of the run generator.onnx came from",
                model.name
            );
        }
    }
}

/// A copy of `case` with a different condition in every row.
fn other_condition(case: &CaseInputs, classes: usize) -> CaseInputs {
    let condition = match &case.condition {
        Condition::None => Condition::None,
        Condition::Label(l) => Condition::Label(
            edgegan_tests::array::Array::new(
                l.shape().to_vec(),
                l.data().iter().map(|&v| (v + 1) % classes as i64).collect(),
            )
            .unwrap(),
        ),
        Condition::Mask { mask, masked } => Condition::Mask {
            mask: mask.clone(),
            masked: edgegan_tests::array::Array::new(
                masked.shape().to_vec(),
                masked.data().iter().map(|v| -v).collect(),
            )
            .unwrap(),
        },
    };
    CaseInputs {
        name: format!("{}-other", case.name),
        z: case.z.clone(),
        condition,
    }
}

#[test]
fn outputs_are_finite_in_range_and_follow_noise_and_condition() {
    for model in shipped_models() {
        let tract = TractEngine::load(&model.onnx_path()).unwrap();
        let classes = match &model.info.condition {
            edgegan_tests::model::ConditionKind::Label { class_names } => class_names.len(),
            _ => 0,
        };
        let specs = case_specs(&model.info);
        let mut previous: Option<Vec<f32>> = None;
        for spec in &specs {
            let case = spec.inputs(&model.info);
            let x = tract.run(&case).unwrap();
            assert_eq!(x.shape(), model.info.output_shape_for(spec.batch));
            assert!(x.data().iter().all(|v| v.is_finite()), "{}", case.name);
            if model.info.bounded {
                assert!(
                    x.data().iter().all(|v| (-1.0..=1.0).contains(v)),
                    "{} case {}: output outside [-1, 1]",
                    model.name,
                    case.name
                );
            }
            // every row is a different sample: the generator uses its noise
            let per_row = x.len() / spec.batch;
            let rows: Vec<&[f32]> = x.data().chunks(per_row).collect();
            for (i, a) in rows.iter().enumerate() {
                for b in &rows[i + 1..] {
                    assert_ne!(a, b, "{} case {}: two equal samples", model.name, case.name);
                }
            }
            if let Some(prev) = &previous {
                assert_ne!(
                    prev,
                    &x.data()[..per_row],
                    "different seeds, same first sample"
                );
            }
            previous = Some(x.data()[..per_row].to_vec());
            // and its condition: another condition changes every sample
            if !matches!(case.condition, Condition::None) {
                let y = tract.run(&other_condition(&case, classes)).unwrap();
                for (a, b) in x.data().chunks(per_row).zip(y.data().chunks(per_row)) {
                    assert_ne!(a, b, "{} case {}: condition ignored", model.name, case.name);
                }
            }
        }
    }
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &std::path::Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn regenerating_golden_files_is_deterministic_and_reproduces_the_shipped_ones() {
    for model in shipped_models() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = common::copy_model(&model.dir, &tmp.path().join(&model.name));
        std::fs::remove_dir_all(dir.join("golden")).unwrap();
        let copy = ModelDir::load(&dir).unwrap();
        let mut written = Vec::new();
        for _ in 0..2 {
            let reference = engines::reference(&copy).unwrap();
            write_golden(&copy, reference.as_ref()).unwrap();
            written.push(files(&copy.golden_dir()));
        }
        assert!(
            written[0] == written[1],
            "{}: two regenerations differ",
            model.name
        );
        let shipped = files(&model.golden_dir());
        assert_eq!(
            written[0].keys().collect::<Vec<_>>(),
            shipped.keys().collect::<Vec<_>>(),
            "{}: regeneration writes other files than shipped",
            model.name
        );
        // Inputs and the manifest are exact; outputs may move within the tolerance
        // between machines (SIMD paths), so x.npy is compared as numbers.
        for (path, bytes) in &written[0] {
            if path.ends_with(MANIFEST) {
                // the same but for the command, which names the (temporary) folder
                let parse = |b: &[u8]| {
                    let mut m: Manifest = toml::from_str(std::str::from_utf8(b).unwrap()).unwrap();
                    m.command.clear();
                    m
                };
                assert_eq!(parse(bytes), parse(&shipped[path]), "{}", model.name);
            } else if path.ends_with("x.npy")
                || path.ends_with(egm_output_file(WeightFormat::F32))
                || path.ends_with(egm_output_file(WeightFormat::W8A32))
            {
                let a = npy::from_bytes::<f32>(bytes).unwrap();
                let b = npy::from_bytes::<f32>(&shipped[path]).unwrap();
                let d = max_abs_diff(&a, &b).unwrap();
                assert!(
                    d <= F32_TOLERANCE,
                    "{} {}: {d:e}",
                    model.name,
                    path.display()
                );
            } else {
                assert!(
                    bytes == &shipped[path],
                    "{}: regenerated {} differs from the shipped one; run `{}`",
                    model.name,
                    path.display(),
                    model.regen_command()
                );
            }
        }
    }
}

#[test]
fn every_model_has_its_device_models_compiled() {
    // A model folder ships its compiled `.egm` files: without them the device runtime's
    // engines cannot run, which is a failure (with the command that makes them).
    for model in shipped_models() {
        for format in FORMATS {
            if let Err(e) = EgmEngine::load(&model, format) {
                panic!("{}: {e}", model.name);
            }
        }
    }
}

#[test]
fn device_runtime_outputs_match_their_golden_files() {
    // egm-w8a8 is integer-only: it must reproduce its golden outputs bit for bit on every
    // machine. egm-f32 and egm-w8a32 are float: held to the float tolerance.
    for model in shipped_models() {
        let manifest = read_manifest(&model).unwrap_or_else(|e| panic!("{e}"));
        let regen = model.regen_command();
        for format in FORMATS {
            let engine =
                EgmEngine::load(&model, format).unwrap_or_else(|e| panic!("{}: {e}", model.name));
            let entry = manifest
                .egm
                .iter()
                .find(|e| e.format == format.name())
                .unwrap_or_else(|| {
                    panic!(
                        "{}: the golden files hold no outputs of {}; run `{regen}`",
                        model.name,
                        file_name(format)
                    )
                });
            assert_eq!(
                entry.sha256,
                sha256_hex(engine.bytes()),
                "{}: the golden outputs of {} were written for another compile of it; \
                 run `{regen}`",
                model.name,
                file_name(format)
            );
            let mut worst = 0.0f32;
            for spec in case_specs(&model.info) {
                let case = spec.inputs(&model.info);
                let x = engine.run(&case).unwrap();
                let path = model
                    .golden_dir()
                    .join(&case.name)
                    .join(egm_output_file(format));
                let golden = read_npy::<f32>(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}; run `{regen}`", model.name));
                let diff = max_abs_diff(&x, &golden).unwrap();
                worst = worst.max(diff);
                if format == WeightFormat::W8A8 {
                    let bits = |a: &edgegan_tests::array::Array<f32>| {
                        a.data().iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    };
                    assert!(
                        bits(&x) == bits(&golden),
                        "{} case {}: egm-w8a8 is not bit-identical to {} (max |diff| {diff:e})",
                        model.name,
                        case.name,
                        path.display()
                    );
                } else {
                    assert!(
                        diff <= F32_TOLERANCE,
                        "{} case {}: {} differs from {} by {diff:e}",
                        model.name,
                        case.name,
                        format.name(),
                        path.display()
                    );
                }
            }
            println!(
                "{}: egm-{} vs its golden outputs: max |difference| {worst:e}{}",
                model.name,
                format.name(),
                if format == WeightFormat::W8A8 {
                    " (bit for bit)"
                } else {
                    ""
                }
            );
        }
    }
}

#[test]
fn parallel_sampler_rows_equal_one_samplers_bit_for_bit() {
    // `ParallelSampler` splits a batch into one run of rows per worker, each with its own
    // arena (or `BatchSampler`, `sample_rows`): every row must be what a single sampler
    // makes, for every format and condition, however the rows fall (7 rows over 1-4
    // workers: runs of 7, 4+3, 3+3+1, 2+2+2+1).
    use edgegan_runtime::{DeviceModel, Noise, ParallelSampler, Sampler};
    use edgegan_tests::engines::egm::row_condition;
    for model in shipped_models() {
        let spec = case_specs(&model.info)
            .into_iter()
            .find(|s| s.batch == 7)
            .unwrap_or_else(|| panic!("{}: no batch-7 case", model.name));
        let case = spec.inputs(&model.info);
        let noise_dim = model.info.noise_dim;
        for format in FORMATS {
            let engine =
                EgmEngine::load(&model, format).unwrap_or_else(|e| panic!("{}: {e}", model.name));
            let dm = DeviceModel::from_bytes(engine.bytes()).unwrap();
            let (n, per_mask) = (dm.output_len(), dm.condition().mask_len());
            let mut arena = vec![0u8; dm.arena_bytes() + 3];
            let mut one = Sampler::new(&dm, &mut arena).unwrap();
            let mut want = vec![0.0f32; 7 * n];
            for (i, out) in want.chunks_exact_mut(n).enumerate() {
                let z = &case.z.data()[i * noise_dim..(i + 1) * noise_dim];
                one.sample_with_noise(z, row_condition(&case.condition, i, per_mask), out)
                    .unwrap();
            }
            let seeds: Vec<u64> = (40..47).collect();
            let condition = row_condition(&case.condition, 0, per_mask);
            let mut want_seeds = vec![0.0f32; 7 * n];
            one.sample_seeds(&seeds, condition, &mut want_seeds)
                .unwrap();
            for workers in 1..=4 {
                let mut par = ParallelSampler::new(&dm, workers);
                assert_eq!(par.workers(), workers);
                let mut got = vec![f32::NAN; 7 * n];
                par.for_each_row(&mut got, n, |i, s, out| {
                    let z = &case.z.data()[i * noise_dim..(i + 1) * noise_dim];
                    s.sample_with_noise(z, row_condition(&case.condition, i, per_mask), out)
                })
                .unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert!(
                    bits(&got) == bits(&want),
                    "{} {}: {workers} workers",
                    model.name,
                    format.name()
                );
                let mut got = vec![f32::NAN; 7 * n];
                par.sample_seeds(&seeds, condition, &mut got).unwrap();
                assert!(
                    bits(&got) == bits(&want_seeds),
                    "{} {}: sample_seeds, {workers} workers",
                    model.name,
                    format.name()
                );
                // one sub-batch per worker through a `BatchSampler` each: the same rows
                let mut got = vec![f32::NAN; 7 * n];
                let cond = |i: usize| row_condition(&case.condition, i, per_mask);
                par.sample_rows(7, Noise::Given(case.z.data()), &cond, &mut got)
                    .unwrap();
                assert!(
                    bits(&got) == bits(&want),
                    "{} {}: sample_rows, {workers} workers",
                    model.name,
                    format.name()
                );
                // too small an output is an error, not a partial batch
                let mut short = vec![0.0f32; 7 * n - 1];
                assert!(matches!(
                    par.sample_seeds(&seeds, condition, &mut short),
                    Err(edgegan_runtime::Error::OutputTooSmall { .. })
                ));
            }
        }
    }
}

/// The corpus's cases: the stored inputs (with ONNX Runtime's stored output), and for
/// models without masks seeded inputs at batch 1 and 64 (or the batch the graph fixes;
/// labels cycling over the classes) that only the live engines run.
fn corpus_cases(model: &ForeignModel) -> Vec<CaseInputs> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut cases = vec![model.case.clone()];
    let classes = match model.kind {
        edgegan_runtime::ConditionKind::Label { classes } => Some(i64::from(classes)),
        edgegan_runtime::ConditionKind::Mask { .. } => return cases,
        edgegan_runtime::ConditionKind::None => None,
    };
    // the stored z's shape past the batch: [Z], or [Z, 1, 1] (PyTorch's DCGAN tutorial)
    let tail = model.case.z.shape()[1..].to_vec();
    let noise_dim: usize = tail.iter().product();
    // a graph with a fixed batch takes only that one
    let batches = match model.fixed_batch {
        Some(b) => vec![(1u64, b)],
        None => vec![(1u64, 1usize), (2, 64)],
    };
    for (seed, batch) in batches {
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let z: Vec<f32> = (0..batch * noise_dim)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let condition = match classes {
            Some(k) => Condition::Label(
                edgegan_tests::array::Array::new(
                    vec![batch],
                    (0..batch as i64).map(|i| i % k).collect(),
                )
                .unwrap(),
            ),
            None => Condition::None,
        };
        cases.push(CaseInputs {
            name: format!("{}/b{batch:03}-s{seed}", model.name),
            z: edgegan_tests::array::Array::new([vec![batch], tail.clone()].concat(), z).unwrap(),
            condition,
        });
    }
    cases
}

/// Every corpus model (`tests/corpus/*` but `bad/`, and the shipped foreign models
/// `models/foreign/*`, listed at run time, so models added to either are included without
/// a code change) through tract, ONNX Runtime (live
/// and its stored output) and the device runtime's f32, w8a32 and w8a8 models compiled
/// with the roles inferred, every pair held to the shipped models' tolerance table (f32
/// engines within 1e-5 of each other, w8a32/w8a8 against egm-f32 within their max and
/// mean bounds). Burn has no checkpoint of these models and burn-import is generated
/// from `models/` only: those two engines do not run here.
#[test]
fn every_engine_agrees_on_every_corpus_model() {
    let mut dirs = Vec::new();
    for root in [corpus_root(), foreign_models_root()] {
        let found = corpus_models(&root).unwrap_or_else(|e| panic!("{e}"));
        assert!(!found.is_empty(), "no model under {}", root.display());
        dirs.extend(found);
    }
    let tolerances = default_tolerances();
    let means = mean_tolerances();
    let mut failures = Vec::new();
    for dir in dirs {
        let model = std::sync::Arc::new(ForeignModel::load(&dir).unwrap_or_else(|e| panic!("{e}")));
        let engines = model
            .engines()
            .unwrap_or_else(|e| panic!("{}: {e}", model.name));
        let names: Vec<&str> = engines.iter().map(|e| e.name()).collect();
        assert_eq!(
            names,
            ["golden", "tract", "ort", "egm-f32", "egm-w8a32", "egm-w8a8"],
            "{}",
            model.name
        );
        let mut compared = 0;
        let mut worst: BTreeMap<String, f32> = BTreeMap::new();
        for case in corpus_cases(&model) {
            let stored_case = case == model.case;
            let outputs: Vec<(&str, _)> = engines
                .iter()
                .filter(|e| stored_case || e.name() != "golden")
                .map(|e| {
                    let out = e
                        .run(&case)
                        .unwrap_or_else(|err| panic!("{} {}: {err}", model.name, case.name));
                    (e.name(), out)
                })
                .collect();
            for (i, (a, x)) in outputs.iter().enumerate() {
                for (b, y) in &outputs[i + 1..] {
                    let key = pair_key(a, b);
                    let Some(&tol) = tolerances.get(&key) else {
                        continue;
                    };
                    compared += 1;
                    let diff = max_abs_diff(x, y)
                        .unwrap_or_else(|e| panic!("{} {key} {}: {e}", model.name, case.name));
                    let mean = mean_abs_diff(x, y).unwrap();
                    if diff > tol {
                        failures.push(format!("{} {key}: {diff:e} > {tol:e}", case.name));
                    }
                    if let Some(&m) = means.get(&key)
                        && mean > m
                    {
                        failures.push(format!("{} {key}: mean {mean:e} > {m:e}", case.name));
                    }
                    let w = worst.entry(key).or_insert(0.0);
                    *w = w.max(diff);
                }
            }
        }
        // golden~tract, golden~ort, ort~tract, and egm-f32 against each, plus the two
        // quantised pairs: 8 pairs on the stored case at least
        assert!(compared >= 8, "{}: only {compared} comparisons", model.name);
        // the f32 device model against ONNX Runtime's stored output, within F32_TOLERANCE
        // (1e-5 max abs), was compared on this model (the criterion, by name)
        let f32_vs_ort = pair_key("golden", "egm-f32");
        assert_eq!(
            tolerances.get(&f32_vs_ort),
            Some(&F32_TOLERANCE),
            "{f32_vs_ort}"
        );
        assert!(
            worst.contains_key(&f32_vs_ort),
            "{}: {f32_vs_ort} not compared",
            model.name
        );
        println!("{}: {worst:?}", model.name);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

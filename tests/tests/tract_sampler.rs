//! The compiler crate's `TractSampler` (for std edge boxes): the ONNX generator
//! through tract with a plan built once, sampled with the runtime's own noise. It must
//! give the samples of the device runtime's f32 model for the same seed, the suite's tract
//! outputs for the same inputs, and its heap allocations per sample are counted here.

mod common;

use edgegan_compiler::{TractError, TractSampler};
use edgegan_runtime::{Condition as RtCondition, DeviceModel, Error, Sampler};
use edgegan_tests::alloc::{Counting, allocations};
use edgegan_tests::case::{CaseInputs, case_specs};
use edgegan_tests::engine::{Engine, F32_TOLERANCE};
use edgegan_tests::engines::egm::{EgmEngine, WeightFormat, row_condition};
use edgegan_tests::engines::tract::TractEngine;

use common::{ring8, shipped_models};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Row `i` of a case's condition, as the runtime takes it.
fn row(case: &CaseInputs, i: usize, per_mask: usize) -> RtCondition<'_> {
    row_condition(&case.condition, i, per_mask)
}

/// The largest batch-64 case of `model` (64 conditions to sample with).
fn big_case(model: &edgegan_tests::model::ModelDir) -> CaseInputs {
    let spec = *case_specs(&model.info)
        .iter()
        .rfind(|s| s.batch == 64)
        .unwrap();
    spec.inputs(&model.info)
}

#[test]
fn tract_sampler_gives_the_device_runtime_samples_for_the_same_seed() {
    for model in shipped_models() {
        let mut tract = TractSampler::from_onnx_path(model.onnx_path()).unwrap();
        let egm = EgmEngine::load(&model, WeightFormat::F32).unwrap();
        let device = DeviceModel::from_bytes(egm.bytes()).unwrap();
        assert_eq!(tract.noise_dim(), device.noise_dim());
        assert_eq!(tract.condition(), device.condition());
        assert_eq!(tract.output_len(), device.output_len());
        let mut arena = vec![0u8; device.arena_bytes()];
        let mut sampler = Sampler::new(&device, &mut arena).unwrap();
        let case = big_case(&model);
        let per_mask = device.condition().mask_len();
        let n = device.output_len();
        let (mut a, mut b) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut worst = 0.0f32;
        for i in 0..16 {
            let seed = 1000 + i as u64;
            tract.sample(seed, row(&case, i, per_mask), &mut a).unwrap();
            sampler
                .sample(seed, row(&case, i, per_mask), &mut b)
                .unwrap();
            let d = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            worst = worst.max(d);
        }
        println!(
            "{}: TractSampler vs egm-f32, same seeds: max |difference| {worst:e}",
            model.name
        );
        assert!(worst <= F32_TOLERANCE, "{}: {worst:e}", model.name);
    }
}

#[test]
fn tract_sampler_with_given_noise_matches_the_suite_tract_engine() {
    for model in shipped_models() {
        let mut sampler = TractSampler::from_onnx_path(model.onnx_path()).unwrap();
        let engine = TractEngine::load(&model.onnx_path()).unwrap();
        let per_mask = sampler.condition().mask_len();
        let n = sampler.output_len();
        for spec in case_specs(&model.info) {
            let case = spec.inputs(&model.info);
            let want = engine.run(&case).unwrap();
            let mut got = vec![0.0f32; case.batch() * n];
            for (i, (z, out)) in case
                .z
                .data()
                .chunks_exact(sampler.noise_dim())
                .zip(got.chunks_exact_mut(n))
                .enumerate()
            {
                sampler
                    .sample_with_noise(z, row(&case, i, per_mask), out)
                    .unwrap();
            }
            let d = got
                .iter()
                .zip(want.data())
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(d <= F32_TOLERANCE, "{} {}: {d:e}", model.name, case.name);
        }
    }
}

/// Heap allocations per sample of the tract path, measured (tract is not allocation-free:
/// its state allocates per run). Asserted constant from sample to sample (the plan, the
/// state and the input tensors are reused: nothing grows with the number of samples) and
/// below this bound, so a regression that rebuilds the plan or the inputs shows.
const MAX_TRACT_ALLOCATIONS_PER_SAMPLE: usize = 100;

#[test]
fn tract_sampler_allocations_per_sample_are_counted_and_constant() {
    for model in shipped_models() {
        let mut sampler = TractSampler::from_onnx_path(model.onnx_path()).unwrap();
        let case = big_case(&model);
        let per_mask = sampler.condition().mask_len();
        let mut out = vec![0.0f32; sampler.output_len()];
        for i in 0..4 {
            sampler
                .sample(i as u64, row(&case, i, per_mask), &mut out)
                .unwrap();
        }
        let mut per_sample = Vec::new();
        for i in 0..64 {
            let before = allocations();
            sampler
                .sample(i as u64, row(&case, i, per_mask), &mut out)
                .unwrap();
            per_sample.push(allocations() - before);
        }
        println!(
            "{}: TractSampler heap allocations per sample: {} (min {}, max {})",
            model.name,
            per_sample[0],
            per_sample.iter().min().unwrap(),
            per_sample.iter().max().unwrap()
        );
        assert!(
            per_sample.iter().all(|&a| a == per_sample[0]),
            "{}: allocations vary: {per_sample:?}",
            model.name
        );
        assert!(
            per_sample[0] <= MAX_TRACT_ALLOCATIONS_PER_SAMPLE,
            "{}: {} allocations per sample",
            model.name,
            per_sample[0]
        );
    }
}

#[test]
fn tract_sampler_reports_bad_inputs_and_files() {
    let model = ring8();
    let mut sampler = TractSampler::from_onnx_path(model.onnx_path()).unwrap();
    let mut out = vec![0.0f32; sampler.output_len()];
    let classes = match sampler.condition() {
        edgegan_runtime::ConditionKind::Label { classes } => classes,
        other => panic!("ring8 is label-conditioned, got {other}"),
    };
    assert!(matches!(
        sampler.sample(0, RtCondition::Label(classes), &mut out),
        Err(TractError::Input(Error::LabelOutOfRange { .. }))
    ));
    assert!(matches!(
        sampler.sample(0, RtCondition::None, &mut out),
        Err(TractError::Input(Error::WrongCondition { .. }))
    ));
    assert!(matches!(
        sampler.sample(0, RtCondition::Label(0), &mut out[..1]),
        Err(TractError::Input(Error::OutputTooSmall { .. }))
    ));
    assert!(matches!(
        sampler.sample_with_noise(&[0.0; 3], RtCondition::Label(0), &mut out),
        Err(TractError::Input(Error::ShapeMismatch { .. }))
    ));
    // after the errors it still samples, deterministically
    let mut again = out.clone();
    sampler.sample(5, RtCondition::Label(1), &mut out).unwrap();
    sampler
        .sample(5, RtCondition::Label(1), &mut again)
        .unwrap();
    assert_eq!(out, again);

    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("none.onnx");
    assert!(matches!(
        TractSampler::from_onnx_path(&missing),
        Err(TractError::Load { .. })
    ));
    let broken = tmp.path().join("broken.onnx");
    let bytes = std::fs::read(model.onnx_path()).unwrap();
    std::fs::write(&broken, &bytes[..bytes.len() / 3]).unwrap();
    let err = TractSampler::from_onnx_path(&broken).unwrap_err();
    assert!(err.to_string().contains("broken.onnx"), "{err}");
}

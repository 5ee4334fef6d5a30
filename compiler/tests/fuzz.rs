//! Fuzz-style robustness: corrupted models give an error or a valid model, never a panic,
//! and a model that loads always samples without error.

mod common;

use common::*;
use edgegan_compiler::builder::{AlignedBytes, seal};
use edgegan_runtime::noise::Pcg32;
use edgegan_runtime::{Condition, ConditionKind, DeviceModel, Error, WeightFormat};

/// Loads `bytes`; if that succeeds, samples twice and requires success: validation must
/// leave nothing for sampling to trip on.
fn load_and_sample(bytes: &[u8]) -> Result<(), Error> {
    let aligned = AlignedBytes::new(bytes);
    let model = DeviceModel::from_bytes(aligned.as_slice())?;
    let mut arena = vec![0u8; model.arena_bytes()];
    let mut out = vec![0.0f32; model.output_len()];
    let mask = vec![0.5f32; model.condition().mask_len()];
    let condition = match model.condition() {
        ConditionKind::None => Condition::None,
        ConditionKind::Label { classes } => Condition::Label(classes - 1),
        ConditionKind::Mask { .. } => Condition::Mask {
            mask: &mask,
            masked: &mask,
        },
    };
    for seed in [0, u64::MAX] {
        let r = model.sample(seed, condition, &mut arena, &mut out);
        assert_eq!(r, Ok(()), "a model that validated failed to sample");
    }
    Ok(())
}

fn models() -> Vec<(String, Vec<u8>)> {
    let mut v = vec![];
    for (name, g) in [
        ("mlp", mlp()),
        ("conv", conv()),
        ("label", label_mlp()),
        ("mask", mask_gen()),
    ] {
        for f in FORMATS {
            v.push((
                format!("{name}.{}", f.name()),
                write(&g, f).as_slice().to_vec(),
            ));
        }
    }
    v
}

#[test]
fn valid_models_load_and_sample() {
    for (name, bytes) in models() {
        assert_eq!(load_and_sample(&bytes), Ok(()), "{name}");
    }
}

#[test]
fn every_truncation_is_an_error() {
    for (name, bytes) in models() {
        for len in 0..bytes.len() {
            let r = load_and_sample(&bytes[..len]);
            assert!(r.is_err(), "{name} truncated to {len} bytes loaded");
        }
    }
}

/// Applies 1 to 4 random byte changes.
fn flip(bytes: &mut [u8], rng: &mut Pcg32, from: usize) {
    let n = 1 + rng.next_u32() as usize % 4;
    for _ in 0..n {
        let i = from + rng.next_u32() as usize % (bytes.len() - from);
        bytes[i] = match rng.next_u32() % 3 {
            0 => bytes[i] ^ (1 << (rng.next_u32() % 8)),
            1 => rng.next_u32() as u8,
            _ => [0x00, 0xFF, 0x7F, 0x80][rng.next_u32() as usize % 4],
        };
    }
}

#[test]
fn random_byte_flips_never_panic_and_fail_the_checksum() {
    let mut rng = Pcg32::new(1, 2);
    for (name, bytes) in models() {
        for _ in 0..10_000 / 12 + 1 {
            let mut b = bytes.clone();
            flip(&mut b, &mut rng, 0);
            if b == bytes {
                continue;
            }
            // Any change after the preamble must be caught by the CRC (or an earlier check).
            assert!(
                load_and_sample(&b).is_err(),
                "{name}: corrupted model loaded"
            );
        }
    }
}

#[test]
fn flips_with_a_resealed_checksum_reach_deep_validation_without_panics() {
    // With the CRC recomputed, flips land in the header, the tables and the weights: each
    // model must be rejected with a typed error or load and then sample without error.
    let mut rng = Pcg32::new(3, 4);
    let (mut ok, mut err) = (0, 0);
    let mut kinds = std::collections::BTreeMap::new();
    for (_, bytes) in models() {
        for _ in 0..1_000 {
            let mut b = bytes.clone();
            flip(&mut b, &mut rng, 16);
            seal(&mut b);
            match load_and_sample(&b) {
                Ok(()) => ok += 1,
                Err(e) => {
                    err += 1;
                    *kinds
                        .entry(format!("{:?}", std::mem::discriminant(&e)))
                        .or_insert(0) += 1;
                    assert_ne!(
                        e,
                        Error::Internal,
                        "validation let through a model sampling could not run"
                    );
                }
            }
        }
    }
    println!(
        "resealed flips: {ok} loaded, {err} rejected ({} error kinds)",
        kinds.len()
    );
    assert!(
        err > 1000 && ok > 100,
        "flips should reach both outcomes: ok {ok}, err {err}"
    );
}

#[test]
fn resealed_flips_in_the_tables_only() {
    // Aim at the header and the tensor and op tables, where validation does the most work.
    let mut rng = Pcg32::new(5, 6);
    for (_, bytes) in models() {
        let aligned = AlignedBytes::new(&bytes);
        let model = DeviceModel::from_bytes(aligned.as_slice()).unwrap();
        let tables_end = bytes.len() - model.weight_bytes();
        for _ in 0..1_000 {
            let mut b = bytes.clone();
            let mut head = b[..tables_end].to_vec();
            flip(&mut head, &mut rng, 16);
            b[..tables_end].copy_from_slice(&head);
            seal(&mut b);
            let _ = load_and_sample(&b);
        }
    }
}

#[test]
fn header_errors_are_specific() {
    let bytes = write(&mlp(), WeightFormat::F32).as_slice().to_vec();
    let mut b = bytes.clone();
    b[0] = b'X';
    assert_eq!(load_and_sample(&b), Err(Error::BadMagic));
    let mut b = bytes.clone();
    b[4] = 2;
    assert_eq!(
        load_and_sample(&b),
        Err(Error::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    let mut b = bytes.clone();
    b[100] ^= 1;
    assert!(matches!(
        load_and_sample(&b),
        Err(Error::ChecksumMismatch { .. })
    ));
    seal(&mut b);
    assert!(load_and_sample(&b).is_err());
    assert_eq!(
        load_and_sample(&bytes[..10]),
        Err(Error::Truncated {
            needed: 16,
            available: 10
        })
    );
    assert_eq!(
        load_and_sample(&bytes[..bytes.len() - 1]),
        Err(Error::Truncated {
            needed: bytes.len(),
            available: bytes.len() - 1
        })
    );
    // Trailing bytes (flash padding) are ignored.
    let mut padded = bytes.clone();
    padded.extend_from_slice(&[0xFF; 13]);
    assert_eq!(load_and_sample(&padded), Ok(()));
    // Misaligned start.
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(&bytes);
    let aligned = AlignedBytes::new(&shifted);
    assert_eq!(
        DeviceModel::from_bytes(&aligned.as_slice()[1..]).unwrap_err(),
        Error::Misaligned { required: 4 }
    );
}

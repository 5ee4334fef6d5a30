#!/usr/bin/env bash
# The test command: set up the machine (idempotent), then check formatting and lints (the
# workspace and the firmware crates outside it) and run every test in the workspace.
# Release mode: the trainer's tests train real (small) GANs, and the release build is
# shared with the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
# the device crates outside the workspace (firmware, its board crate, the peer), each
# for its own target
cargo run --release -p firmware-sim -- lint
cargo test --release --workspace
# kill -9 at random moments, resume, compare with the uninterrupted run (50 kills: run the
# script by hand)
EDGEGAN_TRAIN="${CARGO_TARGET_DIR:-$PWD/target}/release/edgegan-train" scripts/reliability.sh 3

#!/usr/bin/env bash
# The test command: set up the machine (idempotent), then check formatting, lints and
# run every test in the workspace. Release mode: the trainer's tests train real
# (small) GANs, and the release build is shared with the main job.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --release --workspace --all-targets -- -D warnings
cargo test --release --workspace

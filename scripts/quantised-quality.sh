#!/usr/bin/env bash
# Quality of the quantised fashion-cgan device models: 10,000 samples per format (f32,
# w8a32, w8a8) from the device runtime, same seeds (42 + i) and classes (i mod 10), scored
# with the evaluation classifier (label accuracy, FD, precision/recall vs held-out images).
#   scripts/quantised-quality.sh [MODEL_DIR]     default models/fashion-cgan
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-models/fashion-cgan}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
cargo build --release -p firmware-sim -p edgegan-train
bin="${CARGO_TARGET_DIR:-target}/release"
for fmt in f32 w8a32 w8a8; do
    start=$SECONDS
    "$bin/firmware-sim" sample --model "$model/model.$fmt.egm" --n 10000 --format csv --out "$out/q-$fmt.csv"
    echo "== $fmt (sampled in $((SECONDS - start)) s)"
    "$bin/edgegan-train" score --samples "$out/q-$fmt.csv"
done

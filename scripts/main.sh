#!/usr/bin/env bash
# The main job on the built-in default, end to end: set up the machine (idempotent),
# build, train the seed's conditional GAN on the ring of 8 Gaussians (evaluation and plots
# included), export the generator to ONNX (checked against Burn with tract), compile it to
# device models (f32, w8a32, w8a8), sample the w8a8 model on the host with the device
# runtime, and run the real firmware on an emulated Cortex-M4 (QEMU), checked bit for bit
# against the host. Everything lands in a fresh folder under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p edgegan-train -p firmware-sim
bin="${CARGO_TARGET_DIR:-target}/release"
out="runs/ring8-cgan-$(date +%Y%m%d-%H%M%S)"
"$bin/edgegan-train" train --out "$out" "$@"
"$bin/edgegan-train" export --run "$out" --out "$out/generator.onnx" > "$out/export.json"
"$bin/firmware-sim" compile "$out/generator.onnx" --out-dir "$out/device"
"$bin/firmware-sim" sample --model "$out/device/model.w8a8.egm" --n 16 --out "$out/device/host-samples.csv"
"$bin/firmware-sim" run --model "$out/device/model.w8a8.egm" --profile m4-small --n 16
echo "main job done: $out"

#!/usr/bin/env bash
# The main job on the built-in default: set up the machine (idempotent), build, train
# the seed's conditional GAN on the ring of 8 Gaussians, evaluate it and draw the plots
# into a fresh run folder under runs/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out="runs/ring8-cgan-$(date +%Y%m%d-%H%M%S)"
cargo run --release -p edgegan-train -- train --out "$out" "$@"

#!/usr/bin/env bash
# The fashion-cgan training step of edgegan-train beside PyTorch's replica of the same model,
# one after the other on the same machine and threads (the figure issue #15 tracks):
#   1. cargo bench's train_speed -- fashion (60 timed steps after 10, with a phase profile)
#   2. ../shared/peers/fashion_cgan_torch.py on the CPU (200 timed steps after 20)
# PyTorch comes from Debian (python3-torch), installed here if missing; the replica lives
# beside the repository (../shared/peers, or PEERS=dir). THREADS (default 2) is given to
# both: RAYON_NUM_THREADS for Burn's flex backend, --threads for PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${THREADS:-2}"
peers="${PEERS:-../shared/peers}"
if [ ! -f "$peers/fashion_cgan_torch.py" ]; then
    echo "train-speed-vs-torch: the PyTorch replica $peers/fashion_cgan_torch.py is missing (set PEERS=dir)" >&2
    exit 2
fi
if ! /usr/bin/python3 -c 'import torch' >/dev/null 2>&1; then
    echo "train-speed-vs-torch: installing Debian package python3-torch" >&2
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-torch
fi
scripts/setup.sh
echo "== edgegan-train (Burn), $threads threads"
RAYON_NUM_THREADS="$threads" cargo bench --workspace --bench train_speed -- fashion
echo "== PyTorch replica, $threads threads"
/usr/bin/python3 "$peers/fashion_cgan_torch.py" --device cpu --threads "$threads" --steps 220 \
    --warmup 20 --per-class 0 --samples-out ''

#!/usr/bin/env bash
# Compiles every shipped generator into device models: for each models/*/generator.onnx
# (and models/foreign/*/generator.onnx, generators trained by other frameworks), writes
# model.f32.egm, model.w8a32.egm and model.w8a8.egm beside it with
# `firmware-sim compile` (tract parses and optimises, edgegan lowers, calibrates and
# quantises). Builds firmware-sim (release) first.
#
#   scripts/compile-models.sh                        every model folder
#   scripts/compile-models.sh models/ring8-cgan ...  only these folders
#
# Idempotent: compilation is deterministic, so a second run rewrites the same bytes. Each
# folder is compiled into a staging folder and its three files are moved into place only
# when all three were written, so a failed compile leaves the previous files untouched.
# After a (re)compile whose files changed, regenerate the golden outputs of the device
# runtime: cargo run --release -p edgegan-tests --bin regen-golden -- models/NAME
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -p firmware-sim
bin="${CARGO_TARGET_DIR:-target}/release/firmware-sim"

if [ "$#" -gt 0 ]; then
    dirs=("$@")
else
    dirs=()
    for onnx in models/*/generator.onnx models/foreign/*/generator.onnx; do
        [ -e "$onnx" ] && dirs+=("$(dirname "$onnx")")
    done
fi
if [ "${#dirs[@]}" -eq 0 ]; then
    echo "compile-models: no models/*/generator.onnx found" >&2
    exit 2
fi

for dir in "${dirs[@]}"; do
    dir="${dir%/}"
    if [ ! -f "$dir/generator.onnx" ]; then
        echo "compile-models: $dir has no generator.onnx" >&2
        exit 2
    fi
    staging="$dir/.egm.tmp"
    rm -rf "$staging"
    echo "== $dir"
    "$bin" compile "$dir/generator.onnx" --out-dir "$staging"
    for format in f32 w8a32 w8a8; do
        if [ ! -s "$staging/model.$format.egm" ]; then
            echo "compile-models: $dir: firmware-sim wrote no model.$format.egm" >&2
            exit 1
        fi
    done
    changed=0
    for format in f32 w8a32 w8a8; do
        file="model.$format.egm"
        if ! cmp -s "$staging/$file" "$dir/$file"; then
            changed=1
        fi
        mv -f "$staging/$file" "$dir/$file"
    done
    rmdir "$staging" 2>/dev/null || rm -rf "$staging"
    if [ "$changed" -eq 1 ] && [ "$(basename "$(dirname "$dir")")" = foreign ]; then
        echo "$dir: device models written (changed); its stored output.npy is its framework's"
    elif [ "$changed" -eq 1 ]; then
        echo "$dir: device models written (changed): regenerate its golden outputs with"
        echo "  cargo run --release -p edgegan-tests --bin regen-golden -- $dir"
    else
        echo "$dir: device models unchanged"
    fi
    ls -l "$dir"/model.*.egm
done

#!/usr/bin/env bash
# Installs everything edgegan needs on a fresh Debian machine. Idempotent: each step
# checks first and does nothing when it is already in place.
#   - Debian packages: pkg-config + fontconfig/freetype headers and a font (plots),
#     qemu-system-arm + qemu-system-misc (firmware emulation: Arm, RISC-V),
#     dataset-fashion-mnist (image datasets), python3-onnx (the export test's onnx.checker),
#     gcc + libc6-dev (the C API test), gcc-arm-none-eabi + libnewlib-arm-none-eabi +
#     make (the C example firmware), libvulkan1 + mesa-vulkan-drivers (the Vulkan loader and
#     Mesa's software Vulkan, lavapipe, that the trainer's GPU tests run on)
#   - Rust: the stable toolchain's rustfmt/clippy and the thumbv7em-none-eabihf,
#     thumbv8m.main-none-eabihf, thumbv6m-none-eabi and riscv32imac-unknown-none-elf targets
#   - ONNX Runtime 1.32.0's shared library (PyPI wheel) under .deps/ for the tests
set -euo pipefail

say() { printf 'setup: %s\n' "$*" >&2; }

sudo_if_needed() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_packages=(pkg-config libfontconfig1-dev libfreetype-dev fonts-dejavu-core qemu-system-arm dataset-fashion-mnist python3-onnx
    qemu-system-misc gcc libc6-dev make gcc-arm-none-eabi libnewlib-arm-none-eabi
    libvulkan1 mesa-vulkan-drivers)
missing=()
for pkg in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing Debian packages: ${missing[*]}"
    sudo_if_needed apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    say "Debian packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
    say "cargo not found: install Rust with rustup (https://rustup.rs) first"
    exit 1
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        say "adding rustup component $component"
        rustup component add "$component"
    fi
done
# firmware-sim builds the device firmware for the Cortex-M4F, the Cortex-M33 and the
# Cortex-M0 (run in qemu-system-arm) and for RISC-V rv32imac (qemu-system-riscv32)
for target in thumbv7em-none-eabihf thumbv8m.main-none-eabihf thumbv6m-none-eabi \
    riscv32imac-unknown-none-elf; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        say "adding rustup target $target"
        rustup target add "$target"
    fi
done
# Fetch every crate now (workspace and the out-of-workspace firmware), so builds and tests
# need no network later.
repo="$(cd "$(dirname "$0")/.." && pwd)"
cargo fetch --quiet --manifest-path "$repo/Cargo.toml"
# every target the firmware is built for (Arm and RISC-V start-up crates)
cargo fetch --quiet --manifest-path "$repo/firmware-sim/firmware/Cargo.toml"
cargo fetch --quiet --manifest-path "$repo/firmware-sim/peer/Cargo.toml" --target thumbv7em-none-eabihf
# ONNX Runtime for the cross-engine tests (tests/): the shared library that the PyPI wheel
# onnxruntime==1.32.0 ships, unpacked into the project (.deps/, git-ignored); the tests
# load it from there by themselves (ORT_DYLIB_PATH overrides).
ort_version=1.32.0
ort_dir="$repo/.deps/onnxruntime"
ort_lib="$ort_dir/onnxruntime/capi/libonnxruntime.so.$ort_version"
if [ -f "$ort_lib" ]; then
    say "ONNX Runtime $ort_version present"
else
    if ! python3 -m pip --version >/dev/null 2>&1; then
        say "installing Debian package python3-pip (to fetch the onnxruntime wheel)"
        sudo_if_needed apt-get update -qq
        sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pip
    fi
    say "installing ONNX Runtime $ort_version (PyPI wheel) into .deps/onnxruntime"
    rm -rf "$ort_dir"
    # --target writes a plain folder: no virtualenv, nothing in the system's site-packages
    # (so Debian's externally-managed-environment guard does not apply); --no-deps because
    # only the shared library is used, not the Python package
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        --no-deps --only-binary=:all: --target "$ort_dir" "onnxruntime==$ort_version"
    if [ ! -f "$ort_lib" ]; then
        say "the onnxruntime wheel did not provide $ort_lib"
        exit 1
    fi
fi
say "ready"

#!/usr/bin/env bash
# kill -9 suite (issue #12): trains a small GAN once without interruption, then KILLS times
# starts the same training, kills it with SIGKILL at a random moment (checkpoints every 2
# steps and a metrics line every step, so kills land inside those writes too), resumes it
# (killing the resume too, half of the time), and requires the final checkpoint to be the
# uninterrupted run's: the same step and RNG state, bit-identical generator samples, and
# bit-identical samples after 4 more steps (so D and both Adam states are the same too).
#
#   scripts/reliability.sh        # 50 kills (the closing figure)
#   scripts/reliability.sh 3      # the short version scripts/test.sh runs
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-50}
seed=${RELIABILITY_SEED:-$$}
RANDOM=$seed
# EDGEGAN_TRAIN names a binary already built (scripts/test.sh passes the one
# `cargo test --workspace` built, so that a `-p edgegan-train` build with other features
# does not rebuild Burn and tract); otherwise build it here
if [[ -n "${EDGEGAN_TRAIN:-}" ]]; then
    bin=$EDGEGAN_TRAIN
    if [[ ! -x "$bin" ]]; then
        echo "reliability.sh: EDGEGAN_TRAIN=$bin is not an executable" >&2
        exit 2
    fi
else
    cargo build --release -q -p edgegan-train
    bin="${CARGO_TARGET_DIR:-$PWD/target}/release/edgegan-train"
fi
bin=$(realpath "$bin") # the runs below happen in a temporary folder
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
cat > cfg.toml <<'EOF'
steps = 60
batch_size = 16
log_every = 1
checkpoint_every = 2
keep_checkpoints = 2
[generator]
hidden = [8]
[discriminator]
hidden = [8]
EOF

# What a run's final checkpoint holds, in a form that is the same for the same training:
# the step and RNG state (state.json), 256 generator samples, and 256 samples after 4 more
# steps (which run D, both Adam states and the RNG). The checkpoint files' bytes are not
# comparable across processes: Burn gives every parameter a random id that the .bpk files
# store, and the optimizer records follow it.
fingerprint() {
    local run=$1 latest
    latest=$(cat "$run/checkpoints/latest")
    sha256sum < "$run/checkpoints/$latest/state.json"
    "$bin" sample --run "$run" -n 256 --seed 1
    rm -rf "$run.more"
    cp -r "$run" "$run.more"
    "$bin" train --resume "$run.more" --steps 64 -q > /dev/null
    "$bin" sample --run "$run.more" -n 256 --seed 1
    rm -rf "$run.more"
}

start_ns=$(date +%s%N)
"$bin" train --config cfg.toml --out ref -q
took_ms=$((($(date +%s%N) - start_ns) / 1000000))
want=$(fingerprint ref)
echo "reference run: ${took_ms} ms; seed $seed; $kills kills"

# Runs `$@` in the background and SIGKILLs it after a random 0..took_ms ms (if it is still
# running; `landed` counts the kills that found it running); returns 0 if it finished on
# its own with status 0.
landed=0
run_and_maybe_kill() {
    "$@" > out.log 2>&1 &
    local pid=$! delay status=0
    delay=$((RANDOM * 32768 + RANDOM))
    delay=$((delay % (took_ms + 1)))
    sleep "$(awk -v ms="$delay" 'BEGIN { printf "%.3f", ms / 1000 }')"
    kill -9 "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || status=$? # no "Killed" line per kill
    if ((status == 137)); then
        landed=$((landed + 1))
    fi
    return "$status"
}

resumes=0
identical=0
for ((i = 1; i <= kills; i++)); do
    rm -rf run
    run_and_maybe_kill "$bin" train --config cfg.toml --out run -q || true
    for ((try = 0; ; try++)); do
        if ((try > 20)); then
            echo "kill $i: not finished after 20 resumes" >&2
            exit 1
        fi
        if [[ ! -f run/config.toml ]]; then
            # killed before the run folder was made: start again (`train --out` takes a
            # folder that holds only this tool's own files)
            cmd=("$bin" train --config cfg.toml --out run -q)
        else
            cmd=("$bin" train --resume run -q)
        fi
        if ((RANDOM % 2 == 0)) && ((try < 3)); then
            run_and_maybe_kill "${cmd[@]}" || true
            continue
        fi
        resumes=$((resumes + 1))
        if "${cmd[@]}" > out.log 2>&1 || grep -q "is already at step 60 of 60" out.log; then
            break
        fi
        echo "kill $i: ${cmd[*]} failed:" >&2
        cat out.log >&2
        exit 1
    done
    got=$(fingerprint run)
    if [[ "$got" != "$want" ]]; then
        echo "kill $i: the resumed run differs from the uninterrupted one" >&2
        diff <(echo "$want") <(echo "$got") | head -5 >&2 || true
        exit 1
    fi
    identical=$((identical + 1))
done
wall=$((($(date +%s%N) - start_ns) / 1000000000))
echo "ok: $kills runs, $landed kill -9 that landed (on $kills trainings and their resumes), $resumes resumes; $identical of $kills runs ended bit-identical to the uninterrupted run (same step and RNG, same samples before and after 4 more steps); ${wall} s"

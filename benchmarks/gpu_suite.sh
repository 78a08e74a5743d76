#!/usr/bin/env bash
# The GPU measurements of issue #15 in one call of a device machine (docs/performance.md gives
# the exact call): step cost of darts, adarts, pc_darts and flat40 at the paper's search shape
# (C=16, 8 cells, batch 64) eager and from CUDA graphs, in fp32 and bf16, channels-last; the
# kernels per step; the GPU tests; the reference DARTS step; and one timed search epoch of
# adarts on CIFAR-10-sized fake data (a subset of it by default, extrapolated to the whole
# epoch). Writes gpu_suite.md and gpu_suite.json (and every stage's raw output and log) to
# $OUT. Sized for at most 8 minutes on one H200: every stage has its own time limit (and none
# starts after SUITE_BUDGET_S), the most wanted first; a stage that fails or runs out of time
# is reported as such without stopping the others.
#
# Usage: benchmarks/gpu_suite.sh [WHEEL_DIR [DARTS_CHECKOUT]]   (defaults: .whl .darts)
#   WHEEL_DIR holds the wheels the device image lacks, pydantic's and pytest's
#   (docs/performance.md: how to download them); DARTS_CHECKOUT a quark0/darts checkout (its cnn/ directory is enough).
# Environment: OUT (default ./gpu-suite-out), SUITE_BUDGET_S (default 470: the seconds after
#   which no stage starts), SEARCH_SUBSET (default 12800: training images of the timed epoch,
#   half of them searched on (100 steps) and half validated; 50000 is the paper's whole epoch,
#   which the report extrapolates to).
set -u
WHEELS=${1:-.whl}
DARTS=${2:-.darts}
OUT=${OUT:-$PWD/gpu-suite-out}
BUDGET=${SUITE_BUDGET_S:-470}
SUBSET=${SEARCH_SUBSET:-12800}
mkdir -p "$OUT"
LOG="$OUT/suite.log"
: >"$LOG"

say() { echo "[$(date -u +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - SECONDS)); }

# A stage: NAME LIMIT_S COMMAND...; its stdout to $OUT/NAME.out, its stderr to $OUT/NAME.log.
stage() {
    local name=$1 limit=$2
    shift 2
    local remaining
    remaining=$(left)
    if ((remaining < 20)); then
        say "skip $name: budget spent"
        echo "skipped: budget spent" >"$OUT/$name.log"
        return
    fi
    ((limit > remaining)) && limit=$remaining
    say "start $name (limit ${limit}s)"
    timeout --signal=KILL "$limit" "$@" >"$OUT/$name.out" 2>"$OUT/$name.log"
    say "end $name: exit $?"
}

# The wheels are for CPython 3.12, the device image's Python (docs/performance.md).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl 2>>"$LOG"
export PYTHONPATH=/tmp/site:$PWD
export PYTHONUNBUFFERED=1
if ! python3 - >"$OUT/environment.json" 2>>"$LOG" <<'EOF'
import json, platform, torch, pydantic
print(json.dumps({
    "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
    "pydantic": pydantic.VERSION,
    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
}))
EOF
then
    say "error: pydantic is not importable (wheels for another Python?): see $LOG"
    exit 3
fi
say "environment: $(cat "$OUT/environment.json")"

COST=(python3 -m factornas bench cost --device cuda --channels 16 --layers 8 --batch-size 64
    --schedule joint --warmup 3 --steps 5 --json)
ALL=darts,adarts,pc_darts,flat40
stage cost_fp32 120 "${COST[@]}" --presets "$ALL"
# adarts steps eagerly under --cuda-graphs (the fused activation kernel reads on the host).
stage cost_fp32_graphs 100 "${COST[@]}" --presets darts,pc_darts,flat40 --cuda-graphs

DATA=/tmp/fake-cifar10
python3 -c "from pathlib import Path; from factornas.data import make_fake_cifar10; \
make_fake_cifar10(Path('$DATA'), train_per_batch=10000, test_size=10000)" 2>>"$LOG"
stage search_epoch 200 python3 -m factornas search --preset adarts --dataset cifar10 \
    --data "$DATA" --subset "$SUBSET" --epochs 1 --device cuda --no-progress \
    --out /tmp/search-epoch --overwrite
cp /tmp/search-epoch/metrics.jsonl "$OUT/search_epoch.metrics.jsonl" 2>/dev/null

# The tests that skip without CUDA: graphed = eager, learning-rate changes, re-capture, resume
# after SIGKILL, bf16 (pytest's report in gpu_tests.out).
stage gpu_tests 120 python3 -m pytest -q -p no:cacheprovider tests/search/test_cuda_graphs.py \
    tests/evaluate/test_train_graphs.py

stage cost_bf16 60 "${COST[@]}" --presets darts,adarts --precision bf16
stage cost_bf16_graphs 40 "${COST[@]}" --presets darts --precision bf16 --cuda-graphs
stage cost_channels_last 60 "${COST[@]}" --presets darts,adarts --channels-last
stage reference_darts 60 python3 benchmarks/reference_darts_step.py --darts-dir "$DARTS" \
    --device cuda --warmup 3 --steps 5

python3 benchmarks/gpu_suite_report.py "$OUT" --search-subset "$SUBSET" 2>>"$LOG"
say "done: $OUT/gpu_suite.md"

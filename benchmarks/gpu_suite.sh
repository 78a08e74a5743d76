#!/usr/bin/env bash
# The GPU measurements of issues #15 and #23 in one call of a device machine (docs/performance.md
# gives the exact call), the most wanted first:
#   1. step cost of darts, adarts and pc_darts at the paper's search shape (C=16, 8 cells, batch
#      64), eager and from CUDA graphs (adarts graphed too now), kernels per step;
#   2. the graphed = eager check of an adarts search (20 steps; its pass lets the comparison run
#      graphed);
#   3. the experiment the project exists to answer, on real Fashion-MNIST (carried in FMNIST):
#      A-DARTS against A-DARTS with the activation fixed to ReLU (and the flat twin with
#      FMNIST_BASELINES=relu,flat), FMNIST_SEEDS seeds each, search then retrain, all pairs side
#      by side on the one GPU (bench compare --jobs), at sizes benchmarks/fashion_budget.py
#      derives from the step time measured in 1 so that it ends inside its stage;
#   4. the other GPU tests, the weighted-sum layouts, bf16, channels-last, the reference DARTS
#      step and a timed search epoch, as far as the budget goes.
# Every stage has its own time limit and none starts after SUITE_BUDGET_S; a stage that fails
# or runs out of time is reported with what it has, and the others still run. The raw outputs
# are packed into $OUT/gpu_suite_raw.tar.gz beside gpu_suite.md, gpu_suite.json and suite.log
# (the device tool brings back at most 8 files).
#
# Usage: benchmarks/gpu_suite.sh [WHEEL_DIR [DARTS_CHECKOUT [FMNIST]]]  (.whl .darts .fmnist)
#   WHEEL_DIR holds the wheels the device image lacks (pydantic's; docs/performance.md), an
#   empty or missing one installs nothing; DARTS_CHECKOUT a quark0/darts checkout (cnn/ is
#   enough); FMNIST a folder with Fashion-MNIST's four idx files (.gz or plain).
# Environment: OUT (default ./gpu-suite-out); SUITE_BUDGET_S (default 400: the seconds after
#   which no stage starts); SUITE_DEVICE (cuda; cpu runs the plumbing on a machine without a
#   GPU); SUITE_TINY=1 (the smallest shapes and comparison, for that plumbing run);
#   FMNIST_SEEDS (3); FMNIST_BASELINES (relu); FMNIST_JOBS (arms × seeds: every pair at once);
#   FMNIST_LIMIT_S (160: the comparison stage's limit); SEARCH_SUBSET (12800: training images
#   of the timed search epoch, extrapolated to the whole epoch).
set -u
WHEELS=${1:-.whl}
DARTS=${2:-.darts}
FMNIST=${3:-.fmnist}
OUT=${OUT:-$PWD/gpu-suite-out}
BUDGET=${SUITE_BUDGET_S:-400}
DEVICE=${SUITE_DEVICE:-cuda}
TINY=${SUITE_TINY:-0}
SEEDS=${FMNIST_SEEDS:-3}
BASELINES=${FMNIST_BASELINES:-relu}
SUBSET=${SEARCH_SUBSET:-12800}
WORK=$(mktemp -d /tmp/gpu-suite.XXXXXX)
mkdir -p "$OUT"
LOG="$OUT/suite.log"
: >"$LOG"

say() { echo "[$(date -u +%H:%M:%S) +${SECONDS}s] $*" | tee -a "$LOG"; }
left() { echo $((BUDGET - SECONDS)); }

# A stage: NAME LIMIT_S COMMAND...; its stdout to WORK/NAME.out, its stderr to WORK/NAME.log;
# the limit is cut to what the budget has left. Returns the command's exit status.
stage() {
    local name=$1 limit=$2
    shift 2
    local remaining
    remaining=$(left)
    if ((remaining < 20)); then
        say "skip $name: budget spent"
        echo "skipped: budget spent" >"$WORK/$name.log"
        return 125
    fi
    ((limit > remaining)) && limit=$remaining
    say "start $name (limit ${limit}s)"
    timeout --signal=KILL "$limit" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log"
    local code=$?
    say "end $name: exit $code"
    return $code
}

# The wheels are for CPython 3.12, the device image's Python (docs/performance.md).
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl 2>>"$LOG"
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
export PYTHONUNBUFFERED=1
if ! python3 - >"$WORK/environment.json" 2>>"$LOG" <<'EOF'
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
say "environment: $(cat "$WORK/environment.json")"

if [[ $TINY == 1 ]]; then
    SHAPE=(--channels 4 --layers 3 --batch-size 8 --warmup 1 --steps 1)
    TINY_FLAG=(--tiny)
    SUMS=(--shape 2 2 4 4 --repeats 1 --warmup 0)
    EPOCH=(--channels 2 --layers 3 --batch-size 8)
    SUBSET=64
    FAKE=100
else
    SHAPE=(--channels 16 --layers 8 --batch-size 64 --warmup 3 --steps 5)
    TINY_FLAG=()
    SUMS=()
    EPOCH=()
    FAKE=10000
fi
COST=(python3 -m factornas bench cost --device "$DEVICE" "${SHAPE[@]}" --schedule joint --json)
# 1. step cost, eager then graphed (a no-op said once on a CPU)
stage cost_fp32 80 "${COST[@]}" --presets darts,adarts,pc_darts
stage cost_fp32_graphs 80 "${COST[@]}" --presets darts,adarts,pc_darts --cuda-graphs

# 2. graphed = eager for adarts; on a pass the comparison runs graphed
GRAPHS=()
GRAPHED_COST=()
if stage graphs_check 50 python3 -m pytest -q -p no:cacheprovider \
    "tests/search/test_cuda_graphs.py::test_a_graphed_search_equals_an_eager_one[adarts]" &&
    grep -q "1 passed" "$WORK/graphs_check.out"; then
    GRAPHS=(--cuda-graphs)
    GRAPHED_COST=(--graphed-cost "$WORK/cost_fp32_graphs.out")
fi

# 3. A-DARTS vs the fixed-ReLU arm on Fashion-MNIST, sized to end inside its stage
ARMS=$((1 + $(tr ',' '\n' <<<"$BASELINES" | grep -c .)))
PAIRS=$((ARMS * SEEDS))
JOBS=${FMNIST_JOBS:-$PAIRS}
LIMIT=${FMNIST_LIMIT_S:-160}
(($(left) < LIMIT)) && LIMIT=$(left)
COMPARE=$WORK-compare
if python3 benchmarks/fashion_budget.py --cost "$WORK/cost_fp32.out" "${GRAPHED_COST[@]}" \
    --seconds "$LIMIT" --jobs "$JOBS" --pairs "$PAIRS" --explain "$WORK/fmnist_budget.json" \
    "${TINY_FLAG[@]}" >"$WORK/fmnist_budget.out" 2>>"$LOG"; then
    read -r -a SIZES <"$WORK/fmnist_budget.out"
    say "fmnist sizes: ${SIZES[*]} ${GRAPHS[*]}"
    stage fmnist_compare "$LIMIT" python3 -m factornas bench compare --space adarts \
        --baselines "$BASELINES" --seeds "$SEEDS" --dataset fashion-mnist --data "$FMNIST" \
        --device "$DEVICE" --jobs "$JOBS" "${GRAPHS[@]}" "${SIZES[@]}" --out "$COMPARE" --json
else
    say "error: no sizes for the comparison: see $LOG"
fi
# What the comparison has, finished or not: its results, and every run's summary.
if [[ -d $COMPARE ]]; then
    mkdir -p "$WORK/fmnist_compare"
    (cd "$COMPARE" && find . \( -name results.json -o -name report.md -o -name summary.json \
        -o -name metrics.jsonl -o -name bench.log \) \
        -exec cp --parents {} "$WORK/fmnist_compare/" \;)
fi

# 4. the rest, as far as the budget goes
stage gpu_tests 120 python3 -m pytest -q -p no:cacheprovider tests/search/test_cuda_graphs.py \
    tests/evaluate/test_train_graphs.py tests/kernels/test_rrelu_device_noise.py
# NCHW on CUDA, the GPU supernet's layout (cells run NHWC on a CPU only)
LAYOUT=()
[[ $DEVICE == cuda ]] && LAYOUT=(--contiguous)
stage weighted_sums 30 python3 benchmarks/weighted_sum_layout.py --device "$DEVICE" \
    "${LAYOUT[@]}" "${SUMS[@]}" --json
stage cost_bf16 60 "${COST[@]}" --presets darts,adarts --precision bf16
stage cost_bf16_graphs 40 "${COST[@]}" --presets darts,adarts --precision bf16 --cuda-graphs
stage cost_channels_last 60 "${COST[@]}" --presets darts,adarts --channels-last
stage reference_darts 60 python3 benchmarks/reference_darts_step.py --darts-dir "$DARTS" \
    --device "$DEVICE" --warmup 3 --steps 5
DATA=/tmp/fake-cifar10
(($(left) >= 20)) && python3 -c "from pathlib import Path; \
from factornas.data import make_fake_cifar10; \
make_fake_cifar10(Path('$DATA'), train_per_batch=$FAKE, test_size=$FAKE)" 2>>"$LOG"
stage search_epoch 200 python3 -m factornas search --preset adarts --dataset cifar10 \
    --data "$DATA" --subset "$SUBSET" --epochs 1 --device "$DEVICE" "${EPOCH[@]}" \
    --no-progress --out /tmp/search-epoch --overwrite
cp /tmp/search-epoch/metrics.jsonl "$WORK/search_epoch.metrics.jsonl" 2>/dev/null

python3 benchmarks/gpu_suite_report.py "$WORK" --search-subset "$SUBSET" 2>>"$LOG"
cp "$WORK/gpu_suite.md" "$WORK/gpu_suite.json" "$OUT/" 2>>"$LOG"
tar -czf "$OUT/gpu_suite_raw.tar.gz" -C "$WORK" . 2>>"$LOG"
say "done: $OUT/gpu_suite.md"

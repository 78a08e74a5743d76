#!/usr/bin/env bash
# One command from a fresh clone to a searched architecture: sets up a virtual environment
# (torch pinned first), installs Debian's Fashion-MNIST when it is missing, and runs a short,
# real A-DARTS search on it, printing the genotype at the end.
#
#   scripts/quickstart.sh [RUN_DIR]          (default RUN_DIR: runs/quickstart)
#
# Re-running resumes the search in RUN_DIR; a finished run's genotype is printed again, nothing
# is overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
run_dir="${1:-runs/quickstart}"
venv="${FACTORNAS_VENV:-.venv}"
data="/usr/share/datasets/fashion-mnist"

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
if ! python -c "import torch, factornas" 2>/dev/null; then
    python -m pip install --quiet --upgrade pip
    python -m pip install --quiet torch==2.13.0
    python -m pip install --quiet -e .
fi

if [ -f "$run_dir/summary.json" ]; then
    # Finished before: report what it found rather than refuse (factornas search would, to
    # protect the run; --overwrite starts it over).
    echo "$run_dir holds a finished search; its genotype ($run_dir/genotype.json):"
    exec factornas show "$run_dir" --no-figures
fi

if [ ! -d "$data" ]; then
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    $sudo_cmd apt-get install -y -qq dataset-fashion-mnist
fi

exec factornas search --preset adarts --dataset fashion-mnist --data "$data" \
    --subset 2000 --epochs 4 --channels 8 --layers 5 --batch-size 32 --eval-batches 8 \
    --out "$run_dir"

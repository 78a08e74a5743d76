#!/usr/bin/env bash
# One command from a fresh clone to a searched architecture: sets up a virtual environment
# (torch pinned first), finds Fashion-MNIST, and runs a short, real A-DARTS search on it,
# printing the genotype at the end. Needs no root: Fashion-MNIST is Debian's copy when it is
# there, Debian's package when apt-get may be used without a password, else factornas's own
# download (checked against the published checksums).
#
#   scripts/quickstart.sh [RUN_DIR]          (default RUN_DIR: runs/quickstart)
#
# The screen shows one line per set-up step; what the installers print goes to
# RUN_DIR.setup.log. Re-running resumes the search in RUN_DIR; a finished run's genotype is
# printed again, nothing is overwritten.
#
# Environment:
#   FACTORNAS_VENV         the virtual environment (default .venv)
#   FACTORNAS_TORCH_INDEX  the pip index torch comes from, e.g. the CPU-only wheels on Linux:
#                          https://download.pytorch.org/whl/cpu (default: pip's own index,
#                          whose Linux torch is the CUDA build, several GB)
#   FACTORNAS_DATA         where a downloaded Fashion-MNIST goes (default ./data)
#   OMP_NUM_THREADS        the search's threads (default: one per core)
#   OMP_WAIT_POLICY        OpenMP's wait policy (default here ACTIVE: one run on idle cores is
#                          fastest spinning, 112 s an epoch against 183 s passive and 133 s on
#                          one thread on 2 cores, docs/search.md; PASSIVE on a shared machine)
#
# Sourced (`source scripts/quickstart.sh`), it defines its functions and runs nothing.
set -euo pipefail

TORCH_PIN="torch==2.13.0"
debian_data="/usr/share/datasets/fashion-mnist"
log=""            # set by main: RUN_DIR.setup.log
log_started=""

# step LABEL COMMAND...: run COMMAND with its output appended to the log, and show LABEL with
# "done (Ns)" or "failed" on one line. Returns COMMAND's failure for the caller to decide.
step() {
    local label=$1 start=$SECONDS
    shift
    if [ -z "$log_started" ]; then
        mkdir -p "$(dirname "$log")"
        printf '== quick start set-up, %s ==\n' "$(date)" >>"$log"
        log_started=1
    fi
    printf '  %-62s' "$label"
    printf '\n-- %s: %s\n' "$label" "$*" >>"$log"
    if "$@" >>"$log" 2>&1; then
        printf ' done (%ss)\n' $((SECONDS - start))
    else
        printf ' failed\n'
        return 1
    fi
}

# die: the log's last lines, where the installer said what went wrong, then exit 1.
die() {
    printf '\nset-up failed; the last lines of %s:\n' "$log" >&2
    tail -n 20 "$log" >&2
    exit 1
}

# Run a command as root: directly when we are root, else through sudo without a password
# prompt (a prompt would hide behind the log; needing one means apt-get is not ours to use).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        sudo -n "$@"
    fi
}

# Whether apt-get may be used here: it exists, and we are root or may sudo without a password.
can_apt() {
    command -v apt-get >/dev/null 2>&1 || return 1
    [ "$(id -u)" -eq 0 ] && return 0
    command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1
}

# Where Fashion-MNIST comes from: "debian" (already installed), "apt" (install Debian's
# package) or "download" (factornas's own, into the data directory).
data_source() {
    if [ -d "$debian_data" ]; then
        echo debian
    elif can_apt; then
        echo apt
    else
        echo download
    fi
}

install_debian_data() {
    as_root apt-get update -qq && as_root apt-get install -y -qq dataset-fashion-mnist
}

# The training split into DIR, downloaded with its checksums unless it is there already.
download_fashion_mnist() {
    python -c 'import sys
from pathlib import Path
from factornas.data.fashion_mnist import locate_fashion_mnist
print(*locate_fashion_mnist(Path(sys.argv[1]), train=True), sep="\n")' "$1"
}

# Whether the finished search in RUN_DIR derived a normal cell without a skip connection.
lacks_skip_connect() {
    python -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["skip_connect_in_normal"] is False else 1)' \
        "$1/summary.json" 2>/dev/null
}

torch_line() {
    if [ -n "${FACTORNAS_TORCH_INDEX:-}" ]; then
        echo "torch 2.13.0 from $FACTORNAS_TORCH_INDEX"
    else
        echo "torch 2.13.0 from pip's index"
    fi
}

install_torch() {
    if [ -n "${FACTORNAS_TORCH_INDEX:-}" ]; then
        python -m pip install "$TORCH_PIN" --index-url "$FACTORNAS_TORCH_INDEX"
    else
        python -m pip install "$TORCH_PIN"
    fi
}

# fetch_data SOURCE: make Fashion-MNIST available from SOURCE (data_source's answer) and set
# data_dir to where it is. A failed apt-get falls back to the download rather than stop.
fetch_data() {
    local data_from=$1
    if [ "$data_from" = apt ]; then
        if step "installing Debian's dataset-fashion-mnist (apt-get)" install_debian_data; then
            data_dir=$debian_data
            return
        fi
        echo "  apt-get failed (see $log): downloading Fashion-MNIST instead"
        data_from=download
    fi
    if [ "$data_from" = debian ]; then
        data_dir=$debian_data
    else
        step "Fashion-MNIST into $data_dir (checksummed)" download_fashion_mnist "$data_dir" || die
    fi
}

# explain_skips RUN_DIR: after the search's "no skip_connect" warning, what it means.
explain_skips() {
    lacks_skip_connect "$1" || return 0
    echo
    echo "About the warning: the normal cell derived from this search has no skip connection."
    echo "The paper discards such cells from its full-length searches (§4.2); after a 4-epoch toy"
    echo "search on 2,000 images it is common and harmless: nothing went wrong, the genotype is"
    echo "what this short search found (factornas show $1 draws its cells)."
}

# plan_line STEP WHAT TIME: one line of the plan, in columns.
plan_line() {
    if [ -n "$3" ]; then
        printf '  %-10s %-64s %s\n' "$1" "$2" "$3"
    else
        printf '  %-10s %s\n' "$1" "$2"
    fi
}

print_plan() { # print_plan SETUP_NEEDED DATA_SOURCE FINISHED
    local setup=$1 data_from=$2 finished=$3
    echo "factornas quick start: a short, real A-DARTS search on Fashion-MNIST. What happens:"
    if [ "$setup" = yes ]; then
        plan_line "1. set-up" "$venv: pip, $(torch_line), factornas" "≈ 1 min + downloads"
        if [ "$(uname -s)" = Linux ] && [ -z "${FACTORNAS_TORCH_INDEX:-}" ]; then
            plan_line "" "(PyPI's Linux torch is the CUDA build, several GB; the CPU one:" ""
            plan_line "" " FACTORNAS_TORCH_INDEX=https://download.pytorch.org/whl/cpu $0)" ""
        fi
    else
        plan_line "1. set-up" "$venv has torch and factornas already" "–"
    fi
    if [ "$finished" = yes ]; then
        plan_line "2. result" "$run_dir holds a finished search: its genotype, again" "–"
        return
    fi
    case $data_from in
    debian) plan_line "2. data" "Fashion-MNIST from $debian_data" "–" ;;
    apt) plan_line "2. data" "Fashion-MNIST: apt-get install dataset-fashion-mnist" "≈ 1 min" ;;
    *) plan_line "2. data" "Fashion-MNIST: download into $data_dir (26 MB, once)" "≈ 1 min" ;;
    esac
    if [ -f "$run_dir/checkpoint.pt" ]; then
        plan_line "3. search" "resumes the search in $run_dir where it stopped" "≤ 7 min, 2 cores"
    else
        plan_line "3. search" "4 epochs of 31 steps (2,000 images, C=8, 5 cells)" "≈ 7 min, 2 cores"
    fi
    plan_line "4. result" "the genotype, printed, and $run_dir/genotype.json" ""
    if [ "$setup" = yes ] || [ "$data_from" != debian ]; then
        echo "What the installers print goes to $log."
    fi
    echo
}

main() {
    cd "$(dirname "$0")/.."
    run_dir="${1:-runs/quickstart}"
    venv="${FACTORNAS_VENV:-.venv}"
    data_dir="${FACTORNAS_DATA:-data}/fashion-mnist"
    log="${run_dir%/}.setup.log"

    local setup=yes finished=no data_from
    if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import torch, factornas" 2>/dev/null
    then
        setup=no
    fi
    [ -f "$run_dir/summary.json" ] && finished=yes
    data_from=$(data_source)
    print_plan "$setup" "$data_from" "$finished"

    if [ ! -x "$venv/bin/python" ]; then
        step "creating the virtual environment $venv" python3 -m venv "$venv" || die
    fi
    # shellcheck disable=SC1091
    source "$venv/bin/activate"
    if [ "$setup" = yes ]; then
        step "upgrading pip" python -m pip install --upgrade pip || die
        step "installing $(torch_line)" install_torch || die
        step "installing factornas from this clone (editable)" python -m pip install -e . || die
    fi

    if [ "$finished" = yes ]; then
        # Finished before: report what it found rather than refuse (factornas search would, to
        # protect the run; --overwrite starts it over).
        echo "$run_dir holds a finished search; its genotype ($run_dir/genotype.json):"
        exec factornas show "$run_dir" --no-figures
    fi

    fetch_data "$data_from"
    echo
    OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-ACTIVE}" \
        factornas search --preset adarts --dataset fashion-mnist --data "$data_dir" \
        --subset 2000 --epochs 4 --channels 8 --layers 5 --batch-size 32 --eval-batches 8 \
        --out "$run_dir"
    explain_skips "$run_dir"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    main "$@"
fi

"""The paper's CIFAR-10 A-DARTS search (§4.2) on the Python API.

    python examples/adarts_cifar10.py --data ~/data/cifar10 --out runs/adarts
    python examples/adarts_cifar10.py --quick --out runs/adarts-quick    # minutes on 2 CPU cores

The full run is the paper's setting: 8 ops × 9 activations, C=16, 8 cells, batch 64, 25 epochs,
CIFAR-10's training set split 50/50 into search-train and search-val. It uses the GPU when one
is present and the CPU otherwise. ``--quick`` keeps everything but the scale: a 2,000-image
subset, C=8, 5 cells, batch 32, 3 epochs. Without CIFAR-10 on disk (and no network),
``--quick`` falls back to Fashion-MNIST from Debian's ``dataset-fashion-mnist`` if installed,
then to the synthetic dataset, and says so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from factornas import FactorNASError, run_search, search_preset

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/cifar10"))
    parser.add_argument("--out", type=Path, default=Path("runs/adarts_cifar10"))
    parser.add_argument("--quick", action="store_true", help="a small run for a laptop CPU")
    args = parser.parse_args()

    config = search_preset("adarts")  # every constant of §4.2 lives in this config
    config = config.replace(data={"root": args.data})
    if args.quick:
        config = config.replace(
            data={"subset": 2000}, channels=8, layers=5, batch_size=32, epochs=3, eval_batches=8
        )

    try:
        result = run_search(config, args.out)
    except FactorNASError as error:
        if not args.quick:
            raise SystemExit(f"error: {error}") from None
        fallback = "fashion-mnist" if FASHION_MNIST.is_dir() else "synthetic"
        print(f"CIFAR-10 unavailable ({error}); searching on {fallback} instead")
        config = config.replace(data={"dataset": fallback, "root": FASHION_MNIST})
        result = run_search(config, args.out)

    print(result.genotype.to_darts_string())
    for cell_type in ("normal", "reduce"):
        for node, edge in result.genotype.cell(cell_type).edges():
            print(f"{cell_type:6s} node {node} <- {edge.source}: {edge.label()}")
    if not result.has_skip_connect:
        print("the normal cell has no skip_connect: the paper discards such searches (§4.2)")


if __name__ == "__main__":
    main()

"""A factor group of your own: an attention gate after every convolution, searched per edge.

Nothing in factornas is edited: the group is declared, registered, and named in a space. The
supernet then mixes the gate's candidates after each convolution with their own architecture
weights, the search optimizes those weights as one more level, and the genotype records the
chosen gate on every convolution edge. See docs/custom-factors.md.

    python examples/custom_factor_group.py [RUN_DIR] [--overwrite]   # then: factornas show RUN_DIR
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

from factornas import (
    Candidate,
    DataConfig,
    FactorGroup,
    GroupSpec,
    Placement,
    SearchConfig,
    SearchSpace,
    arch_parameter_count,
    node_name,
    register_group,
    run_search,
    space_size,
)


# -- 1. the candidates: plain modules built from the channel count ---------------------------
class SqueezeExcite(nn.Module):
    """Channel attention (Hu et al., 2018): scale each channel by a gate from its mean."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class SpatialGate(nn.Module):
    """Spatial attention: one sigmoid mask per pixel, from the channels' mean and max."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


# -- 2. the group: where it acts (after the op), on which ops (tag "conv"), its candidates ----
attention = FactorGroup(
    "attention",
    placement=Placement.OUTPUT,
    attach_to={"conv"},  # the four DARTS convolutions carry this tag
    candidates=[
        Candidate("identity", factory=lambda channels: nn.Identity()),
        Candidate("se", factory=SqueezeExcite),
        Candidate("spatial", factory=lambda channels: SpatialGate()),
    ],
    description="an attention gate after each convolution",
)
register_group(attention)

# -- 3. a space that searches it next to the paper's two groups -------------------------------
SPACE = SearchSpace(
    name="adarts_attention",
    normal=(GroupSpec(group="op"), GroupSpec(group="activation"), GroupSpec(group="attention")),
)


def main(run_dir: str, overwrite: bool = False) -> None:
    """A short search on synthetic images, then the gate chosen on every convolution edge."""
    print(
        f"{SPACE.name}: {space_size(SPACE):.3e} architectures, "
        f"{arch_parameter_count(SPACE)} architecture weights"
    )
    # Tiny on purpose (a few CPU minutes, seconds on a GPU): 16 search-train and 16 search-val
    # images, two epochs, all architecture levels stepping from one validation pass ("joint").
    config = SearchConfig(
        space=SPACE,
        data=DataConfig(dataset="synthetic", synthetic={"size": 32, "image": 16}),
        channels=8,
        layers=3,
        epochs=2,
        batch_size=8,
        schedule="joint",
        eval_batches=1,
    )
    result = run_search(config, run_dir, overwrite=overwrite, show_progress=False)
    for cell_type in ("normal", "reduce"):
        for target, edge in result.genotype.cell(cell_type).edges():
            gate = edge.factors.get("attention", "—")
            edge_name = f"{node_name(edge.source)} → {node_name(target)}"
            print(f"{cell_type:6} {edge_name:12} {edge.op:13} attention: {gate}")
    print(f"genotype written to {result.run_dir / 'genotype.json'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "run_dir", nargs="?", default="runs/custom_factor_group", help="run directory (resumes)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run there")
    args = parser.parse_args()
    main(args.run_dir, args.overwrite)

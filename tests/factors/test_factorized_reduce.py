"""FactorizedReduce: DARTS's two offset stride-2 1×1 convs, computed without oneDNN's stride-2 1×1
kernel (whose channels-last backward corrupted the heap at small channel counts)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch.nn import functional as F

from factornas.factors.ops import FactorizedReduce


def test_equals_two_offset_stride_2_convolutions() -> None:
    torch.manual_seed(0)
    reduce = FactorizedReduce(6, 8, affine=True).double().eval()
    x = torch.randn(3, 6, 10, 10, dtype=torch.float64)
    relu = x.relu()
    expected = reduce.bn(
        torch.cat(
            [
                F.conv2d(relu, reduce.conv_1.weight, stride=2),
                F.conv2d(relu[:, :, 1:, 1:], reduce.conv_2.weight, stride=2),
            ],
            dim=1,
        )
    )
    torch.testing.assert_close(reduce(x), expected)
    assert reduce(x).shape == (3, 8, 5, 5)


@pytest.mark.slow
def test_channels_last_backward_with_few_channels_runs_clean() -> None:
    """4 channels at 56×56, channels-last, as an ImageNet-stem search at C=4 feeds it: this shape
    aborted the process (``free(): invalid size``) with stride-2 1×1 convolutions. A subprocess,
    so a crash fails this test instead of killing the suite."""
    code = (
        "import torch\n"
        "from factornas.factors.ops import FactorizedReduce\n"
        "torch.manual_seed(0)\n"
        "m = FactorizedReduce(4, 4, affine=False)\n"
        "for _ in range(3):\n"
        "    x = torch.randn(4, 4, 56, 56).contiguous(memory_format=torch.channels_last)\n"
        "    x.requires_grad_()\n"
        "    torch.autograd.grad(m(x).square().sum(), [x, *m.parameters()])\n"
        "print('clean')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr[-500:]

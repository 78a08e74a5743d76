"""Published DARTS-space architectures, for retraining baselines and checking our counts.

Each is written in DARTS's namedtuple text (as published in the authors' ``genotypes.py``) and
parsed with :func:`~factornas.space.genotype.parse_darts_genotype`; their convolutions get the
activation ``relu``, which is what those searches used. Expected sizes, as the papers round
them (auxiliary head excluded; CIFAR C=36, 20 cells; ImageNet C=48, 14 cells):

============== ======= =========
name            CIFAR   ImageNet
============== ======= =========
darts_v1         3.3M       —
darts_v2         3.3M     4.7M
pc_darts         3.6M     5.3M
pc_darts_image     —      5.3M
pdarts           3.4M     4.9M
============== ======= =========
"""

from __future__ import annotations

from factornas.errors import UnknownNameError
from factornas.registry import Registry
from factornas.space.genotype import Genotype, darts_factor_defaults, parse_darts_genotype

#: Published genotypes by name (DARTS namedtuple text), each registered beside its text.
PUBLISHED: Registry[str] = Registry("published genotype", unknown=UnknownNameError)

#: DARTS first order (Liu et al., 2019).
DARTS_V1 = (
    "Genotype("
    "normal=[('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 0), ('sep_conv_3x3', 1),"
    " ('skip_connect', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('skip_connect', 2)],"
    " normal_concat=[2, 3, 4, 5],"
    " reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 0),"
    " ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('avg_pool_3x3', 0)],"
    " reduce_concat=[2, 3, 4, 5])"
)
PUBLISHED.add("darts_v1", DARTS_V1)

#: DARTS second order, the architecture DARTS reports (2.76% CIFAR-10, 26.7% ImageNet).
DARTS_V2 = (
    "Genotype("
    "normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1),"
    " ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)],"
    " normal_concat=[2, 3, 4, 5],"
    " reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1),"
    " ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)],"
    " reduce_concat=[2, 3, 4, 5])"
)
PUBLISHED.add("darts_v2", DARTS_V2)

#: PC-DARTS searched on CIFAR-10 (``PC_DARTS_cifar``; 2.57% CIFAR-10, 25.1% ImageNet).
PC_DARTS = (
    "Genotype("
    "normal=[('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 0), ('dil_conv_3x3', 1),"
    " ('sep_conv_5x5', 0), ('sep_conv_3x3', 1), ('avg_pool_3x3', 0), ('dil_conv_3x3', 1)],"
    " normal_concat=range(2, 6),"
    " reduce=[('sep_conv_5x5', 1), ('max_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_5x5', 2),"
    " ('sep_conv_3x3', 0), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('sep_conv_3x3', 2)],"
    " reduce_concat=range(2, 6))"
)
PUBLISHED.add("pc_darts", PC_DARTS)

#: PC-DARTS searched on ImageNet directly (``PC_DARTS_image``; 24.2% top-1).
PC_DARTS_IMAGE = (
    "Genotype("
    "normal=[('skip_connect', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 0), ('skip_connect', 1),"
    " ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 1), ('dil_conv_5x5', 4)],"
    " normal_concat=range(2, 6),"
    " reduce=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_5x5', 2), ('max_pool_3x3', 1),"
    " ('sep_conv_3x3', 2), ('sep_conv_3x3', 1), ('sep_conv_5x5', 0), ('sep_conv_3x3', 3)],"
    " reduce_concat=range(2, 6))"
)
PUBLISHED.add("pc_darts_image", PC_DARTS_IMAGE)

#: P-DARTS searched on CIFAR-10 (2.50% CIFAR-10, 24.4% ImageNet).
PDARTS = (
    "Genotype("
    "normal=[('skip_connect', 0), ('dil_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 1),"
    " ('sep_conv_3x3', 1), ('sep_conv_3x3', 3), ('sep_conv_3x3', 0), ('dil_conv_5x5', 4)],"
    " normal_concat=range(2, 6),"
    " reduce=[('avg_pool_3x3', 0), ('sep_conv_5x5', 1), ('sep_conv_3x3', 0), ('dil_conv_5x5', 2),"
    " ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('dil_conv_3x3', 1), ('dil_conv_5x5', 3)],"
    " reduce_concat=range(2, 6))"
)
PUBLISHED.add("pdarts", PDARTS)


def published_genotype(name: str) -> Genotype:
    """The published genotype ``name``, with ReLU in front of every convolution."""
    return parse_darts_genotype(PUBLISHED.get(name), default_factors=darts_factor_defaults())

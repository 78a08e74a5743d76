"""Reference configurations of the paper, as plain config objects."""

from factornas.presets.published import PUBLISHED, published_genotype
from factornas.presets.retrain import RETRAIN_RECIPES, retrain_recipe
from factornas.presets.spaces import SPACE_PRESETS, space_preset

__all__ = [
    "PUBLISHED",
    "RETRAIN_RECIPES",
    "SPACE_PRESETS",
    "published_genotype",
    "retrain_recipe",
    "space_preset",
]

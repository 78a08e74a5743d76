"""Reference configurations of the paper, as plain config objects."""

from factornas.presets.published import PUBLISHED, UnknownGenotypeError, published_genotype
from factornas.presets.retrain import RETRAIN_RECIPES, UnknownRecipeError, retrain_recipe
from factornas.presets.spaces import SPACE_PRESETS, UnknownPresetError, space_preset

__all__ = [
    "PUBLISHED",
    "RETRAIN_RECIPES",
    "SPACE_PRESETS",
    "UnknownGenotypeError",
    "UnknownPresetError",
    "UnknownRecipeError",
    "published_genotype",
    "retrain_recipe",
    "space_preset",
]

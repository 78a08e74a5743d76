"""Reference configurations of the paper, as plain config objects."""

from factornas.presets.spaces import SPACE_PRESETS, UnknownPresetError, space_preset

__all__ = ["SPACE_PRESETS", "UnknownPresetError", "space_preset"]

"""A seeded synthetic classification dataset whose classes can actually be learned.

Tests and smoke runs need data that is instant to make yet not pure noise: a loss that
cannot fall hides broken training loops. Each class gets a smooth random template (coarse
noise upsampled to the image size); each image is its class template plus per-pixel noise.
Templates depend on the seed only, so train and test splits share them and a classifier
trained on one generalizes to the other.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from factornas.data.arrays import ImageArrays
from factornas.data.registry import register_dataset
from factornas.data.seeds import generator

TEMPLATE_AMPLITUDE = 50.0
NOISE = 40.0


def class_templates(num_classes: int, shape: tuple[int, int, int], seed: int) -> torch.Tensor:
    """Float templates (num_classes×C×H×W) around mid-grey, smooth at a quarter resolution."""
    channels, height, width = shape
    coarse = torch.randn(
        num_classes,
        channels,
        max(2, height // 4),
        max(2, width // 4),
        generator=generator("synthetic-templates", seed),
    )
    smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return 128.0 + TEMPLATE_AMPLITUDE * smooth / smooth.std()


def make_synthetic(
    num_samples: int,
    shape: tuple[int, int, int] = (3, 32, 32),
    num_classes: int = 10,
    *,
    seed: int = 0,
    train: bool = True,
) -> ImageArrays:
    """``num_samples`` uint8 images of ``shape`` (C, H, W), classes balanced and shuffled.

    Normalization constants come from the distribution (templates plus noise), not from the
    drawn sample, so train and test splits normalize identically.
    """
    if num_samples <= 0 or num_classes <= 1 or min(shape) <= 0:
        raise ValueError(
            f"need num_samples > 0, num_classes > 1 and a positive shape, got "
            f"{num_samples}, {num_classes}, {shape}"
        )
    g = generator("synthetic-samples", seed, "train" if train else "test")
    labels = (torch.arange(num_samples) % num_classes)[torch.randperm(num_samples, generator=g)]
    noise = NOISE * torch.randn(num_samples, *shape, generator=g)
    templates = class_templates(num_classes, shape, seed)
    images = (templates[labels] + noise).round().clamp(0, 255).to(torch.uint8)
    per_channel = templates.transpose(0, 1).reshape(shape[0], -1)
    mean = tuple((per_channel.mean(1) / 255).tolist())
    std = tuple(((per_channel.var(1) + NOISE**2).sqrt() / 255).tolist())
    return ImageArrays(images, labels, num_classes, mean, std, name="synthetic")


@register_dataset(
    "synthetic",
    image_size=32,
    channels=3,
    classes=10,
    # The distribution's (templates around 128 plus noise); each seed's arrays carry exact ones.
    mean=(128 / 255,) * 3,
    std=(math.hypot(TEMPLATE_AMPLITUDE, NOISE) / 255,) * 3,
    description="class templates plus noise, generated from the seed (tests, smoke runs)",
    shape=lambda config: (config.synthetic.channels, config.synthetic.image),
)
def synthetic(config: Any, train: bool, seed: int) -> ImageArrays:
    """``data.synthetic.size`` training or ``test_size`` test images of its shape."""
    options = config.synthetic
    return make_synthetic(
        options.size if train else options.test_size,
        (options.channels, options.image, options.image),
        options.classes,
        seed=seed,
        train=train,
    )

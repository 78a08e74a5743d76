"""Batched augmentation: determinism, and crop/flip/cutout checked on hand-built images."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F

from factornas.data import augment_batch, normalize_batch, random_crop, random_cutout, random_flip

MEAN, STD = (0.5, 0.25, 0.125), (0.5, 0.25, 0.2)


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _ramp(n: int, size: int = 8) -> torch.Tensor:
    """Images whose pixels are all distinct and non-zero (unlike the zero padding)."""
    image = torch.arange(1, 3 * size * size + 1, dtype=torch.uint8).reshape(3, size, size)
    return image.expand(n, -1, -1, -1).contiguous()


def test_same_generator_state_same_batch() -> None:
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    augment = partial(augment_batch, mean=MEAN, std=STD, crop_padding=4, flip=True, cutout=16)
    a, b, c = (augment(images, generator=_gen(seed)) for seed in (1, 1, 2))
    assert a.dtype == torch.float32 and a.shape == images.shape
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_all_steps_off_is_normalization() -> None:
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    out = augment_batch(
        images, mean=MEAN, std=STD, crop_padding=0, flip=False, cutout=0, generator=_gen(0)
    )
    assert torch.equal(out, normalize_batch(images, mean=MEAN, std=STD))
    expected = (images[:, 1].float() / 255 - MEAN[1]) / STD[1]
    torch.testing.assert_close(out[:, 1], expected)


def test_flip_mirrors_some_images_and_keeps_the_others() -> None:
    images = _ramp(32)
    out = random_flip(images, _gen(0))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f != k for f, k in zip(flipped, kept, strict=True))
    assert 0 < sum(flipped) < 32
    assert out[flipped.index(True), 0, 0, 0] == images[0, 0, 0, -1]


def test_crop_shifts_content_within_zero_padding() -> None:
    size, pad = 8, 3
    images = _ramp(64, size)
    out = random_crop(images, pad, _gen(0))
    padded = F.pad(images[0], (pad, pad, pad, pad))
    windows = {
        (dy, dx): padded[:, dy : dy + size, dx : dx + size]
        for dy in range(2 * pad + 1)
        for dx in range(2 * pad + 1)
    }
    offsets = []
    for image in out:
        matches = [key for key, window in windows.items() if torch.equal(image, window)]
        assert len(matches) == 1  # every output is exactly one shifted window
        offsets.append(matches[0])
    assert len(set(offsets)) > 10  # offsets differ per sample
    dy, dx = offsets[0]
    # pixel (y, x) of the output is pixel (y + dy - pad, x + dx - pad) of the input
    y, x = pad, pad
    assert out[0, :, y, x].tolist() == images[0, :, y + dy - pad, x + dx - pad].tolist()


@pytest.mark.parametrize(("length", "side"), [(8, 8), (7, 6)])
def test_cutout_square_is_clipped_only_at_borders(length: int, side: int) -> None:
    images = torch.ones(400, 3, 20, 20)
    out = random_cutout(images, length, _gen(0))
    interior = 0
    for image in out:
        zero = image == 0
        assert torch.equal(zero[0], zero[1]) and torch.equal(zero[0], zero[2])
        rows = zero[0].any(1).nonzero().flatten()
        cols = zero[0].any(0).nonzero().flatten()
        if len(rows) == 0:
            continue  # a square clipped to nothing at the top or left edge
        height, width = int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)
        assert int(zero[0].sum()) == height * width  # one solid rectangle
        assert height <= side and width <= side
        if min(rows[0], cols[0]) > 0 and max(rows[-1], cols[-1]) < 19:
            assert (height, width) == (side, side)
            interior += 1
    assert interior > 100


def test_crop_padding_is_black_before_normalization() -> None:
    images = torch.full((64, 3, 6, 6), 200, dtype=torch.uint8)
    out = augment_batch(
        images, mean=MEAN, std=STD, crop_padding=2, flip=False, cutout=0, generator=_gen(3)
    )
    black = normalize_batch(torch.zeros(1, 3, 1, 1, dtype=torch.uint8), mean=MEAN, std=STD)
    assert torch.isclose(out, black.expand_as(out)).any()


def test_rejects_float_input_and_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match="uint8"):
        augment_batch(
            torch.zeros(1, 3, 4, 4),
            mean=MEAN,
            std=STD,
            crop_padding=0,
            flip=False,
            cutout=0,
            generator=_gen(0),
        )
    with pytest.raises(ValueError, match="3 normalization values for 1 channels"):
        normalize_batch(torch.zeros(1, 1, 4, 4, dtype=torch.uint8), mean=MEAN, std=STD)

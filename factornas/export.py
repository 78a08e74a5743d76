"""Exporting a found network for inference: ONNX (checked with onnxruntime) and TorchScript.

What is exported is the evaluation network in eval mode: no auxiliary head, drop path off,
batch norm on its running statistics, returning the logits alone, with a dynamic batch axis.
Its weights are fresh (seeded) or a retraining's ``checkpoint.pt``. Every exported file is run
once against PyTorch on a sample batch, so a file that would silently compute something else
(an op exported wrongly) is an error here rather than a surprise in deployment.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from torch import nn

from factornas.data.registry import dataset_spec
from factornas.errors import FactorNASError
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.evaluate.network import EvalNetwork, build_network
from factornas.runtime.checkpoint import load_checkpoint
from factornas.runtime.rundir import CHECKPOINT, CONFIG
from factornas.space.genotype import Genotype

#: Largest absolute difference tolerated between an exported model's logits and PyTorch's.
TOLERANCE = 1e-4
#: Images in the batch every exported file is checked on (more than one: the batch is dynamic).
CHECK_BATCH = 3
ONNX_OPSET = 18


class ExportError(FactorNASError):
    """A network cannot be exported, or the exported file computes something else."""


class LogitsOnly(nn.Module):
    """The evaluation network as deployed: images in, logits out (no auxiliary tuple)."""

    def __init__(self, network: EvalNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)[0]


@dataclass(frozen=True)
class Checkpoint:
    """A finished or interrupted retraining: its network, genotype, weights and image side."""

    genotype: Genotype
    network: NetworkConfig
    state: dict[str, torch.Tensor]
    image_size: int


def _image_size(config: RetrainConfig) -> int:
    """The side of the images the retraining trained on (its dataset's, from the registry)."""
    _, side = dataset_spec(config.data.dataset).input_shape(config.data)
    return side


def load_retrain_checkpoint(run_dir: str | Path) -> Checkpoint:
    """The network and trained weights of a ``factornas train`` run directory."""
    root = Path(run_dir)
    config_path = root / CONFIG
    if not config_path.is_file():
        raise ExportError(f"{root} is not a retraining run directory (no {CONFIG})")
    try:
        saved = json.loads(config_path.read_text())
        config = RetrainConfig.model_validate(saved["config"])
        genotype = Genotype.model_validate(saved["genotype"])
    except (json.JSONDecodeError, KeyError, TypeError, ValidationError):
        raise ExportError(
            f"{config_path} is not a retraining config (a search run has no trained "
            "evaluation network: retrain it with `factornas train` first)"
        ) from None
    state = load_checkpoint(root / CHECKPOINT)
    if "model" not in state:
        raise ExportError(f"{root / CHECKPOINT} holds no evaluation network weights")
    return Checkpoint(genotype, config.network, state["model"], _image_size(config))


def _fix_random_slopes(module: nn.Module) -> None:
    """Replace every RReLU by the LeakyReLU it computes in eval mode (slope (lower + upper)/2):
    the same function, and torch.onnx has no conversion for RReLU."""
    for name, child in module.named_children():
        if isinstance(child, nn.RReLU):
            setattr(module, name, nn.LeakyReLU((child.lower + child.upper) / 2))
        else:
            _fix_random_slopes(child)


def inference_model(
    genotype: Genotype, config: NetworkConfig, state: dict[str, torch.Tensor] | None = None
) -> LogitsOnly:
    """The network in eval mode, with ``state`` loaded when given (auxiliary head dropped)."""
    network = build_network(genotype, config)
    if state is not None:
        network.load_state_dict(state)
    network.auxiliary_head = None
    network.drop_path_prob = 0.0
    _fix_random_slopes(network)
    return LogitsOnly(network).eval()


def sample_batch(config: NetworkConfig, image_size: int, seed: int = 0) -> torch.Tensor:
    """A fixed random batch of the network's input shape, for tracing and checking."""
    generator = torch.Generator().manual_seed(seed)
    shape = (CHECK_BATCH, config.in_channels, image_size, image_size)
    return torch.randn(shape, generator=generator)


def _check_close(kind: str, path: Path, got: torch.Tensor, want: torch.Tensor) -> float:
    diff = float((got - want).abs().max())
    if not diff <= TOLERANCE:
        raise ExportError(
            f"{kind} file {path} differs from PyTorch by {diff:.3g} (tolerance {TOLERANCE})"
        )
    return diff


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporters' progress prints, deprecation notes and optional-op warnings:
    what matters to the user (the file, the check) is reported by the caller."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def export_onnx(model: LogitsOnly, images: torch.Tensor, path: str | Path) -> Path:
    """Write ``model`` as ONNX (torch.export based, dynamic batch), named images → logits."""
    try:
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError:
        raise ExportError(
            "ONNX export needs onnx and onnxscript: pip install 'factornas[export]'"
        ) from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_exporter():
        torch.onnx.export(
            model,
            (images,),
            str(path),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=ONNX_OPSET,
            verbose=False,
        )
    return path


def check_onnx(model: LogitsOnly, images: torch.Tensor, path: Path) -> float | None:
    """Largest difference between onnxruntime's logits and PyTorch's (``None`` without
    onnxruntime); above :data:`TOLERANCE` is an :class:`ExportError`."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": images.numpy()})
    with torch.no_grad():
        want = model(images)
    return _check_close("ONNX", path, torch.from_numpy(got), want)


def export_torchscript(model: LogitsOnly, images: torch.Tensor, path: str | Path) -> float:
    """Write ``model`` traced to TorchScript, reload it and return the largest difference.

    Traced, not scripted: the cells' Python control flow depends only on the architecture,
    which tracing bakes in.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(model, (images,))
        torch.jit.save(traced, str(path))
        loaded = torch.jit.load(str(path))
        return _check_close("TorchScript", path, loaded(images), model(images))

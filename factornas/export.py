"""Exporting a found network for inference: ONNX (checked with onnxruntime) and TorchScript.

What is exported is the evaluation network in eval mode: no auxiliary head, drop path off,
batch norm on its running statistics, returning the logits alone, with a dynamic batch axis.
Its weights are fresh (seeded) or a retraining's ``checkpoint.pt``. Every exported file is run
once against PyTorch on a sample batch, so a file that would silently compute something else
(an op exported wrongly) is an error here rather than a surprise in deployment.

Nothing of the user's is lost on the way (docs/export.md):

* every problem that can be seen before the export is refused before anything is built or
  written: an output that is one of the export's inputs or another output of it
  (:func:`check_outputs`), an output directory that does not exist (none is created), an
  image side the network cannot take (:func:`check_image_size`), a run directory whose
  ``config.json`` does not describe its checkpoint (:func:`trained_model`);
* every file is written to a temporary beside its destination, checked there, and renamed
  into place only when the check passes (:func:`factornas.files.atomic_path`): a failed export
  leaves no file and no temporary, and a file it replaces stays whole until then;
* an ONNX file is one self-contained file that can be copied alone, unless its weights exceed
  what one file can hold (:data:`ONNX_SINGLE_FILE_BYTES`); only then are they written beside it
  as ``<name>.data``, named after the final file.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
from pydantic import BaseModel, ValidationError
from torch import nn

from factornas.data.registry import dataset_spec
from factornas.errors import FactorNASError, first_problem
from factornas.evaluate.config import NetworkConfig, RetrainConfig
from factornas.evaluate.network import EvalNetwork, build_network
from factornas.files import atomic_path
from factornas.runtime.checkpoint import load_checkpoint
from factornas.runtime.rundir import CHECKPOINT, CONFIG
from factornas.space.genotype import Genotype

#: Largest absolute difference tolerated between an exported model's logits and PyTorch's.
TOLERANCE = 1e-4
#: Images in the batch every exported file is checked on (more than one: the batch is dynamic).
CHECK_BATCH = 3
ONNX_OPSET = 18
#: Largest image side accepted. An export traces and checks the network on real images of that
#: side on the CPU, and a CIFAR network at C=36 already holds over a gigabyte per feature map
#: of the check batch at 1024; ``info`` takes the same bound, so what it reports can be exported.
MAX_IMAGE_SIZE = 1024
#: Weights beyond which an ONNX file cannot hold them itself: protobuf refuses messages of
#: 2 GiB, and torch.onnx keeps 512 MiB of that for the graph (its own threshold, 1536 MiB).
ONNX_SINGLE_FILE_BYTES = 1536 * 2**20
#: Appended to an ONNX file's name to name the file its weights go to when they do not fit in it.
ONNX_WEIGHTS_SUFFIX = ".data"

_Model = TypeVar("_Model", bound=BaseModel)


class ExportError(FactorNASError):
    """A network cannot be exported, or the exported file computes something else."""


class OutputPathError(ExportError):
    """An output path would destroy an input of the export or another of its outputs, or
    cannot be written at all."""


class ImageSizeError(ExportError):
    """An image side the network cannot take, or too large to be traced."""


class WeightsMismatchError(ExportError):
    """Weights of another network than the one they are loaded into; ``detail`` says where."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"the weights do not fit the network: {detail}")
        self.detail = detail


class LogitsOnly(nn.Module):
    """The evaluation network as deployed: images in, logits out (no auxiliary tuple)."""

    def __init__(self, network: EvalNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.network(images)[0]


# -- where the export writes ------------------------------------------------------------------


def _same_file(a: Path, b: Path) -> bool:
    """Whether writing ``a`` replaces ``b``: the same path once links are resolved, or (both
    existing) the same file under two names, as a hard link makes it."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def _check_place(flag: str, path: Path) -> None:
    """Refuse an output that is a directory, or whose directory does not exist: an export
    creates no directory the user did not make, so a mistyped one is caught, not created."""
    if path.is_dir():
        raise OutputPathError(f"{flag} {path} is a directory: give the path of a file in it")
    parent = path.parent
    if parent.is_dir():
        return
    if parent.exists():
        raise OutputPathError(f"{flag} {path}: {parent} is a file, not a directory")
    raise OutputPathError(
        f"{flag} {path}: directory {parent} does not exist: create it, or choose another path"
    )


def check_outputs(outputs: Mapping[str, Path], inputs: Mapping[str, Path]) -> None:
    """Refuse, before anything is built, any output that would replace what the export reads
    or what it writes under another flag (which would leave one of the two formats).

    ``outputs`` maps each output's flag (``--onnx``) to its path; ``inputs`` maps what each
    input is to the export (``the checkpoint``) to its path.
    """
    checked: dict[str, Path] = {}
    for flag, path in outputs.items():
        _check_place(flag, path)
        for role, source in inputs.items():
            if _same_file(path, source):
                raise OutputPathError(
                    f"{flag} {path} is an input of this export ({role}): choose another output path"
                )
        for other, earlier in checked.items():
            if _same_file(path, earlier):
                raise OutputPathError(
                    f"{other} and {flag} both name {path}: give each format its own path"
                )
        checked[flag] = path


# -- which images the network takes -----------------------------------------------------------


def _first_fitting(network: EvalNetwork, in_channels: int, sides: Iterable[int]) -> int | None:
    """The first of ``sides`` that ``network`` (on the meta device) runs on: a stage that halves
    an odd side, or one below a pixel, fails on shapes alone, before anything is computed."""
    for side in sides:
        try:
            with torch.no_grad():
                network(torch.zeros(1, in_channels, side, side, device="meta"))
        except RuntimeError:
            continue
        return side
    return None


def check_image_size(
    genotype: Genotype, config: NetworkConfig, size: int, label: str = "image size"
) -> None:
    """Refuse a side the network cannot take, naming the sides it does take.

    Which sides fit depends on the stems, the reductions and the genotype's ops (a cifar
    network of 3 cells takes every even side from 2, of 20 cells every multiple of 4, an
    imagenet one of 14 cells 29 to 32, 61 to 64, …), so they are found by trying: shapes alone
    on the meta device, nothing allocated. A fitting side costs one such pass; only a refusal
    tries others, to name the smallest or the nearest ones. Sides above
    :data:`MAX_IMAGE_SIZE` are refused untried. ``label`` names the setting in the message.
    """
    if size > MAX_IMAGE_SIZE:
        raise ImageSizeError(
            f"{label} {size} is too large: factornas takes image sides up to {MAX_IMAGE_SIZE} "
            "(an export runs the network on a batch of images of that side on the CPU)"
        )
    with torch.device("meta"):
        network = build_network(genotype, config).eval()

    def first(sides: Iterable[int]) -> int | None:
        return _first_fitting(network, config.in_channels, sides)

    if size >= 1 and first([size]) == size:
        return
    what = f"this {config.kind} network of {config.layers} cells"
    smallest = first(range(1, MAX_IMAGE_SIZE + 1))
    if smallest is None:
        raise ImageSizeError(f"{what} takes no image side up to {MAX_IMAGE_SIZE}")
    if size < 1:
        raise ImageSizeError(
            f"{label} {size} is not an image side: the smallest side {what} takes is {smallest}"
        )
    if size < smallest:
        raise ImageSizeError(
            f"{label} {size} is too small for {what}: the smallest side it takes is {smallest}"
        )
    below = first(range(size - 1, smallest - 1, -1))
    above = first(range(size + 1, MAX_IMAGE_SIZE + 1))
    nearest = f"are {below} and {above}" if above is not None else f"is {below}"
    raise ImageSizeError(
        f"{label} {size} does not fit the reductions of {what}: the nearest sides it takes "
        f"{nearest}"
    )


# -- what is exported -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetrainRun:
    """A ``factornas train`` run directory as its ``config.json`` describes it: the network,
    its genotype and the side of the images it trained on (the weights are read later, by
    :func:`trained_model`, so that every refusal comes before the large file is loaded)."""

    root: Path
    genotype: Genotype
    network: NetworkConfig
    image_size: int

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG

    @property
    def checkpoint_path(self) -> Path:
        return self.root / CHECKPOINT


def retrain_inputs(run_dir: str | Path) -> dict[str, Path]:
    """The files an export of the run directory ``run_dir`` reads, by what they are to it."""
    root = Path(run_dir)
    return {"the checkpoint": root / CHECKPOINT, "the run's config": root / CONFIG}


def _image_size(config: RetrainConfig) -> int:
    """The side of the images the retraining trained on (its dataset's, from the registry)."""
    _, side = dataset_spec(config.data.dataset).input_shape(config.data)
    return side


def _validated(model: type[_Model], value: Any, section: str, config: Path) -> _Model:
    """``value`` as a ``model``, or an error naming the field of ``config`` at fault."""
    try:
        return model.model_validate(value)
    except ValidationError as error:
        where, problem = first_problem(error, "")
        field = f"{section}.{where}" if where else section
        raise ExportError(
            f"{config} does not describe the network of {config.parent / CHECKPOINT}: {field}: "
            f"{problem}"
        ) from None


def read_retrain_run(run_dir: str | Path) -> RetrainRun:
    """The network a ``factornas train`` run directory retrained, from its ``config.json``."""
    root = Path(run_dir)
    config_path = root / CONFIG
    if not config_path.is_file():
        raise ExportError(f"{root} is not a retraining run directory (no {CONFIG})")
    checkpoint_path = root / CHECKPOINT
    try:
        saved = json.loads(config_path.read_text())
    except ValueError:
        raise ExportError(
            f"{config_path} is damaged (not valid JSON): it cannot describe the network of "
            f"{checkpoint_path}"
        ) from None
    if not isinstance(saved, dict) or not {"config", "genotype"} <= saved.keys():
        raise ExportError(
            f'{config_path} is not a retraining config (a JSON object with "config" and '
            f'"genotype"), so it cannot describe the network of {checkpoint_path} (a search '
            "run has no trained evaluation network: retrain it with `factornas train` first)"
        )
    config = _validated(RetrainConfig, saved["config"], "config", config_path)
    genotype = _validated(Genotype, saved["genotype"], "genotype", config_path)
    return RetrainRun(root, genotype, config.network, _image_size(config))


def _shape(tensor: torch.Tensor) -> str:
    return "×".join(str(n) for n in tensor.shape) or "a scalar"


def _weights_mismatch(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> str | None:
    """The first way ``given`` weights differ from the ``expected`` ones of a network, most
    telling first (a shape says which size differs); ``None`` when they fit."""
    for key, tensor in expected.items():
        if key in given and given[key].shape != tensor.shape:
            return f"{key} is {_shape(given[key])} in the weights, {_shape(tensor)} in the network"
    for missing, whose, absent in (
        ([k for k in expected if k not in given], "the network's", "is not in the weights"),
        ([k for k in given if k not in expected], "the weights'", "has no place in the network"),
    ):
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            return f"{whose} {missing[0]} {absent}{more}"
    return None


def _fix_random_slopes(module: nn.Module) -> None:
    """Replace every RReLU by the LeakyReLU it computes in eval mode (slope (lower + upper)/2):
    the same function, and torch.onnx has no conversion for RReLU."""
    for name, child in module.named_children():
        if isinstance(child, nn.RReLU):
            setattr(module, name, nn.LeakyReLU((child.lower + child.upper) / 2))
        else:
            _fix_random_slopes(child)


def inference_model(
    genotype: Genotype, config: NetworkConfig, state: Mapping[str, torch.Tensor] | None = None
) -> LogitsOnly:
    """The network in eval mode, with ``state`` loaded when given (auxiliary head dropped).

    Raises:
        WeightsMismatchError: ``state`` holds the weights of another network (its keys or
            shapes differ), said in one line instead of torch's list of every difference.
    """
    network = build_network(genotype, config)
    if state is not None:
        mismatch = _weights_mismatch(network.state_dict(), state)
        if mismatch is not None:
            raise WeightsMismatchError(mismatch)
        network.load_state_dict(state)
    network.auxiliary_head = None
    network.drop_path_prob = 0.0
    _fix_random_slopes(network)
    return LogitsOnly(network).eval()


def trained_model(run: RetrainRun) -> LogitsOnly:
    """The network of ``run`` with the weights of its ``checkpoint.pt`` (last finished epoch).

    Raises:
        ExportError: the checkpoint holds no network weights, or those of another network than
            ``config.json`` describes (an edited config, or one copied from another run).
    """
    weights = load_checkpoint(run.checkpoint_path).get("model")
    if not isinstance(weights, dict) or not all(
        isinstance(t, torch.Tensor) for t in weights.values()
    ):
        raise ExportError(f"{run.checkpoint_path} holds no evaluation network weights")
    try:
        return inference_model(run.genotype, run.network, weights)
    except WeightsMismatchError as error:
        net = run.network
        raise ExportError(
            f"{run.checkpoint_path} does not fit the network {run.config_path} describes "
            f"({net.kind}, C={net.channels}, {net.layers} cells, {net.num_classes} classes): "
            f"{error.detail}; was {CONFIG} edited, or copied from another run?"
        ) from None


def sample_batch(config: NetworkConfig, image_size: int, seed: int = 0) -> torch.Tensor:
    """A fixed random batch of the network's input shape, for tracing and checking."""
    generator = torch.Generator().manual_seed(seed)
    shape = (CHECK_BATCH, config.in_channels, image_size, image_size)
    return torch.randn(shape, generator=generator)


# -- writing and checking the files -----------------------------------------------------------


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


@dataclass(frozen=True)
class OnnxFiles:
    """What :func:`export_onnx` wrote: the model, the file holding its weights when they are
    too large for it (``None``: the model is self-contained), and onnxruntime's largest
    difference from PyTorch (``None``: onnxruntime is not installed, nothing was checked)."""

    model: Path
    weights: Path | None
    diff: float | None


def onnx_weights_path(model: nn.Module, path: str | Path) -> Path | None:
    """Where the ONNX export of ``model`` to ``path`` puts its weights when they exceed
    :data:`ONNX_SINGLE_FILE_BYTES` (``<path>.data``), or ``None``: they fit in the file."""
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    if size <= ONNX_SINGLE_FILE_BYTES:
        return None
    path = Path(path)
    return path.with_name(path.name + ONNX_WEIGHTS_SUFFIX)


def _point_weights_at(model_file: Path, weights_name: str) -> None:
    """Make every external tensor of ``model_file`` read its bytes from ``weights_name``
    (beside it): the weights were written under a temporary name, renamed once checked."""
    import onnx

    proto = onnx.load(str(model_file), load_external_data=False)
    graphs = [proto.graph]
    while graphs:
        graph = graphs.pop()
        for tensor in graph.initializer:
            for entry in tensor.external_data:
                if entry.key == "location":
                    entry.value = weights_name
        for node in graph.node:
            for attribute in node.attribute:
                graphs.extend([attribute.g] if attribute.HasField("g") else attribute.graphs)
    onnx.save(proto, str(model_file))


def export_onnx(model: LogitsOnly, images: torch.Tensor, path: str | Path) -> OnnxFiles:
    """Write ``model`` as ONNX (torch.export based, dynamic batch), named images → logits,
    and check it with onnxruntime before it replaces ``path``.

    torch.onnx.export, given a file, writes the weights to ``<file>.data`` beside it by default
    (``external_data=True``): a file that does not load once copied alone, and one named after
    the temporary here. So the exporter is asked for the program only and it is saved here: in
    one file, or, past :data:`ONNX_SINGLE_FILE_BYTES`, with its weights in ``<path>.data``
    (:func:`onnx_weights_path`), written as a temporary too and renamed after the check.
    """
    try:
        from onnxscript import ir
    except ImportError:
        raise ExportError(
            "ONNX export needs onnx and onnxscript: pip install 'factornas[export]'"
        ) from None
    path = Path(path)
    with _quiet_exporter():
        program = torch.onnx.export(
            model,
            (images,),
            dynamo=True,
            input_names=["images"],
            output_names=["logits"],
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            opset_version=ONNX_OPSET,
            verbose=False,
        )
    assert program is not None  # the dynamo exporter returns its program
    weights = onnx_weights_path(model, path)
    with atomic_path(path) as model_file:
        if weights is None:
            ir.save(program.model, model_file)
            return OnnxFiles(path, None, check_onnx(model, images, model_file, path))
        with atomic_path(weights) as weights_file:
            ir.save(program.model, model_file, external_data=weights_file.name)
            diff = check_onnx(model, images, model_file, path)
            _point_weights_at(model_file, weights.name)
        return OnnxFiles(path, weights, diff)


def check_onnx(
    model: LogitsOnly, images: torch.Tensor, path: Path, name: Path | None = None
) -> float | None:
    """Largest difference between onnxruntime's logits and PyTorch's (``None`` without
    onnxruntime); above :data:`TOLERANCE` is an :class:`ExportError` naming the file ``name``
    (default ``path``: the destination, when ``path`` is its temporary)."""
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["logits"], {"images": images.numpy()})
    with torch.no_grad():
        want = model(images)
    return _check_close("ONNX", name or path, torch.from_numpy(got), want)


def export_torchscript(model: LogitsOnly, images: torch.Tensor, path: str | Path) -> float:
    """Write ``model`` traced to TorchScript, reload it and return the largest difference;
    the file replaces ``path`` only once it has passed.

    Traced, not scripted: the cells' Python control flow depends only on the architecture,
    which tracing bakes in.
    """
    path = Path(path)
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(model, (images,))
        with atomic_path(path) as file:
            torch.jit.save(traced, str(file))
            loaded = torch.jit.load(str(file))
            return _check_close("TorchScript", path, loaded(images), model(images))

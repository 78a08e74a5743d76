"""ImageNet search data: PC-DARTS's class-balanced subsets of the ILSVRC2012 training folder.

Search-train and search-val are two disjoint, class-balanced samples of ``root/train`` (10% and
2.5% by default), drawn by seed on the first run and saved as file lists in the run directory.
A resumed search reads those lists back and never samples again, so it keeps using the images
it started with even if the folder has changed since.

JPEGs are decoded and augmented (random-resized crop, flip) by ``DataLoader`` workers; the
uint8 batches are normalized on the device. Every augmentation draw is a function of
(seed, epoch, image index) inside :class:`~factornas.data.ImageFolderDataset`, never of worker
scheduling or of the loop's generator, so a resumed search sees exactly the same pixels. The
epoch travels *with each index* to the workers instead of through ``set_epoch`` on the parent's
copy: workers hold a copy of the dataset taken when their loader started, and the validation
loader lives across epochs.

Batch orders come from :class:`~factornas.data.EpochBatches`, a pure function of
(seed, epoch): resuming at step ``s`` hands the loader only the batches from ``s`` on, so the
skipped ones are never decoded. Under ``torchrun`` every rank computes the same global order
and decodes only its contiguous slice of each global batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed
from torch.utils.data import DataLoader, Dataset

from factornas.data import (
    Batch,
    CyclingBatches,
    DataError,
    EpochBatches,
    FileList,
    ImageFolderDataset,
    normalize_batch,
    read_file_list,
    sample_imagenet_subset,
    write_file_list,
)
from factornas.runtime.distributed import DistContext
from factornas.runtime.owned import owner
from factornas.runtime.rundir import CHECKPOINT
from factornas.search.config import SearchConfig

#: One image to decode: (augmentation epoch, index into the file list).
Key = tuple[int, int]

TRAIN_FILES = "search_train_files.json"
VAL_FILES = "search_val_files.json"


class _KeyedImages(Dataset[tuple[torch.Tensor, int] | DataError]):
    """An :class:`ImageFolderDataset` indexed by (epoch, index) keys.

    A :class:`DataError` (missing or corrupt image) is *returned*, not raised: raised in a
    worker, ``DataLoader`` would re-raise it with the worker's whole traceback as its message,
    and the user must get the original one-line message that names the file.
    """

    def __init__(self, images: ImageFolderDataset) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, int] | DataError:
        epoch, index = key
        self.images.set_epoch(epoch)
        try:
            return self.images[index]
        except DataError as error:
            return error


def _collate(items: list[tuple[torch.Tensor, int] | DataError]) -> Batch | DataError:
    """Stack uint8 images and labels, or pass the batch's first decoding error through."""
    images, labels = [], []
    for item in items:
        if isinstance(item, DataError):
            return item
        images.append(item[0])
        labels.append(item[1])
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


def _available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def search_file_lists(
    config: SearchConfig, dist: DistContext, run_root: Path
) -> tuple[FileList, FileList]:
    """The (search-train, search-val) lists of this run, identical on every rank.

    Rank 0 samples and writes them unless the run resumes a checkpoint, in which case they
    must already be in the run directory; then every rank reads the written files, so all
    ranks (and every later resume) use exactly the same images.
    """
    data = config.data
    if data.root is None:
        raise DataError(
            "ImageNet is not downloadable: pass --data pointing at the ILSVRC2012 folder "
            "(root/train/<wnid>/*.JPEG)"
        )
    if data.subset is not None:
        raise DataError(
            "--subset does not apply to ImageNet: the search subsets are set by "
            "data.imagenet.train_fraction and data.imagenet.val_fraction"
        )
    paths = (run_root / TRAIN_FILES, run_root / VAL_FILES)
    if dist.is_main:
        if (run_root / CHECKPOINT).exists():
            for path in paths:
                if not path.is_file():
                    raise DataError(
                        f"{path} is missing but {run_root} holds a checkpoint: a resumed search "
                        "must keep its images; restore the file, or start over with --overwrite"
                    )
        else:
            sampled = sample_imagenet_subset(
                data.root,
                data.imagenet.train_fraction,
                data.imagenet.val_fraction,
                seed=config.seed,
            )
            run = owner(run_root)
            if run is not None:
                run.record([path.name for path in paths])
            for path, files in zip(paths, sampled, strict=True):
                write_file_list(path, files)
    if dist.enabled:
        torch.distributed.barrier()
    train_folder = Path(data.root) / "train"
    train, val = (read_file_list(path, root=train_folder) for path in paths)
    if train.classes != val.classes:
        raise DataError(
            f"{paths[0]} and {paths[1]} list different classes: delete both, or start over "
            "with --overwrite"
        )
    return train, val


@dataclass(frozen=True)
class _Decoding:
    """How batches are decoded and where they go.

    Kept apart from :class:`ImageNetSearchData` so that a live batch generator does not
    reference the data object: a reference cycle would leave the loader to the garbage
    collector, whose teardown order makes worker shutdown wait out its 5 s timeout.
    """

    workers: int
    device: torch.device
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def load(self, images: _KeyedImages, batches: Iterable[list[Key]]) -> Iterator[Batch]:
        """Decode ``batches`` in worker processes and normalize them on the device."""
        loader = DataLoader(
            images,
            batch_sampler=batches,
            num_workers=self.workers,
            collate_fn=_collate,
            pin_memory=self.device.type == "cuda",
        )
        for batch in loader:
            if isinstance(batch, DataError):
                raise DataError(str(batch)) from None
            x, y = batch
            x = x.to(self.device, non_blocking=True)
            yield (
                normalize_batch(x, mean=self.mean, std=self.std),
                y.to(self.device, non_blocking=True),
            )


def _cycling_keys(order: dict[str, Any], state: dict[str, Any]) -> Iterator[list[Key]]:
    """The validation stream's batches from ``state`` on, each index keyed by its pass."""
    feed = CyclingBatches(**order)
    feed.load_state_dict(state)
    while True:
        index = feed.next()
        yield [(feed.epoch, i) for i in index.tolist()]


class ImageNetSearchData:
    """The :class:`~factornas.search.data.SearchData` of a direct ImageNet search.

    ``config.batch_size`` is the global batch; each of the ``world_size`` ranks decodes
    ``batch_size / world_size`` images per step. Two loaders run per rank, each with
    ``config.data.workers`` processes (at most as many as the rank may use CPUs): one per
    training epoch (started afresh each epoch) and one for the validation stream (kept for the
    whole search, restarted only on resume).
    """

    def __init__(
        self, config: SearchConfig, dist: DistContext, device: torch.device, run_root: Path
    ) -> None:
        if config.batch_size % dist.world_size:
            raise DataError(
                f"batch size {config.batch_size} does not split over {dist.world_size} "
                "processes: use a multiple of the process count"
            )
        data = config.data
        train, val = search_file_lists(config, dist, Path(run_root))
        self.config = config
        self.dist = dist
        self.num_classes = len(train.classes)
        self.in_channels = 3
        self.decoding = _Decoding(
            # Workers beyond this process's CPUs only oversubscribe them (and make torch warn).
            workers=min(data.imagenet.workers, _available_cpus()),
            device=device,
            mean=data.imagenet.mean,
            std=data.imagenet.std,
        )
        size, resize = data.imagenet.image_size, data.imagenet.resize
        # As PC-DARTS, architecture steps see training-style augmented validation images;
        # only the per-epoch score uses the deterministic evaluation view.
        self.train_images = _KeyedImages(
            ImageFolderDataset(train, train=True, size=size, resize=resize, seed=config.seed)
        )
        self.val_images = _KeyedImages(
            ImageFolderDataset(val, train=True, size=size, resize=resize, seed=config.seed + 1)
        )
        self.eval_images = _KeyedImages(
            ImageFolderDataset(val, train=False, size=size, resize=resize)
        )
        shard = {"rank": dist.rank, "world_size": dist.world_size}
        self.train_order = EpochBatches(
            len(train), config.batch_size, seed=config.seed, drop_last=True, **shard
        )
        self.steps_per_epoch = self.train_order.batches_per_epoch
        self.val_order_args: dict[str, Any] = {
            "num_items": len(val),
            "batch_size": config.batch_size,
            "seed": config.seed + 1,
            "drop_last": True,
            **shard,
        }
        # What the loop has consumed; the loader's own feed runs ahead by its prefetch.
        self.val_consumed = CyclingBatches(**self.val_order_args)
        self._val_stream: Iterator[Batch] | None = None

    def train_batches(self, epoch: int, start_step: int, rng: torch.Generator) -> Iterator[Batch]:
        """This rank's batches ``start_step..`` of ``epoch``; the skipped ones are not read.

        ``rng`` is unused: ImageNet augmentation is drawn per image from (seed, epoch, index).
        """
        batches = [
            [(epoch, i) for i in index.tolist()]
            for index in self.train_order.iter_epoch(epoch, start_step)
        ]
        yield from self.decoding.load(self.train_images, batches)

    def next_val_batch(self, rng: torch.Generator) -> Batch:
        """The next batch of the endless, checkpointed validation stream (``rng`` unused)."""
        if self._val_stream is None:
            keys = _cycling_keys(self.val_order_args, self.val_consumed.state_dict())
            self._val_stream = self.decoding.load(self.val_images, keys)
        batch = next(self._val_stream)
        self.val_consumed.next()
        return batch

    def eval_batches(self, limit: int | None) -> Iterator[Batch]:
        """The validation split in order, evaluation view, this rank's share of each batch."""
        size = self.config.batch_size
        n = len(self.eval_images)
        batches = []
        for start in range(0, n, size)[:limit]:
            share = torch.arange(start, min(start + size, n)).tensor_split(self.dist.world_size)
            if len(share[self.dist.rank]):
                batches.append([(0, i) for i in share[self.dist.rank].tolist()])
        yield from self.decoding.load(self.eval_images, batches)

    def val_stream_state(self) -> dict[str, Any]:
        return self.val_consumed.state_dict()

    def load_val_stream_state(self, state: dict[str, Any]) -> None:
        """Continue the validation stream from ``state``; the prefetching loader restarts."""
        self.val_consumed.load_state_dict(state)
        self._val_stream = None

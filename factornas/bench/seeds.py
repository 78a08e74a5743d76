"""``bench compare --seeds``: which seeds a comparison or a seed sweep runs.

Three forms, so that a sweep can be widened or split without renumbering: ``3`` is a count
(seeds 0, 1, 2: the form every comparison so far was run with, kept so its command lines still
mean the same), ``0-9`` an inclusive range, ``0,3,7`` a list. A seed is a pair's identity (its
run directories are ``seed<k>``), so a later ``--seeds 0-19`` reuses the runs of ``0-9``.
"""

from __future__ import annotations

from collections.abc import Sequence

from factornas.errors import FactorNASError
from factornas.runtime.rng import MAX_SEED

_FORMS = "a count (3), an inclusive range (0-9) or a list (0,3,7)"
#: The most seeds one arm runs. Each seed is a whole search and retraining, so a count past
#: this is a typo, not a sweep; refusing it up front keeps a slip from queueing (or, for a
#: range of 10^7, merely enumerating) millions of pairs.
MAX_SEEDS = 1000


def _seed(text: str, given: str) -> int:
    if not text.strip().isdigit():
        raise FactorNASError(f"--seeds {given}: {text.strip()!r} is not a seed; give {_FORMS}")
    seed = int(text)
    if seed > MAX_SEED:
        raise FactorNASError(f"--seeds {given}: seed {seed} is above the largest, {MAX_SEED}")
    return seed


def _count(count: int, given: str) -> int:
    if count > MAX_SEEDS:
        raise FactorNASError(
            f"--seeds {given}: {count} seeds per arm; at most {MAX_SEEDS} (each seed is a whole "
            "search and retraining)"
        )
    return count


def parse_seeds(text: str) -> tuple[int, ...]:
    """The seeds ``text`` names, in the order given, each once; a malformed one is refused in
    one line that shows the three forms."""
    text = text.strip()
    if "," in text:
        seeds = tuple(_seed(part, text) for part in text.split(",") if part.strip())
        _count(len(seeds), text)
    elif "-" in text:
        first, _, last = text.partition("-")
        low, high = _seed(first, text), _seed(last, text)
        if high < low:
            raise FactorNASError(f"--seeds {text}: the range ends before it starts; give {_FORMS}")
        seeds = tuple(range(low, low + _count(high - low + 1, text)))
    else:
        count = text.strip()
        if not count.isdigit():
            raise FactorNASError(f"--seeds {text}: {count!r} is not a seed; give {_FORMS}")
        seeds = tuple(range(_count(int(count), text)))
    if not seeds:
        raise FactorNASError(f"--seeds {text}: no seed; give {_FORMS}")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise FactorNASError(
            f"--seeds {text}: seed {', '.join(map(str, repeated))} listed twice; each seed is "
            "one run per arm"
        )
    return seeds


def format_seeds(seeds: Sequence[int]) -> str:
    """The shortest ``--seeds`` text for ``seeds``: the count when they are 0 to n − 1 (as
    every command line before the other forms wrote it), a range when consecutive, else the
    list."""
    seeds = tuple(seeds)
    if seeds == tuple(range(len(seeds))):
        return str(len(seeds))
    if seeds == tuple(range(seeds[0], seeds[-1] + 1)):  # one seed k: k-k (k alone is a count)
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))

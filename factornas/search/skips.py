"""DARTS+'s early stop: a normal cell collapsing into skip connections ends the search."""

from __future__ import annotations

from factornas.search.config import SkipGuardConfig


def early_stop(guard: SkipGuardConfig, streak: int, normal_skips: int) -> tuple[int, str | None]:
    """The streak of epochs whose normal cell held ``early_stop_skips`` or more skips, after an
    epoch with ``normal_skips`` of them, and why the search stops (None: it goes on).

    DARTS+ (Liang et al., 2019, §3.3, criterion 1) stops "when there are two or more
    skip-connects in one normal cell", so its threshold is 2: P-DARTS's cap ``max_skips``
    (at most 2 kept) is a separate setting.
    """
    streak = streak + 1 if normal_skips >= guard.early_stop_skips else 0
    if not guard.early_stop or streak < guard.patience:
        return streak, None
    return streak, (
        f"early stop (DARTS+): the normal cell held {normal_skips} ≥ {guard.early_stop_skips} "
        f"{guard.skip_op} for {streak} epoch(s) in a row"
    )

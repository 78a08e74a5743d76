"""``docs/presets.md`` and the presets cannot drift apart: every preset has its table, every
setting it must list is listed with the code's value and a source."""

from __future__ import annotations

from pathlib import Path

import pytest

from factornas.presets.search import SEARCH_PRESETS, search_preset

from .preset_table import documented_settings, parse_tables, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "presets.md"
TABLES = parse_tables(DOC.read_text())


def test_every_preset_has_a_table_and_every_table_a_preset() -> None:
    assert sorted(TABLES) == sorted(SEARCH_PRESETS)


@pytest.mark.parametrize("preset", sorted(SEARCH_PRESETS))
def test_the_table_states_every_setting_as_the_code_resolves_it(preset: str) -> None:
    table = TABLES[preset]
    expected = documented_settings(search_preset(preset))
    missing = [key for key in expected if key not in table]
    assert not missing, f"docs/presets.md, {preset}: no row for {', '.join(missing)}"
    extra = [key for key in table if key not in expected]
    assert not extra, f"docs/presets.md, {preset}: rows for settings it does not have: {extra}"
    for key, value in expected.items():
        written, source = table[key]
        expected_text = render(value)
        assert written == expected_text, f"{preset}: {key} is {expected_text!r}, docs {written!r}"
        assert source, f"docs/presets.md, {preset}: {key} has no source"

"""The combination method list is written once (combination.METHODS); the rest follows it."""

from __future__ import annotations

import re
from pathlib import Path

from megara_crplugin import combination
from megara_crplugin.config import COMBINATIONS
from megara_crplugin.numina import recipes

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_config_and_recipes_follow_combination_methods():
    assert COMBINATIONS == combination.METHODS
    assert (
        recipes.CR_METHODS == combination.CR_METHODS == ("mediancr", "meancrt", "meancr", "meancr2")
    )
    assert recipes.SCIENCE_METHODS == ("mean", "median", "sigmaclip", *combination.CR_METHODS)


def test_combination_page_table_lists_every_method_in_order():
    text = (DOCS / "combination.md").read_text(encoding="utf-8")
    table = text[text.index("| method | value |") :].split("\n\n")[0]
    rows = [m.group(1) for m in re.finditer(r"^\| (\w+) \|", table, re.MULTILINE)]
    assert tuple(rows[1:]) == combination.METHODS  # rows[0] is the header

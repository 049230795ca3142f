"""The conversation evaluation set's test files are frozen: tuning never edits them."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).resolve().parent.parent / "bench" / "data" / "conversation"
FROZEN = {
    "messages_test.csv": "1c694e7e33a601583d355673cffa8d6e10538f7acae1a4120dbcbe9d3dae0139",
    "dialogues_test.yml": "5bb2d3aad85bfe42104008b9680fe248bca4d6fbe203dfbcb9af066a2fa596ac",
    "shop.yml": "e312c3df1e2c09b216e12c6b20d099089b60bdfc5bf2b16e4b146610cccf7dd6",
}


@pytest.mark.parametrize(("name", "digest"), sorted(FROZEN.items()))
def test_frozen_files_are_unchanged(name: str, digest: str) -> None:
    assert hashlib.sha256((DATA / name).read_bytes()).hexdigest() == digest


def test_dev_and_test_splits_share_no_text() -> None:
    def texts(name: str) -> set[str]:
        with (DATA / name).open(encoding="utf-8", newline="") as f:
            return {row["text"].strip().casefold() for row in csv.DictReader(f)}

    assert not texts("messages_dev.csv") & texts("messages_test.csv")
    # the later dev splits were written apart from the others: only short
    # everyday phrases ("thx") may occur in the test split too
    later = sorted(p.name for p in DATA.glob("messages_dev?*.csv"))  # (not messages_dev.csv)
    assert len(later) >= 16
    for dev in later:
        shared = texts(dev) & texts("messages_test.csv")
        assert not {t for t in shared if len(t.split()) >= 4}, dev


def test_every_test_dialogue_names_a_known_order_or_none() -> None:
    shop = yaml.safe_load((DATA / "shop.yml").read_text(encoding="utf-8"))
    refs = {str(o["external_id"]) for o in shop["orders"]}
    dialogues = yaml.safe_load((DATA / "dialogues_test.yml").read_text(encoding="utf-8"))
    expected = [d["expect"]["reveals"] for d in dialogues["dialogues"]]
    assert len(expected) >= 30
    assert all(e is None or str(e) in refs for e in expected), json.dumps(expected)


def test_the_dev_dialogues_share_no_longer_turn_with_the_test_dialogues() -> None:
    """Four-word turns ("where is order 66190") occur in both by nature."""

    def turns(name: str) -> set[str]:
        dialogues = yaml.safe_load((DATA / name).read_text(encoding="utf-8"))["dialogues"]
        return {str(t).strip().casefold() for d in dialogues for t in d["turns"]}

    test = turns("dialogues_test.yml")
    devs = sorted(p.name for p in DATA.glob("dialogues_dev*.yml"))
    assert len(devs) >= 17
    for dev in devs:
        assert not {t for t in turns(dev) & test if len(t.split()) >= 5}, dev


def test_no_longer_test_message_is_in_the_training_data() -> None:
    """Short everyday phrases ("hello", "thanks", "stop") occur in both by nature; anything
    of five words or more in both would be a leak."""
    from nlp.dataset import bundled_examples

    with (DATA / "messages_test.csv").open(encoding="utf-8", newline="") as f:
        test = {row["text"].strip().casefold() for row in csv.DictReader(f)}
    for task in ("intent", "sentiment"):
        trained = {ex.text.strip().casefold() for ex in bundled_examples(task)}
        assert not {t for t in trained & test if len(t.split()) >= 5}, task

"""Versioned model artifacts, plus an ``active`` pointer per task:
``<root>/<task>/<version>/{head.npz,meta.json[,oos_detector.npz][,neighbours.npz][,encoder/]}``."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.head import LinearHead
from nlp.neighbours import NEIGHBOURS_FILE, NeighbourVote
from nlp.ngrams import NGRAMS_FILE, NgramHead, NgramVote, load_head
from nlp.oos import DETECTOR_FILE, OutOfScopeDetector

TASKS = ("intent", "sentiment")


ENCODER_DIR = "encoder"
BASE_HEAD = "base_head"  # fine-tuned mode: the head over the frozen shared encoder


@dataclass
class Artifact:
    task: str
    version: str
    path: Path
    head: LinearHead | NgramHead  # an n-gram head: the shipped sentiment head
    meta: dict[str, Any]

    def extra_head(self, name: str) -> LinearHead | None:
        path = self.path / f"{name}.npz"
        return LinearHead.load(path) if path.is_file() else None

    def oos_detector(self) -> OutOfScopeDetector | None:
        """The version's out-of-scope detector (``oos_detector.npz``), if it has one."""
        path = self.path / DETECTOR_FILE
        return OutOfScopeDetector.load(path) if path.is_file() else None

    def ngrams(self) -> NgramVote | None:
        """The version's character n-gram vote (``ngrams.npz``), if it has one."""
        path = self.path / NGRAMS_FILE
        return NgramVote.load(path) if path.is_file() else None

    def neighbours(self) -> NeighbourVote | None:
        """The version's nearest-neighbour vote (``neighbours.npz``), if it has one."""
        path = self.path / NEIGHBOURS_FILE
        return NeighbourVote.load(path) if path.is_file() else None

    @property
    def encoder_path(self) -> Path | None:
        """The fine-tuned encoder of this version, if it has one."""
        path = self.path / ENCODER_DIR
        return path if path.is_dir() else None


def save_artifact(
    root: Path,
    task: str,
    head: LinearHead | NgramHead,
    meta: dict[str, Any],
    *,
    activate: bool = True,
    encoder_dir: Path | None = None,
    extra_heads: dict[str, LinearHead] | None = None,
    detector: OutOfScopeDetector | None = None,
    neighbours: NeighbourVote | None = None,
    ngrams: NgramVote | None = None,
) -> Artifact:
    """Write a new version of ``task``'s model and (by default) make it the active one.

    ``encoder_dir`` (a fine-tuned encoder) is moved into the version as ``encoder/``;
    ``detector`` (the out-of-scope detector) is saved as ``oos_detector.npz``, ``neighbours``
    (the intent's nearest-neighbour vote) as ``neighbours.npz``, ``ngrams`` (its character
    n-gram vote) as ``ngrams.npz``.
    """
    _check_task(task)
    now = dt.datetime.now(dt.UTC)
    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    path = root / task / version
    path.mkdir(parents=True, exist_ok=False)
    head.save(path / "head.npz")
    for name, extra in (extra_heads or {}).items():
        extra.save(path / f"{name}.npz")
    if detector is not None:
        detector.save(path / DETECTOR_FILE)
    if neighbours is not None:
        neighbours.save(path / NEIGHBOURS_FILE)
    if ngrams is not None:
        ngrams.save(path / NGRAMS_FILE)
    if encoder_dir is not None:
        shutil.move(str(encoder_dir), str(path / ENCODER_DIR))
    full_meta = {
        **meta,
        "task": task,
        "version": version,
        "labels": head.labels,
        "created_at": now.isoformat(),
    }
    (path / "meta.json").write_text(json.dumps(full_meta, indent=2, sort_keys=True))
    if activate:
        activate_version(root, task, version)
    return Artifact(task, version, path, head, full_meta)


def activate_version(root: Path, task: str, version: str) -> None:
    """Point ``task``'s ``active`` file at ``version`` (atomically)."""
    if not (root / task / version / "meta.json").is_file():
        raise FileNotFoundError(f"no {task} model version {version!r} under {root}")
    tmp = root / task / "active.tmp"
    tmp.write_text(version)
    os.replace(tmp, root / task / "active")


def load_active(root: Path, task: str) -> Artifact | None:
    """The active model of ``task``, or None when none was trained yet."""
    _check_task(task)
    pointer = root / task / "active"
    if not pointer.is_file():
        return None
    return load_version(root, task, pointer.read_text().strip())


def load_version(root: Path, task: str, version: str) -> Artifact:
    path = root / task / version
    meta = json.loads((path / "meta.json").read_text())
    return Artifact(task, version, path, load_head(path / "head.npz"), meta)


def active_marker(root: Path) -> tuple[tuple[str, float], ...]:
    """What the ``active`` pointers say now (to notice a new training run)."""
    marks = []
    for task in TASKS:
        pointer = root / task / "active"
        try:
            marks.append((pointer.read_text().strip(), pointer.stat().st_mtime))
        except OSError:
            marks.append(("", 0.0))
    return tuple(marks)


def list_versions(root: Path, task: str) -> list[str]:
    base = root / task
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "meta.json").is_file())


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")

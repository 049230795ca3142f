"""Versioned model artifacts: ``<root>/<task>/<version>/{head.npz,meta.json}`` + ``active``."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp.head import LinearHead

TASKS = ("intent", "sentiment")


@dataclass
class Artifact:
    task: str
    version: str
    path: Path
    head: LinearHead
    meta: dict[str, Any]


def save_artifact(
    root: Path, task: str, head: LinearHead, meta: dict[str, Any], *, activate: bool = True
) -> Artifact:
    """Write a new version of ``task``'s model and (by default) make it the active one."""
    _check_task(task)
    now = dt.datetime.now(dt.UTC)
    version = now.strftime("%Y%m%dT%H%M%S%fZ")
    path = root / task / version
    path.mkdir(parents=True, exist_ok=False)
    head.save(path / "head.npz")
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
    return Artifact(task, version, path, LinearHead.load(path / "head.npz"), meta)


def list_versions(root: Path, task: str) -> list[str]:
    base = root / task
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "meta.json").is_file())


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}")

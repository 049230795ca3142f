"""The models shipped with careloop, so a fresh install needs no training: the sentiment
head, the complaint head (``complaint.npz`` / ``complaint.json``, built the same way by
:mod:`nlp.complaint_build` and checked the same way by :func:`shipped_complaint`), and the
intent model (head and out-of-scope detector; see the end of this module).

``nlp/pretrained/sentiment.npz`` (an :class:`~nlp.ngrams.NgramHead`: one regression over
the sentence embedding and the message's character n-grams, plain arrays) and
``sentiment.json`` (how it was built: encoder, sources, sizes, metrics, the head file's
SHA-256 and a probe embedding). The head is only valid over the encoder it was trained
on: :func:`shipped_sentiment` checks the encoder's name, the file's checksum, and that the
encoder embeds a fixed probe sentence as it did at build time (cosine >= 0.999), so a
different model behind the same name is noticed. :mod:`nlp.sentiment_build` writes both
files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from nlp.base import Encoder
from nlp.complaint import ComplaintHead
from nlp.head import LinearHead
from nlp.neighbours import NEIGHBOURS_FILE, NeighbourVote
from nlp.ngrams import NGRAMS_FILE, NgramHead, NgramVote, load_head
from nlp.oos import DETECTOR_FILE, OutOfScopeDetector

log = logging.getLogger(__name__)

HEAD_FILE = "sentiment.npz"
META_FILE = "sentiment.json"
COMPLAINT_HEAD_FILE = "complaint.npz"
COMPLAINT_META_FILE = "complaint.json"
PROBE_TEXT = "Where is my parcel? I ordered it a week ago and it still has not arrived."
PROBE_MIN_COSINE = 0.999


@dataclass(frozen=True)
class ShippedHead:
    head: LinearHead | NgramHead
    meta: dict[str, Any]


@dataclass(frozen=True)
class ShippedComplaint:
    head: ComplaintHead
    meta: dict[str, Any]


def pretrained_dir() -> Path:
    return Path(str(resources.files("nlp") / "pretrained"))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def probe_vector(encoder: Encoder) -> list[float]:
    return [round(float(x), 6) for x in encoder.encode([PROBE_TEXT])[0]]


def write_shipped(
    directory: Path,
    head: LinearHead | NgramHead,
    meta: dict[str, Any],
    encoder: Encoder,
    *,
    files: tuple[str, str] = (HEAD_FILE, META_FILE),
) -> dict[str, Any]:
    """Save ``head`` and its metadata (plus checksum and probe) into ``directory`` as
    ``files`` (head, metadata); returns the metadata as written."""
    directory.mkdir(parents=True, exist_ok=True)
    head_path = directory / files[0]
    head.save(head_path)
    full = {
        **meta,
        "encoder": encoder.name,
        "dimension": head.dimension,
        "labels": head.labels,
        "head_sha256": file_sha256(head_path),
        "probe": {"text": PROBE_TEXT, "vector": probe_vector(encoder)},
    }
    (directory / files[1]).write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
    return full


def shipped_sentiment(encoder: Encoder, directory: Path | None = None) -> ShippedHead | None:
    """The shipped head if it fits ``encoder``; None (with a log line saying why) if not."""
    found = shipped_head(encoder, directory, (HEAD_FILE, META_FILE), load_head)
    return ShippedHead(*found) if found else None


def shipped_complaint(encoder: Encoder, directory: Path | None = None) -> ShippedComplaint | None:
    """The shipped complaint head (:mod:`nlp.complaint_build`) if it fits ``encoder``."""
    files = (COMPLAINT_HEAD_FILE, COMPLAINT_META_FILE)
    found = shipped_head(encoder, directory, files, ComplaintHead.load)
    return ShippedComplaint(*found) if found else None


H = TypeVar("H", bound=LinearHead | NgramHead)


def shipped_head(
    encoder: Encoder, directory: Path | None, files: tuple[str, str], load: Callable[[Path], H]
) -> tuple[H, dict[str, Any]] | None:
    """A head shipped as ``files`` (head, metadata), read by ``load``, if it fits
    ``encoder``; None (with a log line saying why) if not."""
    directory = directory or pretrained_dir()
    head_path, meta_path = directory / files[0], directory / files[1]
    if not head_path.is_file() or not meta_path.is_file():
        log.info("nlu.pretrained.missing dir=%s", directory)
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("encoder") != encoder.name:
        log.info(
            "nlu.pretrained.skip reason=encoder shipped=%s configured=%s",
            meta.get("encoder"),
            encoder.name,
        )
        return None
    if file_sha256(head_path) != meta.get("head_sha256"):
        log.warning("nlu.pretrained.skip reason=checksum file=%s", head_path)
        return None
    head = load(head_path)
    if head.dimension != encoder.dimension:
        log.warning("nlu.pretrained.skip reason=dimension")
        return None
    if not _probe_matches(encoder, meta):
        log.warning("nlu.pretrained.skip reason=probe")
        return None
    return head, meta


# -- the intent model ---------------------------------------------------------------------
#
# ``nlp/pretrained/intent/``: the intent head and its out-of-scope detector, trained on the
# bundled ``nlp/data/intents.yml`` exactly as a first start would (``fast`` mode), so a fresh
# install answers in seconds. It is used only when it matches: same encoder (name and probe
# embedding), the bundled data's fingerprint and the configured out-of-scope weight.
# ``python -m nlp.intent_build`` (``make models``) writes it; a test fails when the bundled
# data changed without a rebuild.

INTENT_DIR = "intent"
INTENT_META = "intent.json"


@dataclass(frozen=True)
class ShippedIntent:
    head: LinearHead
    detector: OutOfScopeDetector | None
    meta: dict[str, Any]
    neighbours: NeighbourVote | None = None
    ngrams: NgramVote | None = None


def write_shipped_intent(
    directory: Path,
    head: LinearHead,
    detector: OutOfScopeDetector | None,
    meta: dict[str, Any],
    encoder: Encoder,
    neighbours: NeighbourVote | None = None,
    ngrams: NgramVote | None = None,
) -> dict[str, Any]:
    """Save the intent head, its detector, its neighbour and n-gram votes and their
    metadata into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    head.save(directory / "head.npz")
    files = {"head.npz": file_sha256(directory / "head.npz")}
    if detector is not None:
        detector.save(directory / DETECTOR_FILE)
        files[DETECTOR_FILE] = file_sha256(directory / DETECTOR_FILE)
    if neighbours is not None:
        neighbours.save(directory / NEIGHBOURS_FILE)
        files[NEIGHBOURS_FILE] = file_sha256(directory / NEIGHBOURS_FILE)
    if ngrams is not None:
        ngrams.save(directory / NGRAMS_FILE)
        files[NGRAMS_FILE] = file_sha256(directory / NGRAMS_FILE)
    full = {
        **meta,
        "encoder": encoder.name,
        "labels": head.labels,
        "files_sha256": files,
        "probe": {"text": PROBE_TEXT, "vector": probe_vector(encoder)},
    }
    (directory / INTENT_META).write_text(json.dumps(full, indent=1, sort_keys=True) + "\n")
    return full


def _probe_matches(encoder: Encoder, meta: dict[str, Any]) -> bool:
    probe = meta.get("probe") or {}
    expected = np.asarray(probe.get("vector") or [], dtype=np.float64)
    got = np.asarray(encoder.encode([str(probe.get("text", PROBE_TEXT))])[0], dtype=np.float64)
    if expected.shape != got.shape:
        return False
    cosine = float(expected @ got / (np.linalg.norm(expected) * np.linalg.norm(got) + 1e-12))
    return cosine >= PROBE_MIN_COSINE


def intent_build(meta: dict[str, Any]) -> str:
    """Which build of a shipped intent model ``meta`` describes: a fingerprint of its
    files' checksums."""
    files = meta.get("files_sha256") or {}
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def shipped_intent_build(directory: Path | None = None) -> str | None:
    """Which build of the shipped intent model this release carries (None: it has none)."""
    meta_path = (directory or pretrained_dir() / INTENT_DIR) / INTENT_META
    if not meta_path.is_file():
        return None
    return intent_build(json.loads(meta_path.read_text(encoding="utf-8")))


def shipped_intent(
    encoder: Encoder,
    *,
    data_sha256: str,
    oos_weight: float,
    directory: Path | None = None,
) -> ShippedIntent | None:
    """The shipped intent model if it fits (see above); None, with a log line why, if not."""
    directory = directory or pretrained_dir() / INTENT_DIR
    meta_path = directory / INTENT_META
    if not meta_path.is_file():
        log.info("nlu.pretrained.missing task=intent dir=%s", directory)
        return None
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    why = None
    if meta.get("encoder") != encoder.name:
        why = "encoder"
    elif meta.get("data_sha256") != data_sha256:
        why = "data"  # the bundled examples changed since the build
    elif abs(float(meta.get("oos_weight", -1.0)) - oos_weight) > 1e-9:
        why = "oos_weight"
    elif any(
        not (directory / name).is_file() or file_sha256(directory / name) != sha
        for name, sha in (meta.get("files_sha256") or {}).items()
    ):
        why = "checksum"
    elif not _probe_matches(encoder, meta):
        why = "probe"
    if why is not None:
        log.info("nlu.pretrained.skip task=intent reason=%s", why)
        return None
    head = LinearHead.load(directory / "head.npz")
    detector_path = directory / DETECTOR_FILE
    detector = OutOfScopeDetector.load(detector_path) if detector_path.is_file() else None
    neighbours_path = directory / NEIGHBOURS_FILE
    neighbours = NeighbourVote.load(neighbours_path) if neighbours_path.is_file() else None
    ngrams_path = directory / NGRAMS_FILE
    ngrams = NgramVote.load(ngrams_path) if ngrams_path.is_file() else None
    return ShippedIntent(head, detector, meta, neighbours, ngrams)

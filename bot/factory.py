"""Builds the conversation engine from the settings (models loaded once per process)."""

from __future__ import annotations

import logging
import time

from bot.engine import Engine
from bot.responses import ResponseBook
from careloop.config import Settings
from nlp.encoder import SentenceEncoder
from nlp.pipeline import NLUConfig, load_nlu

log = logging.getLogger(__name__)


def nlu_config(settings: Settings) -> NLUConfig:
    return NLUConfig(
        model_dir=settings.effective_model_dir,
        intent_data=settings.intent_data,
        sentiment_data=settings.sentiment_data,
        intent_threshold=settings.intent_threshold,
    )


def build_engine(settings: Settings, encoder: SentenceEncoder | None = None) -> Engine:
    """Load the encoder and the active NLU models (training them on first start)."""
    started = time.perf_counter()
    encoder = encoder or SentenceEncoder(settings.encoder_model or None)
    nlu = load_nlu(encoder, nlu_config(settings))
    responses = ResponseBook.load(settings.responses_file)
    log.info(
        "bot.engine.ready encoder=%s seconds=%.1f", encoder.name, time.perf_counter() - started
    )
    return Engine(nlu, responses)

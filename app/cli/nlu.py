"""`careloop nlu ...`: train, evaluate and try the NLU models."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from app.cli.common import fail, load_settings, open_session

nlu_app = typer.Typer(help="Train, evaluate and try the NLU models.", no_args_is_help=True)


@nlu_app.command("train")
def nlu_train(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    data: Annotated[Path | None, typer.Option(help="YAML or text,label CSV file.")] = None,
    mode: Annotated[
        str, typer.Option(help="fast (frozen encoder + head, seconds) or finetune (minutes).")
    ] = "fast",
    corrections: Annotated[
        bool,
        typer.Option(help="Add the agents' intent corrections from the database (intent)."),
    ] = True,
) -> None:
    """Train a model and make it the active one (a running server reloads it by itself).
    Intent training adds every intent correction agents made in the inbox."""
    from bot.factory import nlu_config
    from crm.conversations import inbox
    from nlp.dataset import DataError, Example
    from nlp.encoder import SentenceEncoder
    from nlp.pipeline import train_task

    settings = load_settings()
    _check_task(task)
    _check_mode(mode)
    extra: list[Example] = []
    if task == "intent" and corrections:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with open_session(settings) as session:
                extra = [Example(text, label) for text, label in inbox.corrections(session)]
        except SQLAlchemyError as exc:  # no database yet: train on the file alone
            typer.echo(f"note: no intent corrections read ({type(exc).__name__})", err=True)
    encoder = SentenceEncoder(settings.encoder_model or None)
    try:
        artifact = train_task(encoder, nlu_config(settings), task, data, mode=mode, extra=extra)
    except DataError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        json.dumps(
            {
                "task": task,
                "mode": mode,
                "version": artifact.version,
                "corrections": len(extra),
                **artifact.meta["metrics"],
            }
        )
    )


@nlu_app.command("evaluate")
def nlu_evaluate(
    task: Annotated[str, typer.Option(help="intent or sentiment.")],
    train: Annotated[Path, typer.Option(help="Training CSV (text,label).")],
    test: Annotated[Path, typer.Option(help="Test CSV (text,label).")],
    oos_label: Annotated[
        str | None, typer.Option(help="Label that marks out-of-scope test rows.")
    ] = None,
    mode: Annotated[str, typer.Option(help="fast or finetune.")] = "fast",
) -> None:
    """Train on TRAIN and report accuracy and macro-F1 on TEST as one JSON object.

    With --oos-label the out-of-scope detector (nlp/oos.py, the bot's own) rejects messages
    outside the trained intents; the report adds in_scope_accuracy, oos_recall, oos_auroc,
    the threshold and how it was chosen (from TRAIN only: its out-of-scope rows if it has
    some, else intents held out of TRAIN as pseudo out-of-scope). CARELOOP_INTENT_THRESHOLD
    set = the max-softmax rule at that confidence instead."""
    from nlp.dataset import DataError, load_examples
    from nlp.encoder import SentenceEncoder
    from nlp.evaluation import evaluate

    settings = load_settings()
    _check_task(task)
    _check_mode(mode)
    try:
        train_rows, test_rows = load_examples(train), load_examples(test)
    except DataError as exc:
        raise fail(str(exc)) from None
    encoder = SentenceEncoder(settings.encoder_model or None)
    report = evaluate(
        encoder,
        train_rows,
        test_rows,
        oos_label=oos_label,
        threshold=settings.intent_threshold,
        mode=mode,
    )
    typer.echo(json.dumps(report))


@nlu_app.command("predict")
def nlu_predict(text: Annotated[str, typer.Argument(help="A customer message.")]) -> None:
    """Print the intent and sentiment of one message as JSON."""
    from bot.factory import nlu_config
    from nlp.encoder import SentenceEncoder
    from nlp.pipeline import load_nlu

    settings = load_settings()
    nlu = load_nlu(SentenceEncoder(settings.encoder_model or None), nlu_config(settings))
    started = time.perf_counter()
    result = nlu.understand(text).as_dict()
    result["ms"] = round(1000 * (time.perf_counter() - started), 2)
    typer.echo(json.dumps(result))


def _check_mode(mode: str) -> None:
    from nlp.finetune import MODES

    if mode not in MODES:
        raise fail(f"unknown mode {mode!r}; use fast or finetune", 2)


def _check_task(task: str) -> None:
    if task not in ("intent", "sentiment"):
        raise fail(f"unknown task {task!r}; use intent or sentiment", 2)

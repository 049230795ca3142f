"""NLU components on small data: loading, calibration, fallback, artifacts, reload."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from nlp.base import FALLBACK_INTENT
from nlp.classifiers import IntentClassifier
from nlp.complaint import ComplaintHead
from nlp.dataset import (
    DataError,
    Example,
    bundled_data_path,
    bundled_examples,
    chat_messages,
    load_examples,
    own_examples,
)
from nlp.encoder import SentenceEncoder, resolve_encoder_path
from nlp.head import LinearHead
from nlp.neighbours import NeighbourVote
from nlp.ngrams import NgramRows
from nlp.pipeline import NLU, NLUConfig, load_nlu
from nlp.store import list_versions, load_active, save_artifact


def test_bundled_data_covers_the_domain() -> None:
    intents = {ex.label for ex in load_examples(bundled_data_path("intent"))}
    for needed in (
        "greet",
        "order_status",
        "refund_return",
        "complaint",
        "human_agent",
        "opt_out",
        "out_of_scope",
    ):
        assert needed in intents
    sentiments = {ex.label for ex in load_examples(bundled_data_path("sentiment"))}
    assert sentiments == {"negative", "neutral", "positive"}


def test_the_written_chat_messages_use_the_bots_labels_and_add_to_its_intents() -> None:
    messages = chat_messages()
    own = own_examples("intent")
    assert len(messages) >= 800
    assert {m.intent for m in messages} == {ex.label for ex in own}
    assert {m.sentiment for m in messages} == {"negative", "neutral", "positive"}
    assert 0.3 < sum(m.escalate for m in messages) / len(messages) < 0.5
    texts = [ex.text.casefold() for ex in bundled_examples("intent")]
    assert len(texts) == len(own) + len(messages) == len(set(texts))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ("words,category\nhi,greet\n", "line 1"),
        ('text,label\n"hi",greet\n"",greet\n', "line 3: empty text"),
        ('text,label\n"hi",\n', "line 2: empty label"),
        ('text,label\n"hi",greet,extra\n', "line 2: expected 2 fields"),
    ],
)
def test_csv_errors_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_examples(path)


def test_csv_quoted_fields_and_bom(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes('\ufefftext,label\n"hello, there",greet\n"multi\nline",other\n'.encode())
    assert load_examples(path) == [
        Example("hello, there", "greet"),
        Example("multi\nline", "other"),
    ]


def test_non_utf8_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ncaf\xe9,x\n".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        load_examples(path)
    with pytest.raises(DataError, match="not found"):
        load_examples(tmp_path / "missing.csv")


def test_yaml_errors(tmp_path: Path) -> None:
    path = tmp_path / "data.yml"
    path.write_text("intents:\n  greet: hello\n")
    with pytest.raises(DataError, match="must be a list"):
        load_examples(path)


def test_confidences_are_probabilities_and_low_confidence_is_fallback(nlu: NLU) -> None:
    vectors = nlu.encoder.encode(["where is my order", "asdf qwerty zxcv"])
    probs = nlu.intent.head.predict_proba(vectors)
    assert np.allclose(probs.sum(axis=1), 1.0)
    strict = IntentClassifier(nlu.intent.head, threshold=0.999999)
    assert all(p.label == FALLBACK_INTENT for p in strict.predict(vectors))
    lenient = IntentClassifier(nlu.intent.head, threshold=0.0)
    assert lenient.predict(vectors)[0].label == "order_status"


def test_understanding_of_typical_messages(nlu: NLU) -> None:
    cases = {
        "hi there": "greet",
        "when will my parcel arrive": "order_status",
        "I'd like to return these shoes": "refund_return",
        "let me speak to a real person": "human_agent",
        "stop sending me offers": "opt_out",
    }
    results = nlu.understand_batch(list(cases))
    assert [r.intent.label for r in results] == list(cases.values())
    assert nlu.understand("this is awful, I'm so angry").sentiment.label == "negative"
    assert nlu.understand("thank you, you were great").sentiment.score > 0.5


def test_the_ngram_rows_are_the_vectorizers_own() -> None:
    """The shipped complaint head's tf-idf rows, computed by careloop, equal scikit-learn's
    ``transform`` on the writers' messages and on odd input."""
    head = ComplaintHead.load(Path(str(resources.files("nlp") / "pretrained" / "complaint.npz")))
    texts = [m.text for m in chat_messages()] + [
        "",
        "   ",
        "🙂🙂🙂",
        "ЗАКАЗ НЕ ПРИШЁЛ!!!",
        "zzzzqqqq xxyy",
        "where is order O0001234? " * 160,
        "ein Päckchen, ça suffit, 注文はどこ",
    ]
    ours = NgramRows(head.vectorizer)(texts)
    theirs = head.vectorizer.transform(texts)
    assert ours.shape == theirs.shape == (len(texts), len(head.vectorizer.vocabulary_))
    assert abs(ours - theirs).max() < 1e-12
    assert ours[len(texts) - 6].nnz == 0  # (no n-gram of "   " is known: an empty row)
    assert NgramRows(head.vectorizer)([]).shape == (0, len(head.vectorizer.vocabulary_))
    # the heads read the product with their weights, taken without the sparse matrix
    weights = head.head.columns[head.dimension :]
    product = NgramRows(head.vectorizer).dot(texts, weights)
    assert product.shape == (len(texts), 2)
    assert np.abs(product - theirs @ weights).max() < 1e-12
    assert NgramRows(head.vectorizer).dot([], weights).shape == (0, 2)


def test_head_save_load_round_trip(tmp_path: Path, nlu: NLU) -> None:
    head = nlu.intent.head
    head.save(tmp_path / "head.npz")
    loaded = LinearHead.load(tmp_path / "head.npz")
    vectors = nlu.encoder.encode(["cancel my order"])
    assert loaded.labels == head.labels
    assert np.allclose(loaded.predict_proba(vectors), head.predict_proba(vectors))


def test_binary_head(encoder: SentenceEncoder) -> None:
    texts = ["good", "great", "fine", "bad", "awful", "terrible"]
    labels = ["pos", "pos", "pos", "neg", "neg", "neg"]
    head = LinearHead.fit(encoder.encode(texts), labels)
    probs = head.predict_proba(encoder.encode(["excellent", "horrible"]))
    assert head.labels == ["neg", "pos"]
    assert probs[0, 1] > 0.5 > probs[1, 1]


def test_the_nearest_examples_outvote_a_head_pulled_the_wrong_way(tmp_path: Path) -> None:
    # two intents in a plane; the head leans to "b" for a message that sits among "a"s
    examples = np.array([[1.0, 0.0], [0.98, 0.2], [0.95, -0.3], [0.0, 1.0], [0.2, 0.98]])
    labels = ["a", "a", "a", "b", "b"]
    head = LinearHead(["a", "b"], np.array([[0.0, 0.0], [0.0, 0.0]]), np.array([-0.4, 0.4]))
    message = np.array([[0.97, 0.1]])
    alone = IntentClassifier(head, threshold=0.0)
    assert alone.predict(message)[0].label == "b"
    vote = NeighbourVote.fit(examples, labels, head.labels)
    assert vote.probabilities(message)[0, 0] > 0.99  # its three nearest are all "a"
    voted = IntentClassifier(head, threshold=0.0, neighbours=vote)
    prediction = voted.predict(message)[0]
    assert prediction.label == "a" and 0.5 < prediction.confidence < 1.0
    vote.save(tmp_path / "neighbours.npz")
    loaded = NeighbourVote.load(tmp_path / "neighbours.npz")
    assert (loaded.k, loaded.temperature, loaded.weight) == (vote.k, vote.temperature, vote.weight)
    assert np.allclose(loaded.probabilities(message), vote.probabilities(message), atol=1e-3)


def test_the_detector_reads_the_votes_similarities_and_decides_as_with_its_own(nlu: NLU) -> None:
    # The shipped intent model's out-of-scope reference is its in-scope voting examples:
    # one similarity product per message serves both, with the decisions of two.
    shared = nlu.intent
    assert shared.shared_reference is not None and shared.detector is not None
    own = replace(shared)
    own.shared_reference = None  # the detector multiplies with its own stored reference
    texts = [
        "where is my parcel",
        "cancel order O0000123 please",
        "tell me a joke about penguins",
        "what is the capital of france",
        "I want to speak to a human NOW",
        "quantum chromodynamics lecture notes",
    ]
    vectors = nlu.encoder.encode(texts)
    assert [p.label for p in shared.predict(vectors)] == [p.label for p in own.predict(vectors)]
    assert any(p.label == FALLBACK_INTENT for p in own.predict(vectors))
    probs = shared.probabilities(vectors)
    assert shared.neighbours is not None
    nearest = shared.neighbours.similarities(vectors)[:, shared.shared_reference].max(axis=1)
    np.testing.assert_allclose(
        shared.detector.scores(vectors, probs, nearest),
        shared.detector.scores(vectors, probs),
        atol=0.005,  # the float16 roundings of the two stored copies
    )


def test_artifacts_are_versioned_and_reloaded(tmp_path: Path, encoder: SentenceEncoder) -> None:
    config = NLUConfig(model_dir=tmp_path)
    nlu = load_nlu(encoder, config)  # trains both tasks on first use
    first = load_active(tmp_path, "intent")
    assert first is not None and first.meta["data_sha256"] and first.meta["encoder"]
    assert first.meta["metrics"]["holdout_accuracy"] > 0.6
    assert first.neighbours() is not None  # the intent's examples vote (nlp/neighbours.py)

    texts = ["yes please", "sure", "ok do it", "no thanks", "nope", "not now"]
    labels = ["affirm", "affirm", "affirm", "deny", "deny", "deny"]
    head = LinearHead.fit(encoder.encode(texts), labels)
    save_artifact(tmp_path, "intent", head, {"encoder": encoder.name, "mode": "fast"})
    assert len(list_versions(tmp_path, "intent")) == 2
    nlu.reload(config)
    assert nlu.intent.head.labels == ["affirm", "deny"]
    assert nlu.understand("yes please").intent.ranking[0][0] == "affirm"


def test_the_encoder_answers_callers_in_many_threads_and_in_a_forked_child(
    encoder: SentenceEncoder,
) -> None:
    texts = ["where is my order", "hi there", "my parcel arrived broken", "thanks a lot!"] * 4
    alone = encoder.encode(texts)
    with ThreadPoolExecutor(max_workers=8) as pool:
        each = list(pool.map(lambda t: encoder.encode([t])[0], texts))
    np.testing.assert_allclose(np.stack(each), alone, atol=1e-5)
    if not hasattr(os, "fork"):
        return
    child = os.fork()  # (a process forked after its parent encoded: the parent's thread is gone)
    if child == 0:
        os._exit(0 if np.allclose(encoder.encode(texts[:1]), alone[:1], atol=1e-5) else 1)
    deadline = time.monotonic() + 60
    while (done := os.waitpid(child, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    if done[0] == 0:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        pytest.fail("the forked child did not answer within 60 s")
    assert os.waitstatus_to_exitcode(done[1]) == 0


def test_missing_encoder_path_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="never downloads"):
        resolve_encoder_path("/no/such/model")


def test_any_local_model_path_works_through_config(encoder: SentenceEncoder) -> None:
    same = SentenceEncoder(str(encoder.path))
    assert same.dimension == encoder.dimension == 384

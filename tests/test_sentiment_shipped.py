"""The sentiment head shipped with careloop: loaded at start-up without training, checked
against the encoder, and reading customer text the way a support lead would."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from nlp import pipeline
from nlp.base import Vectors
from nlp.classifiers import SentimentClassifier
from nlp.dataset import (
    CHAT_FEELINGS,
    CHAT_MESSAGES,
    DataError,
    Example,
    bundled_data_path,
    chat_messages,
    data_hash,
    load_examples,
)
from nlp.encoder import SentenceEncoder
from nlp.head import LinearHead
from nlp.pipeline import NLU, NLUConfig, ensure_artifact, train_task
from nlp.pretrained import HEAD_FILE, META_FILE, pretrained_dir, shipped_sentiment
from nlp.sentiment_build import BuildConfig, build, encode_cached, weights_for
from nlp.sentiment_corpora import normalise_tweet, read_corpus
from nlp.store import save_artifact

CLEAR_NEGATIVES = [
    "this is the worst service I have ever had",
    "I'm furious, my parcel is lost again and nobody answers",
    "absolutely useless, I want my money back",
    "the product broke after two days, very disappointed",
]
ROUTINE = [
    "why was I charged 4.99 extra",
    "tell me a joke",
    "bye",
    "what are your opening hours on saturday?",
    "can I change the delivery address of my order?",
    "how do I return an item?",
    "do you ship to Austria?",
]


class Renamed:
    """The real encoder under another configured name (a different model setting)."""

    def __init__(self, encoder: SentenceEncoder, name: str) -> None:
        self._encoder = encoder
        self.name = name
        self.dimension = encoder.dimension

    def encode(self, texts: Sequence[str]) -> Vectors:
        return self._encoder.encode(texts)


def _no_training(*args: object, **kwargs: object) -> None:
    raise AssertionError("the sentiment model was trained at start-up")


def test_shipped_head_is_in_the_package() -> None:
    meta = json.loads((pretrained_dir() / META_FILE).read_text())
    # the weights over the embedding and over ~22,000 character n-grams, compressed
    assert (pretrained_dir() / HEAD_FILE).stat().st_size < 1_000_000
    assert meta["labels"] == ["negative", "neutral", "positive"]
    names = {s["name"] for s in meta["sources"]}
    assert "careloop" in names and len(names) >= 2
    assert not {n.partition(":")[0] for n in names} & {"apple", "meld", "tweeteval"}
    assert not names & set(meta["held_out"])


def test_fresh_install_loads_the_shipped_head_without_training(
    encoder: SentenceEncoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "train_head", _no_training)
    artifact = ensure_artifact(encoder, NLUConfig(model_dir=tmp_path), "sentiment")
    assert artifact.meta["mode"] == "pretrained"
    shipped = shipped_sentiment(encoder)
    assert shipped is not None
    texts = ["where is my parcel?", "you lost my parcel AGAIN!!!", "thanks, all sorted"]
    vectors = encoder.encode(texts)
    stored = SentimentClassifier(artifact.head).predict(vectors, texts)
    assert stored == SentimentClassifier(shipped.head).predict(vectors, texts)
    # the next start reuses the stored copy
    assert ensure_artifact(encoder, NLUConfig(model_dir=tmp_path), "sentiment").version == (
        artifact.version
    )


def test_an_old_start_up_head_is_replaced_and_custom_data_is_kept(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    bundled = bundled_data_path("sentiment")
    examples = load_examples(bundled)
    head = LinearHead.fit(encoder.encode([e.text for e in examples]), [e.label for e in examples])
    old = {"mode": "fast", "encoder": encoder.name, "data_path": str(bundled)}
    save_artifact(tmp_path, "sentiment", head, old)
    assert ensure_artifact(encoder, NLUConfig(model_dir=tmp_path), "sentiment").meta["mode"] == (
        "pretrained"
    )
    custom = tmp_path / "mine.csv"
    custom.write_text("text,label\n" + "".join(f'"{e.text}",{e.label}\n' for e in examples[::3]))
    config = NLUConfig(model_dir=tmp_path, sentiment_data=custom)
    trained = ensure_artifact(encoder, config, "sentiment")  # the shop's data wins
    assert trained.meta["mode"] == "fast" and trained.meta["data_path"] == str(custom)
    assert ensure_artifact(encoder, config, "sentiment").version == trained.version
    reinstalled = train_task(encoder, NLUConfig(model_dir=tmp_path), "sentiment")
    assert reinstalled.meta["mode"] == "pretrained"  # `nlu train --task sentiment`


def test_shipped_head_is_refused_for_another_encoder(
    encoder: SentenceEncoder, tmp_path: Path
) -> None:
    assert shipped_sentiment(Renamed(encoder, "/models/some-other-encoder")) is None
    copy = tmp_path / "pretrained"
    shutil.copytree(pretrained_dir(), copy)
    meta = json.loads((copy / META_FILE).read_text())
    meta["probe"]["vector"] = list(-np.asarray(meta["probe"]["vector"]))  # another model
    (copy / META_FILE).write_text(json.dumps(meta))
    assert shipped_sentiment(encoder, copy) is None
    shutil.copytree(pretrained_dir(), tmp_path / "tampered")
    with (tmp_path / "tampered" / HEAD_FILE).open("ab") as fh:
        fh.write(b"\0")
    assert shipped_sentiment(encoder, tmp_path / "tampered") is None


def test_clear_negatives_read_negative_and_routine_questions_neutral(nlu: NLU) -> None:
    negatives = nlu.understand_batch(CLEAR_NEGATIVES)
    assert [r.sentiment.label for r in negatives] == ["negative"] * len(CLEAR_NEGATIVES)
    assert all(r.sentiment.score < -0.5 for r in negatives)
    routine = {r.text: r.sentiment.score for r in nlu.understand_batch(ROUTINE)}
    assert all(score > -0.5 for score in routine.values()), routine
    assert routine["bye"] > -0.3  # a goodbye is not negative (repeated_negative)
    praise = nlu.understand("thank you so much, you were really helpful!")
    assert praise.sentiment.label == "positive"


def test_the_shipped_head_is_built_from_the_bundled_examples_and_chat_messages() -> None:
    meta = json.loads((pretrained_dir() / META_FILE).read_text())
    built = {source["name"]: source["data_sha256"] for source in meta["sources"]}
    stale = "rebuild the shipped head (`make models SENTIMENT_CORPORA=DIR`, docs/sentiment.md)"
    assert built["careloop"] == data_hash(load_examples(bundled_data_path("sentiment"))), stale
    for name, file in (("chat", CHAT_MESSAGES), ("feelings", CHAT_FEELINGS)):
        chat = [Example(m.text, m.sentiment) for m in chat_messages(file)]
        assert built[name] == data_hash(chat), stale
        assert built[f"{name}:calm"] == data_hash([e for e in chat if e.label != "negative"])


def test_the_same_problem_reads_neutral_when_calm_and_negative_when_upset(nlu: NLU) -> None:
    calm = [
        "my parcel was left at the wrong house, what should I do?",
        "I see two charges for one order, is one of them a reservation?",
        "the lid of the blender arrived cracked, could you send a new one?",
    ]
    upset = [
        "you left my parcel at the WRONG house again, unbelievable!!",
        "you charged me twice and nobody answers my emails, this is ridiculous",
        "the blender arrived cracked, what a joke, never ordering from you again",
    ]
    assert all(u.sentiment.score > -0.5 for u in nlu.understand_batch(calm))
    assert all(u.sentiment.score < -0.5 for u in nlu.understand_batch(upset))


def test_a_calm_customs_question_reads_neutral(nlu: NLU) -> None:
    # "stuck" reads strongly negative in the tweets; the writers' calm chat questions
    # about a problem taught the head otherwise
    assert nlu.understand("package stuck in customs?").sentiment.score > -0.5


def _write_corpora(root: Path) -> None:
    (root / "semeval2017").mkdir(parents=True)
    from nlp.sentiment_corpora import SEMEVAL_TRAIN_FILES

    lines = [
        "1\tpositive\tloving the new phone from @shop, great battery! http://t.co/x",
        "2\tnegative\t@shop my order is late again and nobody answers\u2019",
        "3\tneutral\tthe shop opens at 9 tomorrow",
        "4\tneutral\tNot Available",
        "5\tpositive\tloving the new phone from @other, great battery! http://t.co/y",
    ]
    for name in SEMEVAL_TRAIN_FILES:
        (root / "semeval2017" / name).write_text("\n".join(lines) + "\n")
    (root / "sst").mkdir()
    (root / "sst" / "train.txt").write_text(
        "(4 (2 The) (4 (4 film) (3 (3 is) (4 wonderful))))\n"
        "(0 (2 It) (0 (0 is) (0 (2 a) (0 disaster))))\n"
        "(2 (2 It) (2 (2 opens) (2 (2 on) (2 Friday))))\n"
    )
    (root / "meld").mkdir()
    (root / "meld" / "train.csv").write_text(
        "Sr No.,Utterance,Speaker,Emotion,Sentiment\n"
        "1,Oh. That’s great!,Rachel,joy,positive\n"
        '2,"No, I hate this.",Ross,anger,negative\n'
        "3,Where are you going?,Joey,neutral,neutral\n"
    )
    (root / "bitext").mkdir()
    (root / "bitext" / "Bitext_Sample_Customer_Support_Training_Dataset.csv").write_text(
        "instruction,intent,category,tags,response\n"
        "how can I cancel purchase 113542617735902?,cancel_order,ORDER,BIL,Sure\n"
        "i dont want the damn purchase,cancel_order,ORDER,BW,Sure\n"
        "I'm terribly unhappy lodge a claim,complaint,FEEDBACK,BL,Sorry\n"
        '"where to report an issue  with a registration?",registration_problems,ACCOUNT,BI,Here\n'
        "How can I cancel purchase 113542617735902?,cancel_order,ORDER,BIL,Sure\n"
    )
    (root / "apple").mkdir()
    (root / "apple" / "Apple-Twitter-Sentiment-DFE.csv").write_text(
        "_unit_id;sentiment;text\n1;5;love my @Apple watch\n2;not_relevant;AAPL up\n"
        "3;1;@Apple my iphone died again\n"
    )


def test_corpus_readers(tmp_path: Path) -> None:
    _write_corpora(tmp_path)
    tweets = read_corpus(tmp_path, "semeval2017")
    assert [e.label for e in tweets] == ["positive", "negative", "neutral"]  # dups, N/A out
    assert tweets[0].text == "loving the new phone from @user, great battery! http"
    assert tweets[1].text.endswith("answers\u2019")
    assert read_corpus(tmp_path, "sst:train") == [
        Example("The film is wonderful", "positive"),
        Example("It is a disaster", "negative"),
        Example("It opens on Friday", "neutral"),
    ]
    assert [e.label for e in read_corpus(tmp_path, "meld")] == ["positive", "negative", "neutral"]
    assert read_corpus(tmp_path, "apple") == [
        Example("love my @user watch", "positive"),
        Example("@user my iphone died again", "negative"),
    ]
    # customer requests read neutral; complaints and offensive rows (tag W) are left out
    assert read_corpus(tmp_path, "bitext") == [
        Example("how can I cancel purchase 113542617735902?", "neutral"),
        Example("where to report an issue with a registration?", "neutral"),
    ]
    with pytest.raises(DataError, match="unknown corpus"):
        read_corpus(tmp_path, "imdb")
    with pytest.raises(DataError, match="file not found"):
        read_corpus(tmp_path, "tweeteval:test")
    assert normalise_tweet("a  &amp; b\\u2019s @x https://t.co/1") == "a & b\u2019s @user http"


def test_build_writes_a_head_the_loader_accepts(encoder: SentenceEncoder, tmp_path: Path) -> None:
    corpora, out = tmp_path / "corpora", tmp_path / "out"
    _write_corpora(corpora)
    config = BuildConfig(corpora=("semeval2017", "sst:train", "bitext"))
    meta = build(encoder, corpora, out, config)
    assert [s["name"] for s in meta["sources"]] == [
        *config.corpora,
        "careloop",
        "chat",
        "chat:calm",
        "feelings",
        "feelings:calm",
    ]
    shipped = shipped_sentiment(encoder, out)
    assert shipped is not None and shipped.meta["head_sha256"] == meta["head_sha256"]
    assert list((corpora / ".embeddings").glob("*.npy"))  # a rebuild reads the cache
    texts = ["a", "b"]
    again = encode_cached(encoder, texts, corpora / ".embeddings")
    assert np.allclose(again, encode_cached(encoder, texts, corpora / ".embeddings"))
    for held_out in ("apple", "meld:train", "semeval2017:test", "tweeteval:test"):
        with pytest.raises(ValueError, match="held-out"):
            build(encoder, corpora, out, BuildConfig(corpora=(held_out,)))


def test_every_corpus_weighs_the_same_whatever_its_size() -> None:
    from nlp.sentiment_build import OWN, Source

    empty = np.zeros((0, 2), dtype=np.float32)
    big = Source("big", [Example("x", "neutral")] * 90, empty)
    small = Source("small", [Example("y", "neutral")] * 10, empty)
    own = Source(OWN, [Example("z", "neutral")] * 5, empty)
    w = weights_for([big, small, own], own_weight=2.0)
    assert w[:90].sum() == pytest.approx(w[90:100].sum())
    assert w[100:].sum() == pytest.approx(2 * w[:90].sum())
    assert w.mean() == pytest.approx(1.0)
    half = weights_for([big, small, own], own_weight=2.0, corpus_weights=[("small", 0.5)])
    assert half[90:100].sum() == pytest.approx(0.5 * half[:90].sum())
    assert half[100:].sum() == pytest.approx(2 * half[:90].sum())

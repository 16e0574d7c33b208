"""Shared-prefix key/value reuse: same next-token distributions as the plain path, on each architecture family."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from llmcal.models.load import load_model
from llmcal.scoring import engine
from llmcal.scoring.config import ScoringConfig
from llmcal.scoring.engine import PREFIX_GROUP_COST, group_by_prefix, prefix_kv, score_contexts
from llmcal.tasks import score_task


def _logits(logits, idx):
    return {"logits": logits}


def _grouped_contexts(vocab: int, seed: int = 0) -> list[list[int]]:
    """Three prefix groups (one with two nested levels), ragged suffixes, a member that is one token past its
    prefix, an exact duplicate, and contexts that share nothing, shuffled."""
    rng = np.random.default_rng(seed)

    def toks(n):
        return [int(t) for t in rng.integers(2, vocab, size=n)]

    heads = [toks(300), toks(280), toks(120) + toks(170)]
    contexts = []
    for k, head in enumerate(heads):
        for _ in range(7 + 2 * k):
            contexts.append(head + toks(int(rng.integers(1, 45))))
    contexts.append(heads[0] + toks(1))
    contexts.append(list(contexts[3]))
    contexts.append(heads[2][:120] + toks(200))  # shares only the first part of the third head
    contexts += [toks(int(rng.integers(5, 60))) for _ in range(6)]
    perm = rng.permutation(len(contexts))
    return [contexts[i] for i in perm]


def _spy_suffix_batches(monkeypatch) -> list[int]:
    calls = []
    real = engine.suffix_logits

    def spy(lm, cache, rows):
        calls.append(len(rows))
        return real(lm, cache, rows)

    monkeypatch.setattr(engine, "suffix_logits", spy)
    return calls


@pytest.mark.parametrize("family", ["neox", "llama", "opt"])
def test_prefix_reuse_matches_plain_path(tiny_models, family, monkeypatch):
    lm = load_model(*tiny_models[family], device="cpu")
    contexts = _grouped_contexts(len(lm.tokenizer))
    groups, plain = group_by_prefix(contexts)
    assert len(groups) >= 3 and len(plain) >= 6
    calls = _spy_suffix_batches(monkeypatch)
    # A small budget: several padded suffix batches per group, rows of different suffix lengths.
    reused = score_contexts(lm, contexts, _logits, batch_tokens=1500, max_batch=6)["logits"]
    assert sum(calls) == sum(len(g.members) for g in groups) and max(calls) > 1 and len(calls) > len(groups)
    calls.clear()
    whole = score_contexts(lm, contexts, _logits, batch_tokens=1500, max_batch=6, prefix_cache=False)["logits"]
    assert calls == []
    assert reused.dtype == whole.dtype == np.float32
    assert np.abs(reused - whole).max() <= 1e-4
    assert (reused.argmax(1) == whole.argmax(1)).all()
    # And each context as the model reads it alone, over full logits.
    for i in range(0, len(contexts), 5):
        ref = engine.reference_last_logits(lm, contexts[i]).numpy()
        assert np.abs(reused[i] - ref).max() <= 1e-4


@pytest.mark.parametrize("family", ["neox", "llama", "opt"])
def test_prefix_cache_is_not_changed_by_its_suffixes(tiny_models, family):
    lm = load_model(*tiny_models[family], device="cpu")
    rng = np.random.default_rng(1)
    prefix = [int(t) for t in rng.integers(2, len(lm.tokenizer), size=50)]
    with torch.inference_mode():
        cache = prefix_kv(lm, prefix)
        assert cache is not None and cache.get_seq_length() == 50
        before = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
        rows = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
        first = engine.suffix_logits(lm, cache, rows)
        again = engine.suffix_logits(lm, cache, rows[::-1])
    assert cache.get_seq_length() == 50
    for (k, v), layer in zip(before, cache.layers):
        assert torch.equal(k, layer.keys) and torch.equal(v, layer.values)
    assert torch.allclose(first, again.flip(0), atol=1e-5)


def test_seq2seq_keeps_the_plain_path(tiny_models, monkeypatch):
    lm = load_model(*tiny_models["t5"], device="cpu")
    contexts = _grouped_contexts(len(lm.tokenizer), seed=2)
    calls = _spy_suffix_batches(monkeypatch)
    res = score_contexts(lm, contexts, _logits, batch_tokens=1500, max_batch=6)["logits"]
    assert calls == []
    for i in range(0, len(contexts), 7):
        assert np.abs(res[i] - engine.reference_last_logits(lm, contexts[i]).numpy()).max() <= 1e-4


def test_grouping_hand_made():
    a, b = list(range(100, 400)), list(range(500, 800))
    contexts = [a + [1], [7, 8, 9], b + [2, 3], a + [4, 5], b + [6], a + [1], a[:10] + [9] * 5]
    groups, plain = group_by_prefix(contexts)
    found = {(g.prefix_len, tuple(sorted(g.members.tolist()))) for g in groups}
    # The three contexts after `a` share its 300 tokens (two of them are the same: still one token each to run);
    # the one sharing only a's first 10 tokens is not worth a wider group with a 10-token prefix.
    assert found == {(300, (0, 3, 5)), (300, (2, 4))}
    assert plain.tolist() == [1, 6]


def test_grouping_prefers_longer_prefixes_and_prices_groups():
    shared = list(range(1000, 1040))
    s1, s2 = list(range(2000, 2400)), list(range(3000, 2600, -1))
    contexts = [shared + s1 + [i] for i in range(4)] + [shared + s2 + [i, i] for i in range(4)]
    groups, plain = group_by_prefix(contexts)
    # Two subjects of 440 shared tokens beat one group of 40 (the instruction alone).
    assert sorted((g.prefix_len, len(g.members)) for g in groups) == [(440, 4), (440, 4)]
    assert len(plain) == 0
    # Nothing pays when the group cost exceeds every saving, and a member equal to the prefix keeps one token.
    groups, plain = group_by_prefix(contexts, group_cost=10**6)
    assert groups == [] and sorted(plain.tolist()) == list(range(8))
    groups, _ = group_by_prefix([s1, s1 + [1], s1 + [2]], group_cost=0)
    assert [(g.prefix_len, sorted(g.members.tolist())) for g in groups] == [(len(s1) - 1, [0, 1, 2])]
    # Shared prefixes too short to pay for their pass are left to the plain path.
    short = [list(range(10)) + [100 + i] * 20 for i in range(20)]
    assert 19 * 10 <= PREFIX_GROUP_COST
    groups, plain = group_by_prefix(short)
    assert groups == [] and len(plain) == 20
    groups, plain = group_by_prefix([])
    assert groups == [] and len(plain) == 0


def test_grouping_covers_each_context_once_and_is_deterministic():
    rng = np.random.default_rng(5)
    heads = [list(rng.integers(0, 50, size=int(rng.integers(1, 400)))) for _ in range(12)]
    contexts = [
        list(heads[int(rng.integers(0, 12))]) + list(rng.integers(0, 50, size=int(rng.integers(1, 30))))
        for _ in range(300)
    ]
    groups, plain = group_by_prefix(contexts)
    seen = np.concatenate([g.members for g in groups] + [plain])
    assert sorted(seen.tolist()) == list(range(300))
    for g in groups:
        assert len(g.members) >= 2
        first = contexts[g.members[0]][: g.prefix_len]
        for i in g.members:
            assert len(contexts[i]) > g.prefix_len and contexts[i][: g.prefix_len] == first
    again, plain2 = group_by_prefix(contexts)
    assert [(g.prefix_len, g.members.tolist()) for g in again] == [(g.prefix_len, g.members.tolist()) for g in groups]
    assert plain2.tolist() == plain.tolist()


@pytest.mark.parametrize("task", ["clm", "mmlu"])
def test_score_files_unchanged_by_prefix_reuse(tiny_models, task, monkeypatch):
    """A mini-sized scoring case both ways: instructed CLM (a template prefix) and 5-shot MMLU (shared shots)."""
    from llmcal.data.mmlu_prompt import assemble

    lm = load_model(*tiny_models["neox"], device="cpu")
    rng = np.random.default_rng(3)
    words = "the river city of Valdoria lies north of Kenro and its people trade salt and iron".split()

    def text(n):
        return " ".join(rng.choice(words, size=n))

    if task == "clm":
        df = pd.DataFrame(
            {"id": [f"c{i}" for i in range(40)], "text": [text(int(rng.integers(20, 60))) for _ in range(40)]}
        )
    else:
        import json

        rows = []
        for subject in ("astronomy", "law"):
            shots = [
                f"{text(12)}\nA. {text(2)}\nB. {text(2)}\nC. {text(2)}\nD. {text(2)}\nAnswer: B\n\n" for _ in range(5)
            ]
            for q in range(12):
                question = f"{text(int(rng.integers(5, 15)))}\nA. a\nB. b\nC. c\nD. d\nAnswer:"
                rows.append(
                    {
                        "id": f"{subject}{q}",
                        "subject": subject,
                        "answer": "ABCD"[q % 4],
                        "prompt": assemble(subject, shots, question),
                        "shots": json.dumps(shots),
                    }
                )
        df = pd.DataFrame(rows)
    cfg = ScoringConfig(max_length=512, min_context=4)
    calls = _spy_suffix_batches(monkeypatch)
    reused = score_task(lm, task, df, cfg, seed=0, instruct=task == "clm")
    assert calls, "the prefix path was not taken"
    calls.clear()
    whole = score_task(
        lm, task, df, ScoringConfig(max_length=512, min_context=4, prefix_cache=False), seed=0, instruct=task == "clm"
    )
    assert calls == []
    assert np.abs(reused["confidence"] - whole["confidence"]).max() <= 1e-6
    probs = [c for c in reused.columns if c.startswith("p_") or c in ("target_prob",)]
    for c in probs:
        assert np.abs(reused[c] - whole[c]).max() <= 1e-6
    assert (reused["prediction"] == whole["prediction"]).all()


def _one_batch_per_budget(lengths, batch_tokens, max_batch, offset=0):
    """The engine's batch plan before padding was priced: longest first, as many rows as the budget takes."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        size = max(1, min(max_batch, batch_tokens // (offset + max(int(lengths[order[start]]), 1))))
        batches.append(order[start : start + size])
        start += size
    return batches


@pytest.mark.parametrize("task", ["clm", "facts"])
def test_padding_priced_plans_keep_the_scores(tiny_models, task, monkeypatch):
    """The mini preset's scoring settings on instructed CLM and facts: the planned batches (several, each padded
    little) give the confidences of the one-big-batch plan the engine had before, on both paths, within 1e-6."""
    lm = load_model(*tiny_models["neox"], device="cpu")
    rng = np.random.default_rng(4)
    words = "the river city of Valdoria lies north of Kenro and its people trade salt and iron".split()
    n = 48
    if task == "clm":
        df = pd.DataFrame(
            {
                "id": [f"c{i}" for i in range(n)],
                "text": [" ".join(rng.choice(words, size=int(rng.integers(15, 70)))) for _ in range(n)],
            }
        )
    else:
        df = pd.DataFrame(
            {
                "id": [f"f{i}" for i in range(n)],
                "context": [" ".join(rng.choice(words, size=int(rng.integers(5, 40)))) + " " for _ in range(n)],
                "entity": [str(rng.choice(words)).capitalize() for _ in range(n)],
            }
        )
    planned = []
    real = engine.plan_batches

    def spy(*args, **kwargs):
        if len(args[0]):
            planned.append(len(real(*args, **kwargs)))
        return real(*args, **kwargs)

    results = {}
    for prefix_cache in (True, False):
        cfg = ScoringConfig(max_length=256, min_context=16, batch_tokens=16384, max_batch=64, prefix_cache=prefix_cache)
        monkeypatch.setattr(engine, "plan_batches", spy)
        results[prefix_cache, "new"] = score_task(lm, task, df, cfg, seed=0, instruct=True)
        monkeypatch.setattr(engine, "plan_batches", _one_batch_per_budget)
        results[prefix_cache, "old"] = score_task(lm, task, df, cfg, seed=0, instruct=True)
    assert len(planned) == 2 and min(planned) > 1  # the new plan did cut the rows into several batches
    for prefix_cache in (True, False):
        new, old = results[prefix_cache, "new"], results[prefix_cache, "old"]
        assert np.abs(new["confidence"] - old["confidence"]).max() <= 1e-6
        assert np.abs(new["target_prob"] - old["target_prob"]).max() <= 1e-6
        assert (new["prediction"] == old["prediction"]).all()
    assert np.abs(results[True, "new"]["confidence"] - results[False, "old"]["confidence"]).max() <= 1e-6

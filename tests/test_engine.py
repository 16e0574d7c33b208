"""The batched engine against the plain per-sample loop, on each architecture family."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from llmcal.models.load import load_model
from llmcal.scoring.engine import (
    BATCH_CALL_COST,
    choice_reducer,
    last_logits,
    plan_batches,
    reference_last_logits,
    score_contexts,
    top1_reducer,
)


def _contexts(n, vocab, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.integers(2, vocab, size=int(rng.integers(1, 40)))) for _ in range(n)]


@pytest.mark.parametrize("family", ["neox", "llama", "opt", "t5"])
def test_engine_matches_plain_loop(tiny_models, family):
    path, arch = tiny_models[family]
    lm = load_model(path, arch, device="cpu")
    contexts = _contexts(23, len(lm.tokenizer))
    # A small token budget forces several padded, length-sorted batches.
    batched = torch.cat([last_logits(lm, [c]) for c in contexts[:1]])  # sanity: single-row path
    assert batched.shape == (1, lm.model.get_output_embeddings().weight.shape[0])
    targets = np.array([c[-1] for c in contexts])
    res = score_contexts(lm, contexts, top1_reducer(targets), batch_tokens=120, max_batch=8)
    for i, c in enumerate(contexts):
        ref = torch.softmax(reference_last_logits(lm, c), -1)
        assert res["pred_id"][i] == int(ref.argmax())
        assert res["confidence"][i] == pytest.approx(float(ref.max()), abs=1e-5)
        assert res["target_prob"][i] == pytest.approx(float(ref[targets[i]]), abs=1e-5)
        # The ten most probable tokens (candidate ECE's candidates), the target marked where it is among them.
        top_p, top_ids = ref.topk(10)
        assert res["topk_p"][i] == pytest.approx(top_p.double().numpy(), abs=1e-5)
        assert res["topk_p"][i][0] == pytest.approx(res["confidence"][i], abs=1e-12)
        assert res["topk_hit"][i].sum() == int(targets[i] in top_ids.tolist())
        if res["topk_hit"][i].any():
            assert res["topk_p"][i][res["topk_hit"][i]][0] == pytest.approx(res["target_prob"][i], abs=1e-12)


def test_plan_batches_respects_budget_and_covers_all():
    lengths = np.array([5, 50, 3, 50, 20, 7, 1])
    batches = plan_batches(lengths, batch_tokens=100, max_batch=3)
    seen = np.concatenate(batches)
    assert sorted(seen.tolist()) == list(range(len(lengths)))
    for b in batches:
        assert len(b) <= 3
        assert len(b) * lengths[b].max() <= 100 or len(b) == 1
    # Longest first, so each batch pads to its own first row.
    firsts = [lengths[b[0]] for b in batches]
    assert firsts == sorted(firsts, reverse=True)


def _plan_cost(lengths, batches) -> int:
    return sum(len(b) * max(int(lengths[b].max()), 1) + BATCH_CALL_COST for b in batches)


def _fits(lengths, b, batch_tokens, max_batch, offset=0) -> bool:
    return len(b) <= max_batch and (len(b) == 1 or len(b) * (offset + int(lengths[b].max())) <= batch_tokens)


@pytest.mark.parametrize("seed", range(6))
def test_plan_batches_is_the_cheapest_plan(seed):
    """Against every way of cutting the length-sorted rows into runs (2^(n-1) of them): none that keeps the budget
    costs less in padded tokens plus calls."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 400, size=11)
    lengths[rng.integers(0, 11)] = 900  # one row over the budget on its own: it still runs, alone
    batch_tokens, max_batch, offset = 1200, 4, int(rng.integers(0, 60))
    plan = plan_batches(lengths, batch_tokens, max_batch, offset)
    assert sorted(np.concatenate(plan).tolist()) == list(range(len(lengths)))
    assert all(_fits(lengths, b, batch_tokens, max_batch, offset) for b in plan)
    order = np.argsort(-lengths, kind="stable")
    best = None
    for mask in range(2 ** (len(lengths) - 1)):
        cuts = [0] + [k + 1 for k in range(len(lengths) - 1) if mask >> k & 1] + [len(lengths)]
        batches = [order[a:b] for a, b in zip(cuts, cuts[1:])]
        if all(_fits(lengths, b, batch_tokens, max_batch, offset) for b in batches):
            cost = _plan_cost(lengths, batches)
            best = cost if best is None else min(best, cost)
    assert _plan_cost(lengths, plan) == best
    assert [b.tolist() for b in plan_batches(lengths, batch_tokens, max_batch, offset)] == [b.tolist() for b in plan]


def test_plan_batches_bounds_padding():
    """Ragged rows under a budget that would take them all at once (the mini preset's 16384 tokens, 64 rows) are
    cut where padding would cost more than a call; rows of one length stay one batch."""
    lengths = np.random.default_rng(0).integers(50, 170, size=64)
    plan = plan_batches(lengths, batch_tokens=16384, max_batch=64)
    assert 1 < len(plan) < 64
    padded = sum(len(b) * int(lengths[b].max()) for b in plan)
    assert padded - lengths.sum() < 0.15 * lengths.sum()  # one batch would pad 64 x 169: 60% more than the rows
    assert _plan_cost(lengths, plan) < _plan_cost(lengths, [np.arange(64)])
    same = plan_batches(np.full(40, 100), batch_tokens=16384, max_batch=64)
    assert [len(b) for b in same] == [40]
    # The budget counts the prefix each suffix row attends to: 64 rows of 100 after 156 shared tokens fill 16384.
    assert sorted(len(b) for b in plan_batches(np.full(70, 100), 16384, 64, offset=156)) == [6, 64]
    with pytest.raises(ValueError, match="positive"):
        plan_batches(lengths, batch_tokens=0, max_batch=8)


def test_choice_reducer_modes():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0, 10.0]])
    ren = choice_reducer([0, 1, 2, 3], "renormalized")(logits, np.array([0]))
    full = choice_reducer([0, 1, 2, 3], "full_vocab")(logits, np.array([0]))
    expect = torch.softmax(torch.tensor([0.0, 1.0, 2.0, 3.0]), -1)
    assert torch.allclose(ren["choice_probs"][0].float(), expect)
    assert float(ren["confidence"][0]) == pytest.approx(float(expect[3]))
    # Full-vocabulary probability: the off-choice token (logit 10) takes most of the mass.
    assert float(full["confidence"][0]) == pytest.approx(float(torch.softmax(logits[0], -1)[3]))
    assert float(full["confidence"][0]) < 0.01
    with pytest.raises(ValueError, match="mmlu_confidence"):
        choice_reducer([0, 1, 2, 3], "bogus")


def test_empty_context_refused(tiny_models):
    lm = load_model(*tiny_models["neox"], device="cpu")
    with pytest.raises(ValueError, match="empty contexts"):
        score_contexts(lm, [[1, 2], []], top1_reducer(np.array([0, 0])))


def test_missing_model_dir_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json missing"):
        load_model(tmp_path / "nope")


def test_temperature_grid_probabilities(tiny_models):
    from llmcal.scoring.engine import TEMPERATURE_GRID

    lm = load_model(*tiny_models["neox"], device="cpu")
    contexts = _contexts(5, len(lm.tokenizer), seed=3)
    targets = np.array([c[0] for c in contexts])
    res = score_contexts(lm, contexts, top1_reducer(targets))
    j1 = int(np.argmin(abs(TEMPERATURE_GRID - 1.0)))
    assert TEMPERATURE_GRID[j1] == pytest.approx(1.0)
    assert np.allclose(res["conf_t"][:, j1], res["confidence"], atol=1e-6)
    assert np.allclose(res["target_prob_t"][:, j1], res["target_prob"], atol=1e-6)
    for i, c in enumerate(contexts):
        logits = reference_last_logits(lm, c)
        for j in (0, len(TEMPERATURE_GRID) - 1):
            p = torch.softmax(logits / float(TEMPERATURE_GRID[j]), -1)
            assert res["conf_t"][i, j] == pytest.approx(float(p.max()), abs=1e-5)
            assert res["target_prob_t"][i, j] == pytest.approx(float(p[targets[i]]), abs=1e-5)
    # Hotter means flatter: the top probability falls as T rises.
    assert (np.diff(res["conf_t"], axis=1) <= 1e-9).all()

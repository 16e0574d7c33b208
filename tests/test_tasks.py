"""Turning samples into next-token questions: positions, entity first tokens, MMLU letters."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from llmcal.models.load import load_model
from llmcal.scoring.config import ScoringConfig
from llmcal.scoring.tasks import special_affixes
from llmcal.tasks import build_requests, instruction, score_task
from llmcal.tasks.clm import clm_requests
from llmcal.tasks.facts import entity_split, facts_requests
from llmcal.tasks.mmlu import letter_token_ids, mmlu_requests, split_mmlu_header


@pytest.fixture(scope="module")
def lm(tiny_models):
    return load_model(*tiny_models["neox"], device="cpu")


def test_entity_first_token_keeps_leading_space(lm):
    tok = lm.tokenizer
    ctx, target = entity_split(tok, "the capital founded by ", "Tash")
    # The target is the entity's first token as read in context: with its leading space.
    assert tok.convert_ids_to_tokens(target).startswith("Ġ")
    assert tok.decode([target]).strip().startswith("T")
    assert tok.decode(ctx) == "the capital founded by"
    # Same result whatever whitespace run precedes the entity: never a bare-space target.
    ctx2, target2 = entity_split(tok, "the capital founded by  ", "Tash")
    assert tok.decode([target2]).strip() != ""


def test_entity_split_without_a_whole_word_token(lm):
    # "Tashq" is not in the vocabulary: the target is still the token that begins the entity.
    tok = lm.tokenizer
    ctx, target = entity_split(tok, "founded by ", "Tashq")
    assert tok.decode(ctx + [target]).startswith("founded by T")
    assert tok.decode(ctx).rstrip() == "founded by"


def test_clm_positions_seeded_by_id_and_shared_across_models(lm, tiny_models):
    df = pd.DataFrame(
        {
            "id": ["a", "b", "c"],
            "text": ["the river city of Valdoria lies north of Kenro and its people trade salt"] * 3,
        }
    )
    cfg = ScoringConfig(max_length=64, min_context=2)
    r1 = clm_requests(df, lm.tokenizer, "causal", cfg, seed=1)
    r2 = clm_requests(df.iloc[::-1].reset_index(drop=True), lm.tokenizer, "causal", cfg, seed=1)
    by_id1 = dict(zip(r1.ids, map(len, r1.contexts)))
    by_id2 = dict(zip(r2.ids, map(len, r2.contexts)))
    assert by_id1 == by_id2  # order does not matter, only (seed, id)
    ids = lm.tokenizer(df.text[0], add_special_tokens=False)["input_ids"]
    for ctx, tgt in zip(r1.contexts, r1.targets):
        assert 2 <= len(ctx) <= len(ids) - 1
        assert ids[len(ctx)] == tgt and ctx == ids[: len(ctx)]
    # Positions vary over samples and seeds (16 ids, not all at one position).
    many = pd.DataFrame({"id": [f"s{i}" for i in range(16)], "text": [df.text[0]] * 16})
    assert len({len(c) for c in clm_requests(many, lm.tokenizer, "causal", cfg, 1).contexts}) > 3
    # A second model with the same tokenizer gets the very same pairs.
    lm2 = load_model(*tiny_models["llama"], device="cpu")
    r3 = clm_requests(df, lm2.tokenizer, "causal", cfg, seed=1)
    assert r3.contexts == r1.contexts and (r3.targets == r1.targets).all()


def test_clm_position_within_max_length(lm):
    df = pd.DataFrame({"id": [f"x{i}" for i in range(20)], "text": [" ".join(["salt iron"] * 200)] * 20})
    cfg = ScoringConfig(max_length=16, min_context=4)
    r = clm_requests(df, lm.tokenizer, "causal", cfg, seed=3)
    assert all(4 <= len(c) <= 16 for c in r.contexts)


def test_clm_too_short_text_is_named(lm):
    df = pd.DataFrame({"id": ["tiny-1"], "text": ["a"]})
    with pytest.raises(ValueError, match="tiny-1"):
        clm_requests(df, lm.tokenizer, "causal", ScoringConfig(), seed=0)


def test_mmlu_letters_and_a_prompt_too_long_without_shots(lm):
    ids = letter_token_ids(lm.tokenizer)
    assert [lm.tokenizer.decode([i]) for i in ids] == [" A", " B", " C", " D"]
    prompt = "The following are multiple choice questions (with answers) about salt.\n\n" + "x y z\n" * 50 + "Answer:"
    df = pd.DataFrame({"id": ["q1"], "prompt": [prompt], "answer": ["C"]})
    r = mmlu_requests(df, lm.tokenizer, "causal", ScoringConfig(max_length=512))
    assert r.targets.tolist() == [2] and r.n_shots == [None] and r.shortened == 0
    # Never cut from the left: a prompt with no shots to drop that does not fit is an error.
    with pytest.raises(ValueError, match=r"mmlu sample q1: .*scoring\.max_length 10.*no `shots` column"):
        mmlu_requests(df, lm.tokenizer, "causal", ScoringConfig(max_length=10))
    with pytest.raises(ValueError, match="A-D"):
        mmlu_requests(df.assign(answer=["E"]), lm.tokenizer, "causal", ScoringConfig())


def test_seq2seq_contexts_end_with_encoder_eos(tiny_models):
    lm = load_model(*tiny_models["t5"], device="cpu")
    prefix, suffix = special_affixes(lm.tokenizer, "seq2seq")
    df = pd.DataFrame({"id": ["f1"], "context": ["the capital founded by "], "entity": ["Tash"]})
    r = facts_requests(df, lm.tokenizer, "seq2seq", ScoringConfig())
    assert r.contexts[0][len(r.contexts[0]) - len(suffix) :] == suffix


@pytest.mark.parametrize("task", ["clm", "facts", "mmlu"])
def test_score_task_outputs(lm, task):
    text = "the river city of Valdoria lies north of Kenro and its people trade salt and iron"
    frames = {
        "clm": pd.DataFrame({"id": ["c1", "c2"], "text": [text, text + " again"]}),
        "facts": pd.DataFrame(
            {"id": ["f1", "f2"], "context": ["the capital founded by ", "city of "], "entity": ["Tash", "Valdoria"]}
        ),
        "mmlu": pd.DataFrame(
            {
                "id": ["m1", "m2"],
                "subject": ["anatomy", "astronomy"],
                "prompt": ["salt?\nA. a\nB. b\nC. c\nD. d\nAnswer:"] * 2,
                "answer": ["A", "D"],
            }
        ),
    }
    out = score_task(lm, task, frames[task], ScoringConfig(max_length=64, min_context=2), seed=0)
    assert list(out["id"]) == list(frames[task]["id"])
    assert ((out.confidence > 0) & (out.confidence <= 1)).all()
    assert out.correct.dtype == bool
    if task == "mmlu":
        probs = out[["p_A", "p_B", "p_C", "p_D"]].to_numpy()
        assert np.allclose(probs.sum(1), 1.0)
        assert np.allclose(probs.max(1), out.confidence)
        assert (out.correct == (out.prediction == out.target)).all()
        assert list(out.subject) == ["anatomy", "astronomy"]  # the per-subject table reads it from here
    else:
        assert (out.correct == (out.pred_id == out.target_id)).all()
        assert (out.target_prob <= out.confidence + 1e-12).all()


# instruction prompts (the alignment stage) ------------------------------------------------------------------------

TEXT = "the river city of Valdoria lies north of Kenro and its people trade salt and iron"


def _instruction_ids(tok, task, subject=None):
    return tok(instruction(task, subject), add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("family", ["neox", "llama"])
def test_instructed_requests_ask_the_same_question_after_the_table_1_prompt(tiny_models, family):
    lm = load_model(*tiny_models[family], device="cpu")
    tok = lm.tokenizer
    prefix, _ = special_affixes(tok, "causal")
    cfg = ScoringConfig(max_length=256, min_context=2)
    clm = pd.DataFrame({"id": [f"c{i}" for i in range(6)], "text": [TEXT] * 6})
    facts = pd.DataFrame({"id": ["f1"], "context": ["the capital founded by "], "entity": ["Tash"]})
    header = "The following are multiple choice questions (with answers) about salt trade.\n\n"
    mmlu = pd.DataFrame(
        {
            "id": ["m1"],
            "subject": ["salt_trade"],
            "answer": ["B"],
            "prompt": [header + "salt?\nA. a\nB. b\nC. c\nD. d\nAnswer:"],
        }
    )
    for task, df in (("clm", clm), ("facts", facts)):
        plain = build_requests(task, df, tok, "causal", cfg, seed=4)
        inst = build_requests(task, df, tok, "causal", cfg, seed=4, instruct=True)
        head = prefix + _instruction_ids(tok, task)
        assert (inst.targets == plain.targets).all()
        for p, i in zip(plain.contexts, inst.contexts):
            assert i == head + p[len(prefix) :]
    assert (
        tok.decode(_instruction_ids(tok, "clm"))
        .strip()
        .endswith("### Instruction:\nFinish this sentence:\n\n### Response:")
    )
    assert "Finish this Wikipedia description:" in instruction("facts")
    # MMLU: the header becomes the instruction, the questions the start of the response.
    plain = mmlu_requests(mmlu, tok, "causal", cfg)
    inst = mmlu_requests(mmlu, tok, "causal", cfg, instruct=True)
    assert inst.targets.tolist() == plain.targets.tolist() == [1]
    body = tok(mmlu.prompt[0][len(header) :], add_special_tokens=False)["input_ids"]
    assert inst.contexts[0] == prefix + _instruction_ids(tok, "mmlu", "salt_trade") + body
    assert "about salt trade." in instruction("mmlu", "salt_trade")
    assert tok.decode(inst.contexts[0]).endswith("Answer:")


def test_instructed_clm_keeps_its_target_when_the_prompt_must_be_cut(lm):
    head = _instruction_ids(lm.tokenizer, "clm")
    limit = len(head) + 30
    df = pd.DataFrame({"id": [f"x{i}" for i in range(12)], "text": [" ".join(["salt iron"] * 60)] * 12})
    cfg = ScoringConfig(max_length=limit, min_context=4)
    plain = clm_requests(df, lm.tokenizer, "causal", cfg, seed=3)
    inst = clm_requests(df, lm.tokenizer, "causal", cfg, seed=3, instruct=True)
    assert (inst.targets == plain.targets).all()
    assert max(map(len, plain.contexts)) > 30  # some contexts must be cut
    for p, i in zip(plain.contexts, inst.contexts):
        # The instruction stays whole; the text loses its start, never its end.
        assert len(i) <= limit and i[: len(head)] == head and p[-(len(i) - len(head)) :] == i[len(head) :]
    short = ScoringConfig(max_length=len(head) - 5, min_context=4)
    with pytest.raises(ValueError, match=f"max_length {len(head) - 5} leaves no room"):
        clm_requests(df, lm.tokenizer, "causal", short, seed=3, instruct=True)


def test_mmlu_header_must_match_the_subject():
    with pytest.raises(ValueError, match="salt_trade"):
        split_mmlu_header("The following are multiple choice questions (with answers) about iron.\n\nq", "salt_trade")


def test_score_task_with_instructions_scores_the_same_items(lm):
    df = pd.DataFrame({"id": ["c1", "c2"], "text": [TEXT, TEXT + " again"]})
    cfg = ScoringConfig(max_length=512, min_context=2)
    plain = score_task(lm, "clm", df, cfg, seed=0)
    inst = score_task(lm, "clm", df, cfg, seed=0, instruct=True)
    assert (plain.target_id == inst.target_id).all()
    assert (inst.n_context == plain.n_context + len(_instruction_ids(lm.tokenizer, "clm"))).all()
    # A different context: the model's probabilities move (a random model is not prompt-invariant).
    assert not np.allclose(plain.confidence, inst.confidence)

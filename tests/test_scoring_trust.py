"""Scores that can be trusted: long MMLU prompts drop shots (never the header or the question), the
prompt style is a recorded choice, scoring stays inside the model's context window, and a broken model
directory is named before anything is loaded."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from llmcal import pipeline
from llmcal.data import sources
from llmcal.data.download import DownloadError
from llmcal.data.mmlu_prompt import assemble, check_prompt_style, format_example, header
from llmcal.models import load as load_mod
from llmcal.models.download import download_model
from llmcal.models.load import check_max_length, context_window, load_model
from llmcal.scoring.config import ScoringConfig
from llmcal.scoring.tasks import special_affixes
from llmcal.tasks import instruction, score_task
from llmcal.tasks.mmlu import mmlu_requests

SUBJECT = "salt_trade"
WORDS = [
    "the",
    "river",
    "city",
    "of",
    "Valdoria",
    "lies",
    "north",
    "of",
    "Kenro",
    "and",
    "its",
    "people",
    "trade",
    "salt",
    "and",
    "iron",
]


def _row(i: int, n_words: int, answer: str = "B") -> dict:
    text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(n_words))
    return {"question": f"{text} ?", "A": "salt", "B": "iron", "C": "Kenro", "D": "Valdoria", "answer": answer}


def _frames(question_words: list[int], shot_words: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    dev = [_row(i, shot_words, "ABCD"[i % 4]) for i in range(5)]
    test = [_row(i + 3, n, "ABCD"[i % 4]) for i, n in enumerate(question_words)]
    frame = lambda rows: pd.DataFrame(
        [{"id": f"{SUBJECT}-{i}", "subject": SUBJECT, **r} for i, r in enumerate(rows)], columns=sources.MMLU_COLUMNS
    )
    return frame(dev), frame(test)


def _sample(question_words: list[int], style: str = "hendrycks") -> pd.DataFrame:
    dev, test = _frames(question_words)
    return sources.build_mmlu(dev, test, n_shots=5, prompt_style=style).to_pandas()


@pytest.fixture(scope="module")
def lm(tiny_models):
    return load_model(*tiny_models["neox"], device="cpu")


def _tokens(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


# dropping shots ------------------------------------------------------------------------------------------------


def test_sample_carries_its_shots_and_the_prompt_is_unchanged():
    df = _sample([4])
    dev, test = _frames([4])
    shots = json.loads(df.shots[0])
    assert len(shots) == 5 and shots[0] == format_example(dev.iloc[0].to_dict())
    assert df.prompt[0] == sources.build_prompt(SUBJECT, dev.to_dict("records"), test.iloc[0].to_dict())
    assert df.prompt[0] == assemble(SUBJECT, shots, format_example(test.iloc[0].to_dict(), include_answer=False))


def test_shots_are_dropped_until_the_prompt_fits(lm):
    tok = lm.tokenizer
    df = _sample([2, 40, 120])  # short, longer, longest question
    prefix, suffix = special_affixes(tok, "causal")
    full = [len(_tokens(tok, p)) for p in df.prompt]
    question = [format_example(r, include_answer=False) for r in df.to_dict("records")]
    # Room for the short prompt whole, but not for the longer ones.
    limit = full[0] + len(prefix) + len(suffix)
    assert full[1] > full[0] and full[2] > full[1]
    r = mmlu_requests(df, tok, "causal", ScoringConfig(max_length=limit))
    assert r.n_shots[0] == 5 and r.n_shots[1] < 5 and r.n_shots[2] < r.n_shots[1]
    assert r.shortened == 2
    for i, ctx in enumerate(r.contexts):
        k = r.n_shots[i]
        assert len(ctx) <= limit
        # Hendrycks' rule: the largest k that fits, the shots kept being the first k.
        text = assemble(SUBJECT, json.loads(df.shots[i])[:k], question[i])
        assert ctx == prefix + _tokens(tok, text) + suffix
        assert text.startswith(header(SUBJECT)) and text.endswith(question[i]) and text.endswith("Answer:")
        if k < 5:
            more = assemble(SUBJECT, json.loads(df.shots[i])[: k + 1], question[i])
            assert len(prefix) + len(_tokens(tok, more)) + len(suffix) > limit
    assert r.contexts[0] == prefix + _tokens(tok, df.prompt[0]) + suffix


def test_prompts_that_fit_score_as_before(lm, caplog):
    tok = lm.tokenizer
    df = _sample([2, 40, 120])
    # One prompt a batch and no shared prefix: batch composition and the prefix split move float32 sums in their last
    # bits (README, runtime-only settings); this test is about the tokens each prompt is scored on.
    alone = dict(max_batch=1, prefix_cache=False)
    plain = score_task(lm, "mmlu", df.drop(columns=["shots"]), ScoringConfig(max_length=512, **alone), seed=0)
    whole = score_task(lm, "mmlu", df, ScoringConfig(max_length=512, **alone), seed=0)
    probs = ["p_A", "p_B", "p_C", "p_D"]
    # With room for every prompt, the shots column changes nothing: same tokens, same probabilities.
    np.testing.assert_array_equal(whole[probs].to_numpy(), plain[probs].to_numpy())
    assert whole.n_context.tolist() == plain.n_context.tolist()
    assert whole.n_shots.tolist() == [5, 5, 5] and plain.n_shots.isna().all()
    assert whole.attrs["shortened"] == 0
    limit = len(_tokens(tok, df.prompt[0])) + 1
    with caplog.at_level("WARNING", logger="llmcal"):
        cut = score_task(lm, "mmlu", df, ScoringConfig(max_length=limit, **alone), seed=0)
    assert "2 of 3 prompts were longer than scoring.max_length" in caplog.text
    assert cut.attrs["shortened"] == 2 and cut.n_shots.tolist()[0] == 5 and (cut.n_shots[1:] < 5).all()
    # The prompt that fits is scored exactly as before; the shortened ones are other questions now.
    np.testing.assert_array_equal(cut[probs].to_numpy()[0], whole[probs].to_numpy()[0])
    assert (cut.n_context <= limit).all()


def test_zero_shot_prompt_too_long_is_an_error_naming_the_sample(lm):
    df = _sample([2, 200])
    zero = len(_tokens(lm.tokenizer, format_example(df.iloc[1].to_dict(), include_answer=False)))
    with pytest.raises(
        ValueError, match=rf"mmlu sample {SUBJECT}-1: even with 0 shots .*scoring\.max_length {zero - 5}"
    ):
        mmlu_requests(df, lm.tokenizer, "causal", ScoringConfig(max_length=zero - 5))


def test_a_sample_whose_prompt_does_not_match_its_shots_is_refused(lm):
    df = _sample([2])
    df.loc[0, "shots"] = json.dumps(["not in the prompt\n\n"])
    with pytest.raises(ValueError, match=rf"mmlu sample {SUBJECT}-0: its prompt is not the header"):
        mmlu_requests(df, lm.tokenizer, "causal", ScoringConfig(max_length=512))


@pytest.mark.parametrize("family", ["neox", "llama"])
def test_instructed_scoring_drops_shots_too(tiny_models, family):
    lm = load_model(*tiny_models[family], device="cpu")
    tok = lm.tokenizer
    df = _sample([2, 120])
    prefix, suffix = special_affixes(tok, "causal")
    head = prefix + _tokens(tok, instruction("mmlu", SUBJECT))
    body0 = _tokens(tok, df.prompt[0][len(header(SUBJECT)) :])
    limit = len(head) + len(body0) + len(suffix)
    r = mmlu_requests(df, tok, "causal", ScoringConfig(max_length=limit), instruct=True)
    assert r.n_shots[0] == 5 and r.n_shots[1] < 5 and r.shortened == 1
    assert r.contexts[0] == head + body0
    k = r.n_shots[1]
    question = format_example(df.iloc[1].to_dict(), include_answer=False)
    body1 = "".join(json.loads(df.shots[1])[:k]) + question
    assert r.contexts[1] == head + _tokens(tok, body1) and len(r.contexts[1]) <= limit
    assert tok.decode(r.contexts[1]).endswith("Answer:")


# prompt style --------------------------------------------------------------------------------------------------


def test_prompt_styles_keep_or_strip_the_question_whitespace():
    dev, test = _frames([3])
    dev.loc[0, "question"] = "  padded shot question "
    test.loc[0, "question"] = " padded question  "
    hendrycks = sources.build_mmlu(dev, test, n_shots=2, prompt_style="hendrycks")
    harness = sources.build_mmlu(dev, test, n_shots=2, prompt_style="lm_eval_harness")
    h, e = hendrycks.to_pylist()[0], harness.to_pylist()[0]
    assert h["prompt"].endswith(" padded question  \nA. salt\nB. iron\nC. Kenro\nD. Valdoria\nAnswer:")
    assert e["prompt"].endswith("\n\npadded question\nA. salt\nB. iron\nC. Kenro\nD. Valdoria\nAnswer:")
    assert header(SUBJECT) + "  padded shot question \nA." in h["prompt"]
    assert header(SUBJECT) + "padded shot question\nA." in e["prompt"]
    assert json.loads(e["shots"])[0].startswith("padded shot question\nA. salt")
    assert h["question"] == e["question"] == " padded question  "  # the raw question column is kept
    assert sources.sample_info(hendrycks)["prompt"] == "hendrycks"
    assert sources.sample_info(harness)["prompt"] == "lm_eval_harness"
    assert sources.sample_info(sources.build_mmlu(dev, test, n_shots=2))["prompt"] == "hendrycks"


def test_unknown_prompt_style_names_the_key():
    dev, test = _frames([3])
    with pytest.raises(ValueError, match=r"data\.mmlu\.prompt: 'harness' .*hendrycks, lm_eval_harness"):
        sources.build_mmlu(dev, test, prompt_style="harness")
    with pytest.raises(ValueError, match=r"data\.mmlu\.prompt"):
        check_prompt_style("Hendrycks")


# context window ------------------------------------------------------------------------------------------------


def test_context_window_of_each_config_kind(tiny_models):
    assert context_window({"model_type": "gpt_neox", "max_position_embeddings": 2048}) == 2048
    assert context_window({"model_type": "gpt2", "n_positions": 1024, "n_ctx": 1024}) == 1024
    assert context_window({"model_type": "mpt", "max_seq_len": 4096}) == 4096
    assert context_window({"model_type": "llava", "text_config": {"max_position_embeddings": 4096}}) == 4096
    # T5: relative positions; its n_positions (a T5Config default) is no limit.
    assert context_window({"model_type": "t5", "n_positions": 512}) is None
    assert context_window({"model_type": "unknown"}) is None
    with pytest.raises(ValueError, match="max_position_embeddings is 'long'"):
        context_window({"max_position_embeddings": "long"})
    for family, (path, _) in tiny_models.items():
        config = json.loads((path / "config.json").read_text())
        assert context_window(config) == (None if family == "t5" else 512)


def test_max_length_beyond_the_context_window_is_refused(tiny_models):
    path = tiny_models["neox"][0]
    with pytest.raises(ValueError) as err:
        check_max_length(path, 2048)
    assert str(err.value) == (
        f"{path}/config.json: max_position_embeddings is 512 but scoring.max_length is 2048; "
        f"set scoring.max_length <= 512"
    )
    assert check_max_length(path, 512) == 512
    assert check_max_length(tiny_models["t5"][0], 4096) is None


def _refuse_load(*args, **kwargs):
    raise AssertionError("the weights were loaded before the check")


def test_score_job_checks_the_window_and_the_output_before_loading(tiny_models, tmp_path, monkeypatch):
    path, arch = tiny_models["neox"]
    data = tmp_path / "mmlu.parquet"
    _sample([2]).to_parquet(data)
    model = {"name": "neox", "arch": arch}
    monkeypatch.setattr(load_mod, "load_model", _refuse_load)
    with pytest.raises(
        ValueError, match=r"config\.json: max_position_embeddings is 512 but scoring\.max_length is 2048"
    ):
        pipeline.score_job(str(path), model, "mmlu", str(data), {"max_length": 2048}, 0, str(tmp_path / "s.parquet"))
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    with pytest.raises(PermissionError, match="cannot create its folder"):
        pipeline.score_job(
            str(path), model, "mmlu", str(data), {"max_length": 256}, 0, str(blocker / "scores" / "s.parquet")
        )
    monkeypatch.undo()
    out = tmp_path / "scores" / "s.parquet"
    pipeline.score_job(str(path), model, "mmlu", str(data), {"max_length": 256}, 0, str(out))
    assert pd.read_parquet(out).n_shots.tolist() == [5]


def test_one_model_job_loads_once_and_writes_each_task_as_its_own_job_would(tiny_models, tmp_path, monkeypatch):
    """score_model_job: one load for every task, each score file byte-identical to that task's job alone; an
    output it cannot write, for any task, stops it before the load."""
    path, arch = tiny_models["neox"]
    model = {"name": "neox", "arch": arch}
    text = " ".join(WORDS * 3)
    samples = {"clm": pd.DataFrame({"id": [f"c{i}" for i in range(4)], "text": [text] * 4}), "mmlu": _sample([2, 5])}
    data = {}
    for task, df in samples.items():
        data[task] = tmp_path / f"{task}.parquet"
        df.to_parquet(data[task])
    cfg = {"max_length": 256, "min_context": 2}
    alone = {}
    for task in samples:
        alone[task] = tmp_path / "alone" / f"{task}.parquet"
        pipeline.score_job(str(path), model, task, str(data[task]), cfg, 0, str(alone[task]))
    loads = []

    def counted(*args, **kwargs):
        loads.append(args[0])
        return load_model(*args, **kwargs)

    blocker = tmp_path / "not_a_folder"
    blocker.write_text("")
    monkeypatch.setattr(load_mod, "load_model", _refuse_load)
    with pytest.raises(PermissionError, match="not_a_folder/mmlu.parquet: cannot create its folder"):
        pipeline.score_model_job(
            str(path),
            model,
            {
                "clm": (str(data["clm"]), str(tmp_path / "x" / "clm.parquet")),
                "mmlu": (str(data["mmlu"]), str(blocker / "mmlu.parquet")),
            },
            cfg,
            0,
        )
    assert not (tmp_path / "x" / "clm.parquet").exists()
    monkeypatch.setattr(load_mod, "load_model", counted)
    together = {t: tmp_path / "together" / f"{t}.parquet" for t in samples}
    pipeline.score_model_job(str(path), model, {t: (str(data[t]), str(together[t])) for t in samples}, cfg, 0)
    assert loads == [str(path)]
    for task in samples:
        assert together[task].read_bytes() == alone[task].read_bytes(), task
    empty = tmp_path / "empty.parquet"
    samples["mmlu"].iloc[:0].to_parquet(empty)
    monkeypatch.setattr(load_mod, "load_model", _refuse_load)
    with pytest.raises(ValueError, match="empty.parquet: no samples to score"):
        pipeline.score_model_job(
            str(path),
            model,
            {"clm": (str(data["clm"]), str(together["clm"])), "mmlu": (str(empty), str(together["mmlu"]))},
            cfg,
            0,
        )


# model directories ---------------------------------------------------------------------------------------------


def _copy(src, dest):
    shutil.copytree(src, dest)
    return dest


def test_model_directory_without_tokenizer_says_so(tiny_models, tmp_path):
    path = _copy(tiny_models["neox"][0], tmp_path / "notok")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        (path / name).unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match=rf"{path}: no tokenizer files"):
        load_model(path, "causal", device="cpu")


def test_truncated_safetensors_names_the_file(tiny_models, tmp_path):
    path = _copy(tiny_models["neox"][0], tmp_path / "cut")
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{weights}: truncated or corrupt safetensors file"):
        load_model(path, "causal", device="cpu")
    weights.write_bytes(data[:5])
    with pytest.raises(ValueError, match=rf"{weights}: truncated safetensors file"):
        load_model(path, "causal", device="cpu")
    weights.write_bytes(data + b"extra")
    with pytest.raises(ValueError, match=rf"{weights}: truncated or corrupt"):
        load_model(path, "causal", device="cpu")


def test_missing_model_directory_names_the_config_keys(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"no such model directory.*`hub:`.*`path:`"):
        load_model(tmp_path / "nowhere", "causal", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError) as err:
        download_model("EleutherAI/pythia-70m", "step1", tmp_path / "m")
    assert "`path: <directory>`" in str(err.value) and "source: local" not in str(err.value)


def test_a_score_job_imports_only_what_scoring_uses(tiny_models, tmp_path):
    """A fresh interpreter running scripts/score.py's imports and a whole score_model_job loads no plotting,
    training, dataset or study code: each scoring job pays for torch, transformers and pandas only."""
    import subprocess
    import sys
    from pathlib import Path

    path, arch = tiny_models["neox"]
    data = tmp_path / "mmlu.parquet"
    _sample([2]).to_parquet(data)
    src = Path(pipeline.__file__).resolve().parents[1]
    code = f"""
import sys
from llmcal.env import prepare
prepare(offline=True)
from llmcal import pipeline
from llmcal.scoring.config import ScoringConfig
from llmcal.sections import job_settings
pipeline.score_model_job({str(path)!r}, {{"name": "neox", "arch": {arch!r}}},
                         {{"mmlu": ({str(data)!r}, {str(tmp_path / "s.parquet")!r})}}, {{"max_length": 256}}, 0)
print(sorted(m for m in sys.modules if m.split(".")[0] in
             ("matplotlib", "sklearn", "trl", "peft", "datasets", "seaborn")
             or m in ("llmcal.study", "llmcal.figures", "llmcal.findings", "llmcal.stats", "llmcal.alignment",
                      "llmcal.data.sources", "llmcal.models.pretrain")))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "s.parquet").is_file()


def test_a_score_file_says_on_what_device_and_dtype_it_was_scored(tiny_models, tmp_path, caplog):
    """scoring.dtype auto is bfloat16 on a GPU with it and float32 on a CPU: numbers that differ in their third
    decimal. The job's log and every score file's parquet metadata say which ran (with torch and transformers),
    the scores themselves read back as before, and two identical runs still write identical bytes."""
    import logging

    import torch
    import transformers

    path, arch = tiny_models["neox"]
    model = {"name": "neox", "arch": arch}
    data = tmp_path / "clm.parquet"
    pd.DataFrame({"id": [f"c{i}" for i in range(4)], "text": [" ".join(WORDS * 3)] * 4}).to_parquet(data)
    outs = {}
    with caplog.at_level(logging.INFO, logger="llmcal"):
        for name, dtype in (("auto", "auto"), ("again", "auto"), ("bf16", "bfloat16")):
            outs[name] = tmp_path / name / "clm.parquet"
            cfg = {"max_length": 256, "min_context": 2, "dtype": dtype}
            pipeline.score_job(str(path), model, "clm", str(data), cfg, 0, str(outs[name]))
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    assert pipeline.scored_with(outs["auto"]) == {
        "device": "cpu",
        "dtype": "float32",
        "scoring_dtype": "auto",
        **versions,
    }
    assert pipeline.scored_with(outs["bf16"])["dtype"] == "bfloat16"
    assert "neox: scoring on cpu in float32 (scoring.dtype auto)" in caplog.text
    assert outs["auto"].read_bytes() == outs["again"].read_bytes()
    scores = pd.read_parquet(outs["auto"])
    assert len(scores) == 4 and scores["confidence"].between(0, 1).all()
    assert not pd.read_parquet(outs["auto"]).equals(pd.read_parquet(outs["bf16"]))  # the dtype does move scores
    old = tmp_path / "old.parquet"
    scores.to_parquet(old)  # a file from before provenance was kept
    assert pipeline.scored_with(old) == {}

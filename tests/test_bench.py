"""The benches in bench/ run: the CPU bench end to end on a tiny shape (without lm-eval, which lives in .venv-bench
only), the GPU bench's CPU mode; and the lm-eval task the bench writes asks for llmcal's prompt text."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _bench_module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_cpu_bench_runs_and_checks_agreement():
    out = _run(
        "bench/scoring_speed.py",
        "--shape",
        "tiny",
        "--no-lm-eval",
        "--subjects",
        "2",
        "--questions",
        "3",
        "--instructed",
        "8",
    )
    assert "MMLU 5-shot: 6 questions, 2 subjects" in out
    for row in ("llmcal prefix", "llmcal plain", "plain loop"):
        assert row in out
    assert "max |dp| over the 3 scorers" in out
    assert "instructed clm: 8 samples" in out and "instructed facts: 8 samples" in out
    assert out.count("same predictions: True") == 2


def test_gpu_bench_tiny_mode_runs():
    out = _run("bench/gpu_scoring.py", "--tiny")
    assert "attention sdpa" in out
    assert out.count("same top-1 token on 100.0%") == 2


def test_lm_eval_task_is_llmcal_prompt(tmp_path):
    """The bench's task YAML, rendered as lm-eval 0.4 renders it (jinja over the CSV row, description, shots
    joined by the few-shot delimiter), is llmcal's MMLU prompt string for string."""
    import jinja2

    from llmcal.data.sources import build_mmlu, read_mmlu_csv

    bench = _bench_module("scoring_speed")
    mmlu = bench.write_mmlu(tmp_path / "mmlu", subjects=2, questions=3)
    names = bench.write_lm_eval_tasks(mmlu, tmp_path / "tasks", ["astronomy", "college_physics"])
    dev, test = read_mmlu_csv(mmlu)
    df = build_mmlu(dev, test, n_shots=5, prompt_style="lm_eval_harness").to_pandas().set_index("id")
    for name, subject in zip(names, ["astronomy", "college_physics"]):
        task = yaml.safe_load((tmp_path / "tasks" / f"{name}.yaml").read_text())
        text = jinja2.Template(task["doc_to_text"], keep_trailing_newline=True)
        rows = {
            split: [r for r in (dev if split == "dev" else test).to_dict("records") if r["subject"] == subject]
            for split in ("dev", "test")
        }
        shots = [text.render(**r) + task["target_delimiter"] + r[task["doc_to_target"]] for r in rows["dev"][:5]]
        for i, row in enumerate(rows["test"]):
            prompt = (
                task["description"]
                + task["fewshot_delimiter"].join(shots)
                + task["fewshot_delimiter"]
                + text.render(**row)
            )
            assert prompt == df.loc[f"{subject}-{i}", "prompt"]


def test_drift_bench_compares_engines_on_a_tasks_own_contexts(tiny_models, tmp_path):
    """score_drift: the contexts a task hands the engine are captured as it scores, another checkout's engine is
    loaded from its src/, and each variant's |d confidence| is against that engine at the run's batching (this
    checkout as its own baseline: its prefix path is the reference itself, so it moves by exactly 0)."""
    import pandas as pd
    import pytest

    from llmcal.models.load import load_model
    from llmcal.scoring.config import ScoringConfig

    drift = _bench_module("score_drift")
    lm = load_model(*tiny_models["neox"], device="cpu")
    cfg = ScoringConfig.from_dict({"max_length": 256, "min_context": 4, "batch_tokens": 1024, "max_batch": 8})
    words = "the cat sat on a mat while the dog ran to the park and back again before dinner".split()
    df = pd.DataFrame(
        {"id": [f"s{i}" for i in range(12)], "text": [" ".join(words[i:] + words[:i]) for i in range(12)]}
    )
    seen = drift.capture_contexts(lm, "clm", df, cfg, 0, instruct=True)
    contexts, reduce = seen["contexts"], seen["reduce"]
    assert len(contexts) == 12 and all(len(c) >= 4 for c in contexts)
    d = drift.drift(lm, contexts, reduce, drift.load_engine(ROOT / "src"), cfg.batch_tokens, cfg.max_batch)
    per_sample = {k: v for k, v in d.items() if not k.endswith(": cpu s")}
    assert list(d)[:4] == list(drift.VARIANTS) and all(len(v) == 12 for v in per_sample.values())
    assert d["llmcal prefix"].max() == 0.0 and not d["llmcal prefix: prediction"].any()
    assert max(v.max() for v in per_sample.values()) < 1e-4  # float32 rounding, nothing more
    assert all(d[f"{v}: cpu s"].shape == (1,) and d[f"{v}: cpu s"][0] > 0 for v in drift.VARIANTS)
    table = drift.summary([d, d], baseline_cpu=2.0)
    assert list(table["against the baseline"]) == list(drift.VARIANTS)
    assert table["other prediction"].tolist() == [2 * int(d[f"{v}: prediction"].sum()) for v in drift.VARIANTS]
    assert table["cpu s"].tolist() == [2 * float(d[f"{v}: cpu s"][0]) for v in drift.VARIANTS]
    assert table["vs baseline"].tolist() == [f"{2.0 / t:.2f}x" for t in table["cpu s"]]
    with pytest.raises(SystemExit, match="no llmcal/scoring/engine.py"):
        drift.load_engine(tmp_path)


def test_drift_bench_in_float64_leaves_only_what_the_engines_compute(tiny_models):
    """--dtype float64: the checkpoint widened to double runs through every engine and path (the prefix cache and
    padded batches included), and every variant, the baseline at other batch shapes too, agrees with the baseline
    to 1e-7 with the same predictions."""
    import pandas as pd
    import torch

    from llmcal.models.load import load_model
    from llmcal.scoring.config import ScoringConfig

    drift = _bench_module("score_drift")
    lm = load_model(*tiny_models["neox"], device="cpu", dtype="float64")
    assert next(lm.model.parameters()).dtype == torch.float64
    cfg = ScoringConfig.from_dict({"max_length": 256, "min_context": 4, "batch_tokens": 1024, "max_batch": 8})
    words = "the cat sat on a mat while the dog ran to the park and back again before dinner".split()
    texts = [" ".join((words[i:] + words[:i]) * (1 + i % 3)) for i in range(12)]  # ragged lengths: padding
    df = pd.DataFrame({"id": [f"s{i}" for i in range(12)], "text": texts})
    baseline = drift.load_engine(ROOT / "src")
    for instruct in (False, True):
        seen = drift.capture_contexts(lm, "clm", df, cfg, 0, instruct=instruct)
        d = drift.drift(lm, seen["contexts"], seen["reduce"], baseline, cfg.batch_tokens, cfg.max_batch)
        assert all(d[v].max() <= 1e-7 for v in drift.VARIANTS), {v: d[v].max() for v in drift.VARIANTS}
        assert not any(d[f"{v}: prediction"].any() for v in drift.VARIANTS)


def test_drift_bench_rebuilds_the_metrics_table_from_the_baselines_scores(tiny_models, tmp_path):
    """score_drift --metrics-out: a task scored by the baseline engine gives the whole score frame a score job
    writes (this checkout as its own baseline: the very frame), the aggregate job's tables are rebuilt from such
    frames, and the comparison names each column that moved, by how much and in how many rows."""
    from types import SimpleNamespace

    import pandas as pd

    from llmcal.models.load import load_model
    from llmcal.scoring.config import ScoringConfig
    from llmcal.tasks import score_task

    drift = _bench_module("score_drift")
    lm = load_model(*tiny_models["neox"], device="cpu")
    cfg = ScoringConfig.from_dict({"max_length": 256, "min_context": 4, "batch_tokens": 1024, "max_batch": 8})
    words = "the cat sat on a mat while the dog ran to the park and back again before dinner".split()
    df = pd.DataFrame(
        {"id": [f"s{i}" for i in range(40)], "text": [" ".join(words[i % 17 :] + words[: i % 17]) for i in range(40)]}
    )
    seen = drift.capture_contexts(lm, "clm", df, cfg, 0, instruct=False, baseline=drift.load_engine(ROOT / "src"))
    frame = seen["frame"]
    pd.testing.assert_frame_equal(frame, score_task(lm, "clm", df, cfg, 0, instruct=False))
    assert (frame["confidence"].to_numpy() == seen["ref"]["confidence"]).all()

    rows = [
        {"model": m, "family": "tiny", "size": None, "step": None, "run": None, "epoch": None, "task": "clm"}
        for m in ("a", "b")
    ]
    study = SimpleNamespace(
        score_rows=lambda: rows, metrics=SimpleNamespace(results_params=lambda: {"n_bins": 10, "n_boot": 20}), seed=0
    )
    moved = frame.copy()
    moved.loc[3, "confidence"] = min(1.0, moved.loc[3, "confidence"] + 0.2)  # the table keeps six decimals
    ours, _ = drift.rebuild_metrics(study, {("a", "clm"): frame, ("b", "clm"): frame}, tmp_path / "ours")
    theirs, per_subject = drift.rebuild_metrics(study, {("a", "clm"): frame, ("b", "clm"): moved}, tmp_path / "theirs")
    assert per_subject.is_file() and (tmp_path / "theirs" / "scores" / "clm" / "b.parquet").is_file()
    table = drift.metrics_diff(ours, theirs, ["model", "task"]).set_index("column")
    assert table.loc["accuracy", "rows that differ"] == 0 and table.loc["accuracy", "max |d|"] == 0
    assert table.loc["brier", "rows that differ"] == 1 and 0 < table.loc["brier", "max |d|"] < 0.2 / 40
    assert table.loc["n", "max |d|"] == 0
    same = drift.metrics_diff(ours, ours, ["model", "task"])
    assert (same["rows that differ"] == 0).all()
    line = drift.diff_line("moved", theirs, ours, ["model", "task"])
    assert (line["rows"], line["rows that differ"]) == (2, 1)
    assert line["cells that differ"] == int(table["rows that differ"].sum()) >= 2
    assert "brier" in line["columns that moved"].split(", ") and "accuracy" not in line["columns that moved"]
    assert drift.diff_line("same", ours, ours, ["model", "task"])["columns that moved"] == "-"

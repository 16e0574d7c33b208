"""Job functions: the metrics table and the sample job, on files written here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llmcal import calibration
from llmcal.pipeline import aggregate_job, sample_job


def test_aggregate_matches_the_metric_functions(tmp_path):
    rng = np.random.default_rng(0)
    files, rows = [], []
    for i, (model, task) in enumerate([("a", "clm"), ("a", "mmlu"), ("b", "clm")]):
        conf = rng.uniform(0, 1, 500)
        corr = rng.uniform(0, 1, 500) < conf ** (1 + i)
        path = tmp_path / f"{model}-{task}.parquet"
        pd.DataFrame({"id": [f"s{j}" for j in range(500)], "confidence": conf, "correct": corr}).to_parquet(path)
        files.append(str(path))
        rows.append({"model": model, "family": "f", "size": model, "step": None, "task": task})
    out = tmp_path / "metrics.csv"
    aggregate_job(files, rows, {"n_bins": 10, "n_boot": 50}, seed=1, out=str(out))
    table = pd.read_csv(out)
    assert list(table[["model", "task"]].itertuples(index=False, name=None)) == [("a", "clm"), ("a", "mmlu"), ("b", "clm")]
    for path, (_, row) in zip(files, table.iterrows()):
        df = pd.read_parquet(path)
        assert row["ece"] == pytest.approx(calibration.expected_calibration_error(df.confidence, df.correct), abs=1e-6)
        assert row["accuracy"] == pytest.approx(df.correct.mean(), abs=1e-6)
        assert row["n"] == 500
        assert row["ece_lo"] <= row["ece_hi"]


def test_aggregate_refuses_mismatched_rows(tmp_path):
    with pytest.raises(ValueError):
        aggregate_job(["x.parquet"], [], {"n_bins": 10, "n_boot": 10}, 0, str(tmp_path / "m.csv"))
    assert not (tmp_path / "m.csv").exists()


def test_sample_job_is_deterministic(tmp_path):
    pile = tmp_path / "val.jsonl"
    pile.write_text("\n".join(json.dumps({"text": f"document number {i} " * 20, "meta": {"pile_set_name": "X"}})
                              for i in range(50)) + "\n")
    outs = [tmp_path / f"clm{i}.parquet" for i in range(2)]
    for out in outs:
        sample_job("clm", {"files": {"val": str(pile)}}, {"n": 10, "min_chars": 10}, 7, str(out))
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert len(pd.read_parquet(outs[0])) == 10

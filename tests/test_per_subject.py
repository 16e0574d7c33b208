"""Per-subject MMLU calibration: the table the aggregate job writes, its figure kind, and the score files it reads."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from llmcal import calibration
from llmcal.metrics import PER_SUBJECT_COLUMNS, per_group, summarize
from llmcal.pipeline import aggregate_job, figure_job
from llmcal.registry import ConfigError

SUBJECTS = ["anatomy", "astronomy", "high_school_physics"]


def _mmlu_scores(rng, n=300, skew=1.0):
    subject = rng.choice(SUBJECTS, size=n)
    conf = rng.uniform(0.25, 1, n)
    # Subjects differ in how well calibrated they are, so the table has something to show.
    bend = np.where(subject == "anatomy", 1.0, np.where(subject == "astronomy", 2.0, 3.0)) * skew
    corr = rng.uniform(size=n) < conf**bend
    return pd.DataFrame(
        {"id": [f"{s}-{i}" for i, s in enumerate(subject)], "subject": subject, "confidence": conf, "correct": corr}
    )


def test_per_group_equals_summarize_on_each_subject():
    df = _mmlu_scores(np.random.default_rng(0))
    rows = per_group(df.confidence, df.correct, df.subject, n_bins=10, n_boot=80, seed=3)
    assert [r["subject"] for r in rows] == sorted(SUBJECTS)
    for r in rows:
        sub = df[df.subject == r["subject"]]
        want = summarize(sub.confidence, sub.correct, n_bins=10, n_boot=80, seed=3)
        assert r["n"] == len(sub)
        for key in ("accuracy", "accuracy_lo", "accuracy_hi", "ece", "ece_lo", "ece_hi"):
            assert r[key] == want[key]
        assert r["ece"] == pytest.approx(calibration.expected_calibration_error(sub.confidence, sub.correct))
    # The subjects really differ: the per-subject ECEs are not one number.
    assert max(r["ece"] for r in rows) - min(r["ece"] for r in rows) > 0.05


def test_per_group_refuses_missing_labels():
    with pytest.raises(ValueError, match="no group label, e.g. row 1"):
        per_group([0.5, 0.6], [1, 0], ["anatomy", None], n_boot=10)
    with pytest.raises(ValueError, match="length mismatch"):
        per_group([0.5, 0.6], [1, 0], ["anatomy"], n_boot=10)


def _write(tmp_path, name, frame):
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    return str(path)


def test_aggregate_writes_the_per_subject_table(tmp_path):
    rng = np.random.default_rng(1)
    a, b = _mmlu_scores(rng), _mmlu_scores(rng, skew=0.5)
    clm = pd.DataFrame({"id": ["c1", "c2", "c3"], "confidence": [0.2, 0.9, 0.6], "correct": [False, True, True]})
    files = [_write(tmp_path, "a-mmlu", a), _write(tmp_path, "a-clm", clm), _write(tmp_path, "b-mmlu", b)]
    rows = [{"model": "a", "task": "mmlu"}, {"model": "a", "task": "clm"}, {"model": "b", "task": "mmlu"}]
    out, per = tmp_path / "metrics.csv", tmp_path / "per_subject.csv"
    aggregate_job(files, rows, {"n_bins": 10, "n_boot": 40}, seed=2, out=str(out), per_subject_out=str(per))
    table = pd.read_csv(per)
    assert list(table.columns) == PER_SUBJECT_COLUMNS
    assert list(table[["model", "subject"]].itertuples(index=False, name=None)) == [
        (m, s) for m in "ab" for s in sorted(SUBJECTS)
    ]
    # Each model's subject sizes add up to its row in the metrics table.
    metrics = pd.read_csv(out)
    for model, frame in (("a", a), ("b", b)):
        assert table[table.model == model].n.sum() == len(frame)
        assert metrics[(metrics.model == model) & (metrics.task == "mmlu")].n.item() == len(frame)
    anatomy = a[a.subject == "anatomy"]
    row = table[(table.model == "a") & (table.subject == "anatomy")].iloc[0]
    assert row.accuracy == pytest.approx(anatomy.correct.mean(), abs=1e-6)


def test_aggregate_without_mmlu_writes_the_header_alone(tmp_path):
    clm = pd.DataFrame({"id": ["c1", "c2"], "confidence": [0.2, 0.9], "correct": [False, True]})
    per = tmp_path / "per_subject.csv"
    aggregate_job(
        [_write(tmp_path, "a-clm", clm)],
        [{"model": "a", "task": "clm"}],
        {"n_boot": 10},
        0,
        str(tmp_path / "m.csv"),
        str(per),
    )
    assert per.read_text().strip() == ",".join(PER_SUBJECT_COLUMNS)


def test_an_old_mmlu_score_file_without_subjects_stops_the_table(tmp_path):
    old = _mmlu_scores(np.random.default_rng(2)).drop(columns="subject")
    path = _write(tmp_path, "a-mmlu", old)
    out, per = tmp_path / "metrics.csv", tmp_path / "per_subject.csv"
    with pytest.raises(
        ValueError, match=r"a-mmlu\.parquet: an MMLU score file without a `subject` column.*--forcerun score"
    ):
        aggregate_job([path], [{"model": "a", "task": "mmlu"}], {"n_boot": 10}, 0, str(out), str(per))
    assert not out.exists() and not per.exists()


def _mini_study(tmp_path, **changes):
    from pathlib import Path

    import yaml

    from llmcal.study import Study

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "mini.yaml").read_text())
    config["results"] = str(tmp_path / "results")
    config.update(changes)
    return Study(config)


def test_the_per_subject_figure_draws_from_the_table(tmp_path):
    study = _mini_study(tmp_path)
    fig = study.figure("subjects")
    assert fig.kind == "per_subject" and fig.task == "mmlu"
    inputs = study.figure_inputs("subjects")
    assert inputs == {"per_subject": study.per_subject_file()}
    assert study.per_subject_file() in study.all_targets()
    rng = np.random.default_rng(3)
    rows = []
    for model in fig.models:
        df = _mmlu_scores(rng)
        rows += [{"model": model, **r} for r in per_group(df.confidence, df.correct, df.subject, n_boot=20)]
    from pathlib import Path

    Path(study.per_subject_file()).parent.mkdir(parents=True)
    pd.DataFrame(rows, columns=PER_SUBJECT_COLUMNS).to_csv(study.per_subject_file(), index=False)
    out = tmp_path / "subjects.pdf"
    figure_job(asdict(fig), inputs, study.figure_params("subjects"), {}, 10, str(out))
    assert out.read_bytes().startswith(b"%PDF") and out.stat().st_size > 5000


def test_the_per_subject_figure_names_a_model_without_rows(tmp_path):
    from llmcal.figures import figure_per_subject

    df = _mmlu_scores(np.random.default_rng(4))
    table = pd.DataFrame(
        [{"model": "m1", **r} for r in per_group(df.confidence, df.correct, df.subject, n_boot=10)],
        columns=PER_SUBJECT_COLUMNS,
    )
    with pytest.raises(ValueError, match=r"no per-subject rows for \['m2'\]"):
        figure_per_subject(table, ["m1", "m2"], tmp_path / "x.pdf")


def test_a_per_subject_figure_needs_mmlu(tmp_path):
    with pytest.raises(ConfigError, match=r"subjects\)\.kind: a per_subject figure needs the mmlu task"):
        _mini_study(
            tmp_path,
            tasks=["clm", "facts"],
            figures=[{"name": "subjects", "kind": "per_subject", "models": ["mini-l"]}],
        )
    with pytest.raises(ConfigError, match=r"\.task: a per_subject figure is of MMLU's subjects, got 'clm'"):
        _mini_study(tmp_path, figures=[{"name": "s", "kind": "per_subject", "task": "clm", "models": ["mini-l"]}])


def test_the_per_subject_figure_keeps_subjects_only_some_models_have(tmp_path):
    from llmcal.figures import figure_per_subject

    rng = np.random.default_rng(6)
    full, part = _mmlu_scores(rng), _mmlu_scores(rng)
    part = part[part.subject != "anatomy"]
    rows = [{"model": "m1", **r} for r in per_group(full.confidence, full.correct, full.subject, n_boot=10)]
    rows += [{"model": "m2", **r} for r in per_group(part.confidence, part.correct, part.subject, n_boot=10)]
    fig = figure_per_subject(pd.DataFrame(rows, columns=PER_SUBJECT_COLUMNS), ["m1", "m2"], tmp_path / "x.pdf")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    # m2, the last model, orders the subjects; anatomy, which only m1 has, is still drawn, last.
    assert sorted(labels) == sorted(s.replace("_", " ") for s in SUBJECTS) and labels[-1] == "anatomy"

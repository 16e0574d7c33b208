"""How far a finished run's confidences move between scoring engines, and how far they move within one.

For every model of a finished run (e.g. `make mini`'s results/mini) and every task, the run's own contexts are
scored by the engine of another checkout (--baseline SRC: its `llmcal/scoring/engine.py`, e.g. the engine before
issue 11, `git archive 6852b9d src | tar -x -C /tmp/base`) at the run's batching, and then:

  baseline, half budget   the same engine at scoring.batch_tokens / 2 (a runtime-only setting: it reruns nothing)
  baseline, one by one    the same engine with max_batch 1 (every context alone, no padding)
  llmcal prefix           this checkout's engine (shared-prefix reuse, padding-priced batch plan)
  llmcal plain            this checkout's engine with scoring.prefix_cache: false

each compared with the baseline at the run's batching: the largest |d confidence|, how many samples move by more
than 1e-6, how many get another prediction (top token, or MMLU option), and the CPU seconds of the engine's
calls (no model load, no process start) with the baseline's time over it. The first two rows are the float32
rounding the baseline itself shows when only its batch shapes change, the yardstick for the last two. One
thread, float32, as the mini preset scores.

--dtype float64 runs every engine on the same weights in double precision instead (the logits are rounded to
float32 where each engine hands them to the task's reducer, as at any dtype): rounding in the model's sums then
falls far below float32's, so what remains between two engines is any difference in what they compute. The
mini preset's models are float32 checkpoints; float64 is their exact widening.

--metrics-out DIR also writes the baseline's score files there (DIR/baseline: the whole frame each task builds
from the baseline engine's scores; DIR/baseline-half-budget: the same at half the token budget) with the
aggregate job's metrics.csv and per_subject.csv built from each, and compares the run's own tables, and the
half-budget ones as the yardstick, with the baseline's: rows and cells that differ, the largest |d| and the
columns that moved (the tables keep six decimals).

    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src               # every model of the mini run
    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src --models mini-l mini-xs
    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src --metrics-out /tmp/base-metrics
    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src --models mini-l mini-xs --dtype float64
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from llmcal.env import prepare  # noqa: E402

prepare(offline=True)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

THRESHOLD = 1e-6
VARIANTS = ("baseline, half budget", "baseline, one by one", "llmcal prefix", "llmcal plain")


def load_engine(src: Path):
    """Another checkout's scoring engine, as a module of its own (it needs numpy and torch only)."""
    path = Path(src) / "llmcal" / "scoring" / "engine.py"
    if not path.is_file():
        raise SystemExit(f"--baseline {src}: no llmcal/scoring/engine.py there (pass a checkout's src/ folder)")
    spec = importlib.util.spec_from_file_location("baseline_engine", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def capture_contexts(
    lm, task: str, df: pd.DataFrame, cfg, seed: int, instruct: bool, baseline=None, batch_tokens: int | None = None
):
    """The contexts and reducer the task hands the engine (llmcal.scoring.tasks.run_contexts), as it scores.

    With a baseline engine, the task is scored by it at the run's batching instead: its result is returned too
    ("ref", the engine's arrays, and "cpu s", its CPU seconds) with the whole score frame the task builds from it
    ("frame", as a score job writes it), so the metrics table can be rebuilt from the baseline's scores.
    """
    import time

    import torch

    import llmcal.scoring.tasks as scoring_tasks
    from llmcal.tasks import score_task

    seen, run = {}, scoring_tasks.run_contexts

    def capture(lm_, contexts, reduce, cfg_):
        seen["contexts"], seen["reduce"] = contexts, reduce
        if baseline is None:
            return run(lm_, contexts, reduce, cfg_)
        start = time.process_time()
        with torch.inference_mode():
            budget = batch_tokens or cfg_.batch_tokens
            seen["ref"] = baseline.score_contexts(lm_, contexts, reduce, budget, cfg_.max_batch)
        seen["cpu s"] = time.process_time() - start
        return seen["ref"]

    scoring_tasks.run_contexts = capture
    try:
        seen["frame"] = score_task(lm, task, df, cfg, seed, instruct=instruct)
    finally:
        scoring_tasks.run_contexts = run
    return seen


def drift(lm, contexts, reduce, baseline, batch_tokens: int, max_batch: int, ref=None) -> dict[str, np.ndarray]:
    """|d confidence| of each variant against the baseline engine at (batch_tokens, max_batch) (ref: its result,
    when already computed), whether each sample's prediction moved, and each variant's CPU seconds."""
    import time

    import torch

    from llmcal.scoring import engine

    def timed(score, *args):
        start = time.process_time()
        with torch.inference_mode():
            result = score(lm, contexts, reduce, *args)
        return result, time.process_time() - start

    if ref is None:
        ref, _ = timed(baseline.score_contexts, batch_tokens, max_batch)
    runs, cpu = {}, {}
    runs[VARIANTS[0]], cpu[VARIANTS[0]] = timed(baseline.score_contexts, max(1, batch_tokens // 2), max_batch)
    runs[VARIANTS[1]], cpu[VARIANTS[1]] = timed(baseline.score_contexts, batch_tokens, 1)
    runs[VARIANTS[2]], cpu[VARIANTS[2]] = timed(engine.score_contexts, batch_tokens, max_batch, True)
    runs[VARIANTS[3]], cpu[VARIANTS[3]] = timed(engine.score_contexts, batch_tokens, max_batch, False)
    out = {name: np.abs(run["confidence"] - ref["confidence"]) for name, run in runs.items()}
    # The prediction: the most probable token (causal LM, facts) or option (MMLU).
    key = "pred_id" if "pred_id" in ref else "choice"
    out.update({f"{name}: prediction": run[key] != ref[key] for name, run in runs.items()})
    out.update({f"{name}: cpu s": np.array([cpu[name]]) for name in runs})
    return out


def summary(deltas: list[dict[str, np.ndarray]], baseline_cpu: float | None = None) -> pd.DataFrame:
    """One row per variant; `cpu s` is its scoring time summed over the score files (the engine's calls alone:
    no model load, no process start), and `vs baseline` the baseline's time at the run's batching (baseline_cpu)
    over it."""
    rows = []
    for name in VARIANTS:
        d = np.concatenate([x[name] for x in deltas])
        moved = np.concatenate([x[f"{name}: prediction"] for x in deltas])
        row = {
            "against the baseline": name,
            "max |d conf|": d.max(),
            f"> {THRESHOLD:g}": int((d > THRESHOLD).sum()),
            "other prediction": int(moved.sum()),
        }
        if all(f"{name}: cpu s" in x for x in deltas):
            row["cpu s"] = float(sum(x[f"{name}: cpu s"].sum() for x in deltas))
            if baseline_cpu:
                row["vs baseline"] = f"{baseline_cpu / row['cpu s']:.2f}x"
        rows.append(row)
    return pd.DataFrame(rows)


def metrics_diff(ours: Path, theirs: Path, keys: list[str]) -> pd.DataFrame:
    """Each numeric column of two metrics tables (rows matched on keys): the largest |d| and how many rows
    differ, with whether the two files are byte-identical in the table's title."""
    from llmcal.fsio import read_table_csv

    a, b = read_table_csv(ours), read_table_csv(theirs)
    merged = a.merge(b, on=keys, how="outer", suffixes=("", " baseline"), indicator=True)
    if (merged["_merge"] != "both").any():
        raise SystemExit(f"{ours} and {theirs} do not have the same rows ({keys})")
    rows = []
    for col in a.columns:
        if col in keys or not pd.api.types.is_numeric_dtype(a[col]):
            continue
        x, y = merged[col].to_numpy(float), merged[f"{col} baseline"].to_numpy(float)
        same = (x == y) | (np.isnan(x) & np.isnan(y))
        d = np.where(same, 0.0, np.abs(x - y))
        rows.append({"column": col, "max |d|": float(np.nanmax(d)), "rows that differ": int((~same).sum())})
    return pd.DataFrame(rows)


def diff_line(name: str, ours: Path, theirs: Path, keys: list[str]) -> dict:
    """One comparison of two tables in a line: rows and cells that differ, the largest |d|, the columns that moved."""
    a, b = read_csv_rows(ours), read_csv_rows(theirs)
    table = metrics_diff(ours, theirs, keys)
    moved = table[table["rows that differ"] > 0]
    return {
        "comparison": name,
        "rows": len(a),
        "rows that differ": sum(x != y for x, y in zip(a, b)),
        "cells that differ": int(moved["rows that differ"].sum()),
        "max |d|": float(table["max |d|"].max()),
        "columns that moved": ", ".join(moved["column"]) or "-",
    }


def read_csv_rows(path: Path) -> list[str]:
    """A table's data lines as written (the header left out), sorted: rows pair by their leading key columns
    whatever order each table was written in."""
    return sorted(Path(path).read_text(encoding="utf-8").splitlines()[1:])


def rebuild_metrics(study, frames: dict[tuple[str, str], pd.DataFrame], out: Path) -> tuple[Path, Path]:
    """The aggregate job's metrics.csv and per_subject.csv from score frames keyed (model, task)."""
    from llmcal import pipeline

    files, rows = [], []
    for row in study.score_rows():
        path = out / "scores" / row["task"] / f"{row['model']}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frames[row["model"], row["task"]].to_parquet(path, index=False)
        files.append(str(path))
        rows.append(row)
    metrics, per_subject = out / "metrics.csv", out / "per_subject.csv"
    pipeline.aggregate_job(
        files, rows, study.metrics.results_params(), study.seed, str(metrics), per_subject_out=str(per_subject)
    )
    return metrics, per_subject


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout's src/ folder")
    parser.add_argument("--configfile", default=str(ROOT / "config" / "mini.yaml"), help="the finished run's config")
    parser.add_argument("--models", nargs="*", help="models to score (default: every model of the run on disk)")
    parser.add_argument(
        "--metrics-out",
        type=Path,
        help="also write the baseline's score files and the metrics tables built from them there (every model of "
        "the run), and compare them with the run's metrics.csv and per_subject.csv",
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        help="the weights' dtype for every engine (default: the run's scoring.dtype, float32 for the mini preset)",
    )
    args = parser.parse_args(argv)

    import torch

    from llmcal.config import fill_defaults, load_yaml
    from llmcal.fsio import read_parquet
    from llmcal.models.load import load_model
    from llmcal.study import Study

    torch.set_num_threads(1)
    config = load_yaml(args.configfile)
    fill_defaults(config)
    study = Study(config)
    cfg = study.scoring
    baseline = load_engine(args.baseline)
    dtype = args.dtype or cfg.dtype
    names = args.models or [m for m in study.models if study.model_dir(m).is_dir()]
    if not names:
        raise SystemExit(f"no model of {args.configfile} is on disk: run the workflow first")
    if args.metrics_out and set(names) != set(study.models):
        missing = sorted(set(study.models) - set(names))
        raise SystemExit(f"--metrics-out needs every model of the run; not scored: {', '.join(missing)}")
    samples = {t: read_parquet(study.data_file(t)) for t in study.tasks}
    deltas, frames, halved, n, baseline_cpu = [], {}, {}, 0, 0.0
    for name in names:
        spec = study.models[name]
        lm = load_model(str(study.model_dir(name)), spec.arch, dtype=dtype)
        for task in study.tasks:
            instruct = spec.as_params().get("prompt") == "instruct"
            seen = capture_contexts(lm, task, samples[task], cfg, study.seed, instruct, baseline=baseline)
            frames[name, task] = seen["frame"]
            baseline_cpu += seen["cpu s"]
            if args.metrics_out:  # the yardstick's tables: the baseline at half its budget, whole frames
                half = max(1, cfg.batch_tokens // 2)
                args_ = (lm, task, samples[task], cfg, study.seed, instruct)
                halved[name, task] = capture_contexts(*args_, baseline=baseline, batch_tokens=half)["frame"]
            d = drift(lm, seen["contexts"], seen["reduce"], baseline, cfg.batch_tokens, cfg.max_batch, seen["ref"])
            deltas.append(d)
            n += len(seen["contexts"])
            print(name, task, " ".join(f"{k}: {d[k].max():.2e}" for k in VARIANTS), flush=True)
    print(
        f"\n{len(names)} models, {len(deltas)} score files, {n} samples; baseline {args.baseline} at batch_tokens "
        f"{cfg.batch_tokens}, max_batch {cfg.max_batch}; weights {lm.dtype}, 1 thread, torch {torch.__version__}"
    )
    print(f"the baseline at the run's batching: {baseline_cpu:.1f} cpu s (the engine's calls alone)")
    print(
        summary(deltas, baseline_cpu).to_string(
            index=False, formatters={"max |d conf|": "{:.2e}".format, "cpu s": "{:.1f}".format}
        )
    )
    if args.metrics_out:
        base = rebuild_metrics(study, frames, args.metrics_out / "baseline")
        half = rebuild_metrics(study, halved, args.metrics_out / "baseline-half-budget")
        run = (Path(study.metrics_file()), Path(study.per_subject_file()))
        lines = []
        for i, (table, keys) in enumerate(
            (("metrics.csv", ["model", "task"]), ("per_subject.csv", ["model", "subject"]))
        ):
            lines.append(diff_line(f"{table}: the baseline, half budget", half[i], base[i], keys))
            lines.append(diff_line(f"{table}: this run (llmcal prefix)", run[i], base[i], keys))
        print(f"\nthe metrics tables against the baseline's (rebuilt from its scores under {args.metrics_out}):")
        print(pd.DataFrame(lines).to_string(index=False, formatters={"max |d|": "{:.1e}".format}))


if __name__ == "__main__":
    main()

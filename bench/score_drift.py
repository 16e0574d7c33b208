"""How far a finished run's confidences move between scoring engines, and how far they move within one.

For every model of a finished run (e.g. `make mini`'s results/mini) and every task, the run's own contexts are
scored by the engine of another checkout (--baseline SRC: its `llmcal/scoring/engine.py`, e.g. the engine before
issue 11, `git archive 6852b9d src | tar -x -C /tmp/base`) at the run's batching, and then:

  baseline, half budget   the same engine at scoring.batch_tokens / 2 (a runtime-only setting: it reruns nothing)
  baseline, one by one    the same engine with max_batch 1 (every context alone, no padding)
  llmcal prefix           this checkout's engine (shared-prefix reuse, padding-priced batch plan)
  llmcal plain            this checkout's engine with scoring.prefix_cache: false

each compared with the baseline at the run's batching: the largest |d confidence|, how many samples move by more
than 1e-6, and how many get another prediction (top token, or MMLU option). The first two rows are the float32 rounding the baseline itself shows when only its batch shapes
change, the yardstick for the last two. One thread, float32, as the mini preset scores.

    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src               # every model of the mini run
    .venv/bin/python bench/score_drift.py --baseline /tmp/base/src --models mini-l mini-xs
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


def capture_contexts(lm, task: str, df: pd.DataFrame, cfg, seed: int, instruct: bool):
    """The contexts and reducer the task hands the engine (llmcal.scoring.tasks.run_contexts), as it scores."""
    import llmcal.scoring.tasks as scoring_tasks
    from llmcal.tasks import score_task

    seen, run = {}, scoring_tasks.run_contexts

    def capture(lm_, contexts, reduce, cfg_):
        seen["contexts"], seen["reduce"] = contexts, reduce
        return run(lm_, contexts, reduce, cfg_)

    scoring_tasks.run_contexts = capture
    try:
        score_task(lm, task, df, cfg, seed, instruct=instruct)
    finally:
        scoring_tasks.run_contexts = run
    return seen["contexts"], seen["reduce"]


def drift(lm, contexts, reduce, baseline, batch_tokens: int, max_batch: int) -> dict[str, np.ndarray]:
    """|d confidence| of each variant against the baseline engine at (batch_tokens, max_batch)."""
    import torch

    from llmcal.scoring import engine

    with torch.inference_mode():
        ref = baseline.score_contexts(lm, contexts, reduce, batch_tokens, max_batch)
        runs = {
            VARIANTS[0]: baseline.score_contexts(lm, contexts, reduce, max(1, batch_tokens // 2), max_batch),
            VARIANTS[1]: baseline.score_contexts(lm, contexts, reduce, batch_tokens, 1),
        }
    runs[VARIANTS[2]] = engine.score_contexts(lm, contexts, reduce, batch_tokens, max_batch, True)
    runs[VARIANTS[3]] = engine.score_contexts(lm, contexts, reduce, batch_tokens, max_batch, False)
    out = {name: np.abs(run["confidence"] - ref["confidence"]) for name, run in runs.items()}
    # The prediction: the most probable token (causal LM, facts) or option (MMLU).
    key = "pred_id" if "pred_id" in ref else "choice"
    out.update({f"{name}: prediction": run[key] != ref[key] for name, run in runs.items()})
    return out


def summary(deltas: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    rows = []
    for name in VARIANTS:
        d = np.concatenate([x[name] for x in deltas])
        moved = np.concatenate([x[f"{name}: prediction"] for x in deltas])
        rows.append(
            {
                "against the baseline": name,
                "max |d conf|": d.max(),
                f"> {THRESHOLD:g}": int((d > THRESHOLD).sum()),
                "other prediction": int(moved.sum()),
            }
        )
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another checkout's src/ folder")
    parser.add_argument("--configfile", default=str(ROOT / "config" / "mini.yaml"), help="the finished run's config")
    parser.add_argument("--models", nargs="*", help="models to score (default: every model of the run on disk)")
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
    names = args.models or [m for m in study.models if study.model_dir(m).is_dir()]
    if not names:
        raise SystemExit(f"no model of {args.configfile} is on disk: run the workflow first")
    samples = {t: read_parquet(study.data_file(t)) for t in study.tasks}
    deltas, n = [], 0
    for name in names:
        spec = study.models[name]
        lm = load_model(str(study.model_dir(name)), spec.arch, dtype=cfg.dtype)
        for task in study.tasks:
            instruct = spec.as_params().get("prompt") == "instruct"
            contexts, reduce = capture_contexts(lm, task, samples[task], cfg, study.seed, instruct)
            d = drift(lm, contexts, reduce, baseline, cfg.batch_tokens, cfg.max_batch)
            deltas.append(d)
            n += len(contexts)
            print(name, task, " ".join(f"{k}: {d[k].max():.2e}" for k in VARIANTS), flush=True)
    print(
        f"\n{len(names)} models, {len(deltas)} score files, {n} samples; baseline {args.baseline} at batch_tokens "
        f"{cfg.batch_tokens}, max_batch {cfg.max_batch}; float32, 1 thread, torch {torch.__version__}"
    )
    print(summary(deltas).to_string(index=False, float_format=lambda x: f"{x:.2e}"))


if __name__ == "__main__":
    main()

"""The k-shot sweep (beyond the paper): MMLU calibration against the number of in-context examples.

The paper fixes k = 5. The config's `kshot` section names the shot counts and the models::

    kshot:
      shots: [0, 1, 3, 5]        # each at most data.mmlu.n_shots (the shots each question's prompt has)
      models: [pythia-12b, llama-7b]   # a `steps` entry's name stands for its checkpoints

Each model is rescored on the MMLU sample at every k other than the sample's own (whose scores are the MMLU
score file itself), with every prompt rebuilt from its first k shots (llmcal.tasks.mmlu.mmlu_at_shots): the
same questions and dev examples for every k. `kshot.csv` has accuracy and ECE with 95% intervals, smECE and
Brier per (model, k), and the `kshot` figure kind draws ECE and accuracy against k.

A prompt longer than scoring.max_length drops shots until it fits, as the MMLU task does at its own k
(Hendrycks' evaluate.py); the table's `shortened` column counts, per row, the prompts that kept fewer than k
shots, and the job's log names the rows that have any.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd

from llmcal.fsio import read_parquet
from llmcal.registry import ConfigError
from llmcal.sections import Section, setting

KSHOT_COLUMNS = [
    "model",
    "family",
    "size",
    "step",
    "run",
    "epoch",
    "shots",
    "n",
    "shortened",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
    "ece",
    "ece_lo",
    "ece_hi",
    "smece",
    "brier",
]


@dataclass(frozen=True)
class KShotConfig(Section):
    section: ClassVar[str] = "kshot"

    shots: tuple[int, ...] = setting((0, 1, 3, 5), "the numbers of in-context examples to score MMLU at")
    models: tuple[str, ...] = setting((), "the models of the sweep (a `steps` entry's name: its checkpoints)")

    def __post_init__(self):
        if not self.shots:
            raise ConfigError("kshot.shots: name at least one number of shots")
        if any(k < 0 for k in self.shots):
            raise ConfigError(f"kshot.shots: numbers of shots must be >= 0, got {list(self.shots)}")
        if len(set(self.shots)) != len(self.shots):
            raise ConfigError(f"kshot.shots: {list(self.shots)} lists a number twice")
        if not self.models:
            raise ConfigError("kshot.models: name at least one model for the k-shot sweep")


def kshot_table(files: list[str], rows: list[dict], metrics_cfg: dict, seed: int, log=None) -> pd.DataFrame:
    """One row per (model, shots): rows[i] names the model and k of files[i], as the metrics table's rows."""
    from llmcal.metrics import summarize

    n_bins, n_boot = metrics_cfg.get("n_bins", 10), metrics_cfg.get("n_boot", 1000)
    records = []
    for path, meta in zip(files, rows, strict=True):
        df = read_parquet(path, columns=["confidence", "correct", "n_shots"])
        if df["n_shots"].isna().any():
            raise ValueError(
                f"{path}: prompts without a shot count (a sample without `shots`); rebuild the MMLU sample"
            )
        if (df["n_shots"] > meta["shots"]).any():
            raise ValueError(f"{path}: prompts with more than {meta['shots']} shots; it is not that k's score file")
        fewer = int((df["n_shots"] < meta["shots"]).sum())
        if fewer and log is not None:
            log(
                f"kshot: {meta['model']} at {meta['shots']} shots: {fewer} of {len(df)} prompts kept fewer shots, "
                f"being longer than scoring.max_length (the `shortened` column)"
            )
        stats = summarize(df["confidence"].to_numpy(), df["correct"].to_numpy(), n_bins, n_boot, seed)
        records.append({**meta, "shortened": fewer, **{k: stats[k] for k in KSHOT_COLUMNS if k in stats}})
    return pd.DataFrame.from_records(records, columns=KSHOT_COLUMNS)

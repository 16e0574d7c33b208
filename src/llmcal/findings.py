"""The paper's findings (Zhu et al. 2023, section 1) as tests on this run's data: the claims and their verdicts.

F1-F8 are the paper's eight findings. F9 is beyond the paper: "DPO keeps calibration", tested as F6 tests PPO,
when the config's `alignment.rlhf` has a `dpo` run.

The statistics are llmcal.stats' (the same bootstrap as the metrics table's intervals), the report is rendered
by llmcal.report.

Every finding is a claimed direction of a statistic (a rank correlation, a
difference of ECEs, a difference of ECE gains) whose uncertainty comes from a
bootstrap over the evaluation samples. The verdict is read off the interval:

* a comparison is *supported* when its 95% interval lies entirely on the
  claimed side of its threshold (0, or the non-inferiority margin for RLHF),
  *contradicted* when it lies entirely on the other side, *inconclusive*
  otherwise;
* a finding is *supported* when every primary comparison is supported,
  *contradicted* when any primary comparison is contradicted (the paper states
  its findings for every task), and *inconclusive* otherwise. Supplementary
  comparisons (other model families for F1, LoRA runs for F3, non-final RLHF
  epochs for F6) are reported but do not vote;
* a finding whose inputs the config does not describe, or whose scores or
  metrics rows are missing, is *not evaluated*, with the reason.

Bootstrap resampling is over samples, never over models: every model of a
comparison is scored on the same items, so one draw of sample indices is
applied to all of them (a paired bootstrap), which removes the item difficulty
shared by the models from the comparison. Different tasks have different
items and are resampled independently.

The alignment findings (F3-F6, F8, F9) read the plan of the config's `alignment`
section (llmcal.alignment): the base model, each instruction-tuning run's
epochs, PPO's (and DPO's) epochs and the model they start from, and `rlhf_margin`,
F6's and F9's non-inferiority margin on ECE. F8 ranges over the paper's alignment
models only (base, instruction tuning, PPO), so adding DPO leaves it unchanged. A run counts as synthetic data for F4 when it
tunes on Alpaca. `_alignment_plan` is the one place that reads it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from llmcal.fsio import read_parquet
from llmcal.stats import (
    TOL,
    bootstrap_eces,
    bootstrap_p,
    check_n_boot,
    percentile_interval,
    rank_corr,
    spearman,
    trend_from_replicates,
)

__all__ = [
    "FINDING_IDS",
    "VERDICTS",
    "Finding",
    "align",
    "align_many",
    "evaluate_findings",
    "judge",
    "score_loader",
]

VERDICTS = ("supported", "contradicted", "inconclusive", "not evaluated")
FINDING_IDS = ("F1", "F2", "F3", "F4", "F5", "F6", "F7", "F8", "F9")
RLHF_MARGIN = 0.01

ROW_COLUMNS = [
    "comparison",
    "role",
    "task",
    "model",
    "ece",
    "ece_lo",
    "ece_hi",
    "accuracy",
    "accuracy_lo",
    "accuracy_hi",
    "statistic",
    "value",
    "lo",
    "hi",
    "p_value",
    "claim",
    "n_paired",
    "outcome",
]


# aligning samples ---------------------------------------------------------------------------------------------


def _check_ids(df: pd.DataFrame, name: str) -> None:
    if "id" not in df.columns:
        raise ValueError(f"{name}: no 'id' column to align samples on")
    dup = df["id"].duplicated()
    if dup.any():
        raise ValueError(f"{name}: sample id {df['id'][dup].iloc[0]!r} occurs more than once")


def align_many(frames: Sequence[pd.DataFrame], names: Sequence[str] | None = None) -> list[pd.DataFrame]:
    """The frames restricted to the ids they all share, rows in the same id order (the first frame's)."""
    if not frames:
        raise ValueError("align_many: no frames")
    names = list(names) if names is not None else [f"frame {i}" for i in range(len(frames))]
    for df, name in zip(frames, names):
        _check_ids(df, name)
    first = frames[0]["id"].to_numpy()
    if all(len(df) == len(first) and np.array_equal(df["id"].to_numpy(), first) for df in frames[1:]):
        return [df.reset_index(drop=True) for df in frames]
    common = pd.Index(first)
    for df in frames[1:]:
        common = common[common.isin(df["id"])]
    if len(common) == 0:
        raise ValueError(f"no sample id is shared by {', '.join(names)}: they were not scored on the same items")
    return [df.iloc[pd.Index(df["id"]).get_indexer(common)].reset_index(drop=True) for df in frames]


def align(df_a: pd.DataFrame, df_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both frames on their shared ids, row i of each being the same sample."""
    a, b = align_many([df_a, df_b], ["df_a", "df_b"])
    return a, b


# findings -----------------------------------------------------------------------------------------------------


@dataclass
class Finding:
    id: str
    claim: str
    comparison: str
    rows: pd.DataFrame
    test: str
    verdict: str
    reason: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"{self.id}: verdict {self.verdict!r} is not one of {VERDICTS}")


class _Missing(Exception):
    """An input a finding needs is absent: the finding is not evaluated."""


@dataclass
class _Stat:
    """One statistical comparison and the (task, model) pairs whose numbers it rests on."""

    label: str
    role: str  # "primary" votes on the verdict, "supplementary" is reported only
    statistic: str
    value: float
    lo: float
    hi: float
    p_value: float
    direction: int  # +1: the claim is statistic > threshold; -1: statistic < threshold
    members: list[tuple[str, str]]
    n_paired: int
    threshold: float = 0.0

    @property
    def claim(self) -> str:
        return f"{'>' if self.direction > 0 else '<'} {self.threshold:g}"

    @property
    def outcome(self) -> str:
        return judge(self.lo, self.hi, self.direction, self.threshold)


def judge(lo: float, hi: float, direction: int, threshold: float = 0.0) -> str:
    """supported / contradicted / inconclusive from an interval and the claimed side of a threshold."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    above, below = lo > threshold + TOL, hi < threshold - TOL
    if (direction > 0 and above) or (direction < 0 and below):
        return "supported"
    if (direction > 0 and below) or (direction < 0 and above):
        return "contradicted"
    return "inconclusive"


def _derive_seed(seed: int, *labels) -> list[int]:
    """A seed per comparison that depends on what is compared, not on evaluation order."""
    digest = hashlib.blake2b(repr(labels).encode(), digest_size=8).digest()
    return [int(seed) & 0xFFFFFFFFFFFFFFFF, int.from_bytes(digest, "big")]


class _Inputs:
    """What the findings read, loaded once: metrics rows, aligned scores, bootstrap ECE series."""

    def __init__(self, study, metrics: pd.DataFrame, load_scores, n_boot: int, seed: int, n_bins: int):
        self.study = study
        self.load_scores = load_scores
        self.n_boot = check_n_boot(n_boot)
        self.seed = seed
        self.n_bins = n_bins
        self.metrics = {(str(r["model"]), str(r["task"])): r for r in metrics.to_dict("records")}
        self._scores: dict[tuple[str, str], pd.DataFrame] = {}
        self._boot: dict[tuple, tuple[np.ndarray, np.ndarray, int]] = {}

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.study.tasks

    def metric(self, model: str, task: str) -> dict:
        try:
            return self.metrics[(model, task)]
        except KeyError:
            raise _Missing(f"metrics.csv has no row for {model} on {task}") from None

    def scores(self, model: str, task: str) -> pd.DataFrame:
        if (model, task) not in self._scores:
            try:
                df = self.load_scores(model, task)
            except (OSError, KeyError, ValueError) as exc:
                raise _Missing(f"no scores for {model} on {task}: {exc}") from None
            missing = {"id", "confidence", "correct"} - set(df.columns)
            if missing:
                raise _Missing(f"scores of {model} on {task} lack {sorted(missing)}")
            self._scores[(model, task)] = df[["id", "confidence", "correct"]]
        return self._scores[(model, task)]

    def boot(self, models: Sequence[str], task: str) -> tuple[np.ndarray, np.ndarray, int]:
        """Point and paired-bootstrap ECEs of models on task, and the number of shared samples."""
        key = (tuple(models), task)
        if key not in self._boot:
            for m in models:
                self.metric(m, task)
            frames = [self.scores(m, task) for m in models]
            try:
                aligned = align_many(frames, [f"{m} on {task}" for m in models])
            except ValueError as exc:
                raise _Missing(str(exc)) from None
            point, boot = bootstrap_eces(
                [f["confidence"].to_numpy() for f in aligned],
                [f["correct"].to_numpy() for f in aligned],
                self.n_boot,
                _derive_seed(self.seed, "ece", task, *models),
                self.n_bins,
                paired=True,
            )
            self._boot[key] = (point, boot, len(aligned[0]))
        return self._boot[key]

    def diff(self, a: str, b: str, task: str, label: str, role: str, direction: int, threshold: float = 0.0) -> _Stat:
        """ECE(b) - ECE(a), paired."""
        point, boot, n = self.boot((a, b), task)
        d = boot[:, 1] - boot[:, 0]
        lo, hi = percentile_interval(d)
        return _Stat(
            label,
            role,
            "ECE difference",
            float(point[1] - point[0]),
            lo,
            hi,
            bootstrap_p(d, threshold),
            direction,
            [(task, a), (task, b)],
            n,
            threshold,
        )

    def trend(self, x: Sequence[float], models: Sequence[str], task: str, label: str, role: str) -> _Stat:
        if len(models) < 3:
            raise _Missing(f"{label}: a trend needs at least 3 models, got {len(models)}")
        point, boot, n = self.boot(models, task)
        t = trend_from_replicates(np.asarray(x, dtype=np.float64), point, boot)
        return _Stat(
            label, role, "Spearman rho", t["rho"], t["lo"], t["hi"], t["p_value"], -1, [(task, m) for m in models], n
        )


_EMPTY_ROWS = pd.DataFrame(columns=ROW_COLUMNS)
_METRIC_COLUMNS = ("ece", "ece_lo", "ece_hi", "accuracy", "accuracy_lo", "accuracy_hi")


def _rows(inputs: _Inputs, stats: list[_Stat]) -> pd.DataFrame:
    records = []
    for s in stats:
        for task, model in s.members:
            m = inputs.metric(model, task)
            records.append(
                {
                    "comparison": s.label,
                    "role": s.role,
                    "task": task,
                    "model": model,
                    **{k: m.get(k, math.nan) for k in _METRIC_COLUMNS},
                    "statistic": s.statistic,
                    "value": s.value,
                    "lo": s.lo,
                    "hi": s.hi,
                    "p_value": s.p_value,
                    "claim": s.claim,
                    "n_paired": s.n_paired,
                    "outcome": s.outcome,
                }
            )
    return pd.DataFrame.from_records(records, columns=ROW_COLUMNS)


def _fmt_stat(s: _Stat) -> str:
    return f"{s.label} ({s.statistic} {s.value:+.4f} [{s.lo:+.4f}, {s.hi:+.4f}])"


def _verdict(stats: list[_Stat]) -> tuple[str, str]:
    primary = [s for s in stats if s.role == "primary"]
    if not primary:
        raise _Missing("no primary comparison could be formed")
    outcomes = [s.outcome for s in primary]
    n, n_sup = len(primary), outcomes.count("supported")
    against = [s for s in primary if s.outcome == "contradicted"]
    if against:
        return "contradicted", (
            f"contradicted by {len(against)} of {n} primary comparisons: "
            + "; ".join(_fmt_stat(s) for s in against)
            + f"; {n_sup} supported"
        )
    if n_sup == n:
        return "supported", f"all {n} primary comparisons supported"
    open_ = [s for s in primary if s.outcome == "inconclusive"]
    return "inconclusive", (
        f"{n_sup} of {n} primary comparisons supported, none contradicted; the interval "
        "includes the threshold for: " + "; ".join(_fmt_stat(s) for s in open_)
    )


@dataclass
class _Spec:
    id: str
    claim: str
    test: str
    build: Callable  # _Inputs -> (comparison text, list[_Stat], notes)


# pretraining (F1, F2, F7) -------------------------------------------------------------------------------------


def _scale_figures(study):
    scale = [f for f in study.figures if f.kind == "scale"]
    if not scale:
        raise _Missing("the config has no figure of kind 'scale'")
    main = next((f for f in scale if f.name == "fig3"), scale[0])
    return main, [f for f in scale if f is not main]


def _steps_figure(study):
    steps = [f for f in study.figures if f.kind == "steps"]
    if not steps:
        raise _Missing("the config has no figure of kind 'steps'")
    return steps[0]


def _steps_of(study, models) -> list[int]:
    return [study.models[m].step for m in models]


def _series_text(fig) -> str:
    return f"{fig.name} ({len(fig.models)} models, {fig.models[0]} to {fig.models[-1]})"


def _build_f1(inp: _Inputs):
    main, others = _scale_figures(inp.study)
    stats = [inp.trend(range(len(main.models)), main.models, t, f"{main.name} / {t}", "primary") for t in inp.tasks]
    notes = []
    for fig in others:
        for t in inp.tasks:
            try:
                stats.append(
                    inp.trend(
                        range(len(fig.models)),
                        fig.models,
                        t,
                        f"{fig.name} {fig.title or ''} / {t}".replace("  ", " "),
                        "supplementary",
                    )
                )
            except _Missing as exc:
                notes.append(f"{fig.name} / {t} skipped: {exc}")
    text = f"ECE against scale rank over {_series_text(main)}, per task" + (
        f"; other families as supplementary rows ({', '.join(f.name for f in others)})" if others else ""
    )
    return text, stats, notes


def _build_f2(inp: _Inputs):
    fig = _steps_figure(inp.study)
    steps = _steps_of(inp.study, fig.models)
    stats = [inp.trend(steps, fig.models, t, f"{fig.name} / {t}", "primary") for t in inp.tasks]
    return f"ECE against training step over {_series_text(fig)}, steps {steps[0]} to {steps[-1]}, per task", stats, []


def _gain_stat(inp: _Inputs, fig, task: str, base_task: str) -> _Stat:
    """(ECE drop first -> last model on task) - (the same on base_task); tasks resampled independently."""
    ends = (fig.models[0], fig.models[-1])
    gains = {}
    for t in (task, base_task):
        point, boot, _ = inp.boot(fig.models, t)
        gains[t] = (point[0] - point[-1], boot[:, 0] - boot[:, -1])
    d = gains[task][1] - gains[base_task][1]
    lo, hi = percentile_interval(d)
    n = min(inp.boot(fig.models, t)[2] for t in (task, base_task))
    return _Stat(
        f"{fig.name} / {task} vs {base_task}",
        "primary",
        "ECE-gain difference",
        float(gains[task][0] - gains[base_task][0]),
        lo,
        hi,
        bootstrap_p(d),
        +1,
        [(t, m) for t in (base_task, task) for m in ends],
        n,
    )


def _build_f7(inp: _Inputs):
    # Which task is the causal-LM reference and which ask for knowledge is each task's findings_role.
    study = inp.study
    roles = {role: [t for t in study.task_names if study.task(t).findings_role == role] for role in ("lm", "knowledge")}
    lm, knowledge = ([t for t in roles[r] if t in inp.tasks] for r in ("lm", "knowledge"))
    if not lm or not knowledge:
        raise _Missing(
            f"needs {' or '.join(roles['lm'])} and {' or '.join(roles['knowledge'])} among the tasks, "
            f"got {list(inp.tasks)}"
        )
    series = []
    for getter in (lambda s: _scale_figures(s)[0], _steps_figure):
        try:
            series.append(getter(inp.study))
        except _Missing:
            pass
    if not series:
        raise _Missing("the config has no scale or steps figure")
    stats = [_gain_stat(inp, fig, t, lm[0]) for fig in series for t in knowledge]
    text = (
        "ECE gain = ECE(first model) - ECE(last model) of "
        + " and ".join(_series_text(f) for f in series)
        + "; gain on facts / MMLU minus gain on CLM"
    )
    return text, stats, []


# alignment (F3-F6, F8) ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Run:
    data: str
    method: str
    synthetic: bool
    models: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.data}/{self.method}"


@dataclass(frozen=True)
class _Rlhf:
    start: str
    models: tuple[str, ...]


@dataclass(frozen=True)
class _Alignment:
    base: str | None
    runs: tuple[_Run, ...]
    rlhf: tuple[_Rlhf, ...]
    margin: float
    models: tuple[str, ...] = field(default=())
    dpo: tuple[_Rlhf, ...] = field(default=())


def _alignment_plan(study) -> _Alignment:
    plan = study.alignment
    if plan is None:
        raise _Missing("the config has no `alignment` section (alignment-stage models are not in this run)")
    runs = tuple(_Run(r.data, r.method, r.synthetic, r.models) for r in plan.sft_runs)
    rlhf = (_Rlhf(plan.ppo_start_model(), plan.ppo.models),) if plan.ppo else ()
    dpo = (_Rlhf(plan.ppo_start_model(), plan.dpo.models),) if plan.dpo else ()
    ordered = (plan.base,) + tuple(m for r in plan.paper_runs for m in r.models)
    return _Alignment(plan.base, runs, rlhf, plan.rlhf_margin, ordered, dpo)


def _build_f3(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if plan.base is None or not plan.runs:
        raise _Missing("alignment: needs base and at least one instruction_tuning run")
    # The paper's claim is about direct fine-tuning; LoRA runs are F5's subject and are reported alongside.
    full = [r for r in plan.runs if r.method == "full"] or list(plan.runs)
    stats = [
        inp.diff(plan.base, r.models[-1], t, f"{r.name} vs base / {t}", "primary" if r in full else "supplementary", +1)
        for r in plan.runs
        for t in inp.tasks
    ]
    return (
        (
            f"ECE(instruction-tuned, final epoch) - ECE({plan.base}) per run and task; "
            f"primary: {', '.join(r.name for r in full)}"
        ),
        stats,
        [],
    )


def _build_f4(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    pairs = [(h, s) for s in plan.runs if s.synthetic for h in plan.runs if not h.synthetic and h.method == s.method]
    if not pairs:
        raise _Missing(
            "alignment: needs a synthetic-data run (e.g. alpaca) and a human-data run (e.g. oa) with the same method"
        )
    stats = [
        inp.diff(h.models[-1], s.models[-1], t, f"{s.data} vs {h.data} ({s.method}) / {t}", "primary", +1)
        for h, s in pairs
        for t in inp.tasks
    ]
    return "ECE(synthetic-data run) - ECE(human-data run), same method, final epochs, per task", stats, []


def _build_f5(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    pairs = [
        (lo, fu)
        for fu in plan.runs
        if fu.method == "full"
        for lo in plan.runs
        if lo.method == "lora" and lo.data == fu.data
    ]
    if not pairs:
        raise _Missing("alignment: needs a full and a lora instruction_tuning run on the same data")
    stats = [
        inp.diff(lo.models[-1], fu.models[-1], t, f"full vs lora ({fu.data}) / {t}", "primary", +1)
        for lo, fu in pairs
        for t in inp.tasks
    ]
    return "ECE(full fine-tuning) - ECE(LoRA), same data, final epochs, per task", stats, []


def _non_inferiority(inp: _Inputs, margin: float, runs: tuple[_Rlhf, ...], method: str):
    stats = [
        inp.diff(
            r.start,
            m,
            t,
            f"{m} vs {r.start} / {t}",
            "primary" if m == r.models[-1] else "supplementary",
            -1,
            margin,
        )
        for r in runs
        for m in r.models
        for t in inp.tasks
    ]
    return (
        (
            f"ECE(after {method}) - ECE(its instruction-tuned start), per task; non-inferiority margin "
            f"{margin:g}; primary: the final {method} epoch"
        ),
        stats,
        [],
    )


def _build_f6(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if not plan.rlhf:
        raise _Missing("alignment: no rlhf run")
    return _non_inferiority(inp, plan.margin, plan.rlhf, "PPO")


def _build_f9(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if not plan.dpo:
        raise _Missing("alignment: no DPO run (add `dpo: {}` under alignment.rlhf)")
    return _non_inferiority(inp, plan.margin, plan.dpo, "DPO")


def _build_f8(inp: _Inputs):
    plan = _alignment_plan(inp.study)
    if len(plan.models) < 3 or len(inp.tasks) < 2:
        raise _Missing(f"needs >= 3 alignment models and >= 2 tasks, got {len(plan.models)} and {len(inp.tasks)}")
    stats = []
    for i, a in enumerate(inp.tasks):
        for b in inp.tasks[i + 1 :]:
            pa, ba, na = inp.boot(plan.models, a)
            pb, bb, nb = inp.boot(plan.models, b)
            rhos = rank_corr(ba, bb)
            lo, hi = percentile_interval(rhos)
            stats.append(
                _Stat(
                    f"{a} ~ {b}",
                    "primary",
                    "Spearman rho",
                    spearman(pa, pb),
                    lo,
                    hi,
                    bootstrap_p(rhos),
                    +1,
                    [(t, m) for t in (a, b) for m in plan.models],
                    min(na, nb),
                )
            )
    return (
        (
            f"rank correlation, across the {len(plan.models)} models of the alignment study (base, every "
            "instruction-tuning epoch, every RLHF epoch), between two tasks' ECEs"
        ),
        stats,
        [],
    )


def _boot_text(what: str, n_boot: int) -> str:
    return f"{what}; 95% percentile interval from {n_boot} bootstrap resamples of the samples"


_SPECS = [
    _Spec(
        "F1",
        "Larger parameter scales improve calibration (ECE falls as models grow).",
        "Spearman rho (scale rank vs ECE), paired over models",
        _build_f1,
    ),
    _Spec(
        "F2",
        "Longer pretraining improves calibration (ECE falls over training steps).",
        "Spearman rho (training step vs ECE), paired over checkpoints",
        _build_f2,
    ),
    _Spec("F3", "Instruction tuning deteriorates calibration.", "paired ECE difference (tuned - base)", _build_f3),
    _Spec(
        "F4",
        "Synthetic instruction data (Alpaca) harms calibration more than human-written data (OA).",
        "paired ECE difference (synthetic - human)",
        _build_f4,
    ),
    _Spec(
        "F5",
        "Parameter-efficient tuning (LoRA) restrains the deterioration compared with full fine-tuning.",
        "paired ECE difference (full - LoRA)",
        _build_f5,
    ),
    _Spec(
        "F6",
        "RLHF maintains calibration: no deterioration after PPO beyond a small margin.",
        "paired ECE difference (RLHF - start), non-inferiority",
        _build_f6,
    ),
    _Spec(
        "F7",
        "In pretraining, calibration improves more on facts generation and MMLU than on causal LM.",
        "difference of ECE gains (first - last model), tasks resampled independently",
        _build_f7,
    ),
    _Spec(
        "F8",
        "In alignment, calibration evolves consistently across tasks.",
        "Spearman rho between two tasks' ECE over the alignment models, tasks resampled independently",
        _build_f8,
    ),
    _Spec(
        "F9",
        "Beyond the paper: DPO keeps calibration, as RLHF does (no deterioration beyond the same margin).",
        "paired ECE difference (DPO - start), non-inferiority",
        _build_f9,
    ),
]


def evaluate_findings(
    study_config: dict,
    metrics: pd.DataFrame,
    load_scores: Callable[[str, str], pd.DataFrame],
    n_boot: int = 1000,
    seed: int = 0,
) -> list[Finding]:
    """The eight findings of section 1 and F9 (DPO), in order, each with its numbers, test and verdict (see module doc).

    Missing inputs give "not evaluated" findings; a config that `Study` rejects raises its ConfigError.
    """
    from llmcal.study import Study

    study = Study(study_config)
    n_bins = int((study_config.get("metrics") or {}).get("n_bins", 10))
    inputs = _Inputs(study, metrics, load_scores, n_boot, seed, n_bins)
    findings = []
    for spec in _SPECS:
        test = _boot_text(spec.test, inputs.n_boot)
        try:
            comparison, stats, notes = spec.build(inputs)
            verdict, reason = _verdict(stats)
            rows = _rows(inputs, stats)
        except _Missing as exc:
            findings.append(Finding(spec.id, spec.claim, "", _EMPTY_ROWS.copy(), test, "not evaluated", str(exc)))
            continue
        if notes:
            reason += ". Not shown: " + "; ".join(notes)
        findings.append(Finding(spec.id, spec.claim, comparison, rows, test, verdict, reason))
    return findings


def score_loader(study_config: dict, columns: Sequence[str] | None = None) -> Callable[[str, str], pd.DataFrame]:
    """load_scores for a run on disk: the per-sample parquet file of (model, task)."""
    from llmcal.study import Study

    study = Study(study_config)

    def load(model: str, task: str) -> pd.DataFrame:
        return read_parquet(study.score_file(task, model), columns=list(columns) if columns else None)

    return load

"""The findings report: markdown (findings.md) and one HTML page with the figures (findings.html).

Rendering only: the verdicts come from llmcal.findings, the extras from llmcal.selective, ECE and accuracy
with their intervals from the metrics table itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from llmcal.findings import Finding

__all__ = ["alignment_summary", "render_html", "render_markdown", "selective_section"]


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _num(x, digits: int = 4) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _with_ci(value, lo, hi, digits: int = 4) -> str:
    return f"{_num(value, digits)} [{_num(lo, digits)}, {_num(hi, digits)}]"


def _model_table(rows: pd.DataFrame, metrics_index: dict) -> str:
    """Models down, tasks across: ECE and accuracy with their 95% intervals, taken from metrics."""
    tasks = list(dict.fromkeys(rows["task"]))
    models = list(dict.fromkeys(rows["model"]))
    present = set(zip(rows["model"], rows["task"]))
    fallback = {(r.model, r.task): r._asdict() for r in rows.itertuples(index=False)}
    body = []
    for m in models:
        line = [m]
        for t in tasks:
            if (m, t) not in present:
                line += ["", ""]
                continue
            r = metrics_index.get((m, t), fallback[(m, t)])
            line += [
                _with_ci(r["ece"], r["ece_lo"], r["ece_hi"]),
                _with_ci(r["accuracy"], r["accuracy_lo"], r["accuracy_hi"]),
            ]
        body.append(line)
    header = ["model"] + [f"{h} {t}" for t in tasks for h in ("ECE", "accuracy")]
    return _table(header, body)


def _stat_table(rows: pd.DataFrame) -> str:
    stats = rows.drop_duplicates("comparison")
    body = [
        [
            r.comparison,
            r.role,
            r.statistic,
            _with_ci(r.value, r.lo, r.hi),
            _num(r.p_value, 3),
            r.claim,
            r.n_paired,
            r.outcome,
        ]
        for r in stats.itertuples(index=False)
    ]
    return _table(
        ["comparison", "role", "statistic", "value [95% CI]", "p (vs threshold)", "claim", "n paired", "outcome"], body
    )


def _extras_table(extras: pd.DataFrame) -> str:
    body = [
        [
            r.model,
            r.task,
            r.n,
            _num(r.ece),
            _num(r.adaptive_ece),
            _num(r.ece_em),
            _with_ci(r.smece, r.smece_lo, r.smece_hi),
            _num(r.ece_candidates),
            _num(r.brier),
            _num(r.selective_auc),
            _num(r.temperature, 3),
            _num(r.ts_ece_before),
            _num(r.ts_ece_after),
            r.note,
        ]
        for r in extras.itertuples(index=False)
    ]
    return _table(
        [
            "model",
            "task",
            "n",
            "ECE",
            "adaptive ECE",
            "equal-mass ECE (HELM)",
            "smECE [95% CI]",
            "candidate ECE",
            "Brier",
            "selective AUC",
            "T",
            "ECE held-out before TS",
            "ECE after TS",
            "note",
        ],
        body,
    )


def render_markdown(findings: Sequence[Finding], extras: pd.DataFrame | None, metrics: pd.DataFrame) -> str:
    """The findings report: verdict summary, one section per finding, the extras table.

    ECE and accuracy (with intervals) are the metrics table's own numbers.
    """
    index = {(str(r["model"]), str(r["task"])): r for r in metrics.to_dict("records")}
    out = [
        "# Findings of Zhu et al. (2023) on this run",
        "",
        "Verdicts: a comparison is supported when its 95% bootstrap interval lies on the claimed side of its "
        "threshold, contradicted when it lies on the other side, inconclusive otherwise. A finding is supported "
        "when all its primary comparisons are, contradicted when any is; supplementary rows do not vote.",
        "",
        _table(["finding", "claim", "verdict", "reason"], [[f.id, f.claim, f.verdict, f.reason] for f in findings]),
        "",
    ]
    for f in findings:
        out += [f"## {f.id}: {f.claim}", "", f"**Verdict: {f.verdict}.** {f.reason}", ""]
        if f.comparison:
            out += [f"**Comparison.** {f.comparison}", ""]
        out += [f"**Test.** {f.test}", ""]
        if len(f.rows):
            out += [_model_table(f.rows, index), "", _stat_table(f.rows), ""]
    if extras is not None and len(extras):
        out += [
            "## Calibration beyond ECE",
            "",
            "Adaptive ECE and Brier from the metrics table. Selective AUC: mean accuracy of the k most "
            "confident samples over k = 1..n (1 - AURC). Temperature scaling: T minimises the NLL of the "
            "correct answer on a hashed half of the samples; ECE before and after on the other half.",
            "",
            _extras_table(extras),
            "",
        ]
    return "\n".join(out)


def render_html(markdown_text: str, figures: Sequence[tuple[str, str]] = ()) -> str:
    """The report as one HTML page, each figure embedded from its PDF (paths relative to the page)."""
    import html

    import markdown as md

    body = md.markdown(markdown_text, extensions=["tables"])
    figs = "".join(
        f'<figure><object data="{html.escape(path)}" type="application/pdf" width="100%" height="640">'
        f'<a href="{html.escape(path)}">{html.escape(name)}</a></object>'
        f"<figcaption>{html.escape(name)}</figcaption></figure>"
        for name, path in figures
    )
    style = (
        "body{font-family:sans-serif;max-width:80em;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Findings</title><style>{style}</style>"
        f"</head><body>{body}<h2>Figures</h2>{figs}</body></html>"
    )


def selective_section(selective_name: str) -> str:
    """Where the selective-prediction curves are: a figure beside the report."""
    return (
        "\n\n## Selective prediction\n\nAccuracy of the answers kept against coverage, withholding the "
        f"least confident first: `{selective_name}` beside this report (its area is the table's selective AUC).\n"
    )


def alignment_summary(reward_file: str, diversity_file: str) -> str:
    """The alignment stage's own numbers: the reward model's held-out accuracy, each set's diversity."""
    reward = json.loads(Path(reward_file).read_text())
    diversity = json.loads(Path(diversity_file).read_text())
    lines = [
        "",
        "",
        "## Alignment stage",
        "",
        f"Reward model: pairwise accuracy {reward['pairwise_accuracy']:.3f} on {reward['heldout_pairs']} "
        f"held-out comparison pairs (chosen scored above rejected), after training on {reward['train_pairs']}.",
        "",
        "Response diversity of the instruction sets (Figure 6; mean pairwise cosine distance of sentence "
        f"embeddings by `{diversity['embedder'].get('hub') or diversity['embedder'].get('package') or 'path'}`, "
        "95% bootstrap interval):",
        "",
        "| set | n | diversity |",
        "| --- | --- | --- |",
    ]
    for name, s in diversity["sets"].items():
        lines.append(f"| {name} | {s['n']} | {s['diversity']:.4f} [{s['diversity_lo']:.4f}, {s['diversity_hi']:.4f}] |")
    return "\n".join(lines) + "\n"

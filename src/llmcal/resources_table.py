"""The README's resources table: what the jobs of a config ask a cluster for (a test keeps the README current).

python -m llmcal.resources_table config.yaml
"""

from __future__ import annotations

import sys

from llmcal.study import Study


def readme_table(study: Study) -> str:
    """One row per hub model size (its one scoring job: every task) and training stage, then the CPU-only jobs (llmcal.resources.job_resources)."""
    rows = ["| job | model | gpu | mem_mb | cpus_per_task | runtime (min) |", "| --- | --- | --- | --- | --- | --- |"]

    def row(job, model, r):
        rows.append(f"| {job} | {model} | {r['gpu']} | {r['mem_mb']} | {r['cpus_per_task']} | {r['runtime']} |")

    seen = set()
    score = f"score ({len(study.tasks)} tasks, {study.score_samples():,} samples)"
    for name, spec in study.models.items():
        if spec.source != "hub" or (spec.family, spec.size) in seen:
            continue
        seen.add((spec.family, spec.size))
        row(score, name, study.job_resources("score", model=name))
    if study.alignment:
        base = study.alignment.base
        for run in study.alignment.sft_runs:
            if run.data == study.alignment.sft_runs[0].data:
                row(f"sft {run.method}", base, study.job_resources("sft", run=run.name))
        row("reward (LoRA)", base, study.job_resources("reward"))
        if study.alignment.ppo:
            row("ppo (LoRA)", base, study.job_resources("ppo"))
        if study.alignment.dpo:
            row("dpo (LoRA)", base, study.job_resources("dpo"))
    n = len(study.score_rows())
    row(f"aggregate ({n} score files, {study.metrics.n_boot} replicates)", "-", study.job_resources("aggregate"))
    row("sampling, figures, report", "-", study.job_resources("figure"))
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    from llmcal.config import load_yaml, validate
    from llmcal.registry import ConfigError

    args = sys.argv[1:] if argv is None else argv
    path = args[0] if args else "config.yaml"
    try:
        config = load_yaml(path)
        validate(config)
        print(readme_table(Study(config)))
    except ConfigError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The whole mini DAG, end to end, at an even smaller size: real world, real pretraining, real scoring."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


TEST_CONFIG = ROOT / ".test" / "config.yaml"


def _tiny_config(results: Path) -> dict:
    """The test preset (.test/config.yaml: the mini study at its smallest), writing its results to `results`."""
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["results"] = str(results)
    return cfg


def _snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        str(SNAKEMAKE),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(config),
        *args,
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def _planned(proc) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    out = proc.stdout + proc.stderr
    return re.findall(r"^(?:local)?rule (\w+):\n(?:.*\n)*?(?:    wildcards: (.*)\n|\n)", out, flags=re.M)


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("wf")
    config = work / "tiny.yaml"
    config.write_text(yaml.safe_dump(_tiny_config(work / "results")))
    _snakemake(work, config, "--", "all")
    return work, config


@pytest.mark.slow
def test_whole_mini_dag_produces_metrics_and_figures(mini_run):
    work, _ = mini_run
    res = work / "results"
    metrics = pd.read_csv(res / "metrics.csv")
    models = {"t-xs", "t-s-step2", "t-s-step4", "t-s-step8", *ALIGNED}
    assert set(metrics["model"]) == models
    assert set(metrics["task"]) == {"clm", "facts", "mmlu"}
    assert len(metrics) == 3 * len(models)
    assert metrics[["ece", "accuracy"]].notna().all().all()
    assert ((metrics.ece_lo <= metrics.ece_hi) & (metrics.accuracy_lo <= metrics.accuracy_hi)).all()
    for fig in ("fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig12"):
        pdf = res / "figures" / f"{fig}.pdf"
        assert pdf.read_bytes()[:4] == b"%PDF"
    # Heavy jobs are measured (benchmark:): wall time and peak memory, to set beside llmcal.resources' asks.
    bench = pd.read_csv(res / "benchmarks" / "score" / "t-xs.tsv", sep="\t")
    assert {"s", "max_rss"} <= set(bench.columns) and bench["s"].iloc[0] > 0
    for job in ("pretrain/t-s", "alignment/sft/alpaca-full", "alignment/reward", "alignment/ppo"):
        assert (res / "benchmarks" / f"{job}.tsv").is_file(), job
    # Scores come from real models: the mmlu option probabilities sum to one, confidences differ by model.
    a = pd.read_parquet(res / "scores" / "mmlu" / "t-xs.parquet")
    b = pd.read_parquet(res / "scores" / "mmlu" / "t-s-step8.parquet")
    assert abs(a[["p_A", "p_B", "p_C", "p_D"]].sum(axis=1) - 1).max() < 1e-6
    assert not a["confidence"].equals(b["confidence"])
    # The findings report tests the paper's claims on these very numbers.
    report = (res / "report" / "findings.md").read_text()
    for fid in ("F1", "F2", "F3", "F7"):
        assert f"## {fid}:" in report
    for fid in ("F3", "F4", "F5", "F6", "F8"):
        assert f"## {fid}:" in report
    for row in metrics.itertuples():
        if row.model in ("t-xs", "t-s-step8"):
            assert f"{row.ece:.4f}" in report
    assert (res / "report" / "selective.pdf").read_bytes()[:4] == b"%PDF"
    html = (res / "report" / "findings.html").read_text()
    assert "<table>" in html and "fig3.pdf" in html
    # Every scale saw the same checkpoints saved: powers of two and the last step.
    assert sorted(p.name for p in (res / "models" / "mini" / "t-s").iterdir()) == ["step1", "step2", "step4", "step8"]


ALIGNED = ("t-s-step8-alpaca-full-e1", "t-s-step8-oasst-lora-e1", "t-s-step8-ppo-e1")


@pytest.mark.slow
def test_alignment_stage_trains_scores_and_reports(mini_run):
    work, _ = mini_run
    res = work / "results"
    for name in ("alpaca-full/epoch1", "oasst-lora/epoch1", "ppo/epoch1", "reward"):
        assert (res / "models" / "aligned" / name / "llmcal_checkpoint.json").is_file(), name
    tables = {n: pd.read_parquet(res / "alignment" / "data" / f"{n}.parquet") for n in ("alpaca", "oasst")}
    assert len(tables["alpaca"]) == len(tables["oasst"]) == 24
    assert len(pd.read_parquet(res / "alignment" / "data" / "ppo_prompts.parquet")) == 16
    reward = yaml.safe_load((res / "alignment" / "reward.json").read_text())
    assert reward["heldout_pairs"] >= 1 and 0 <= reward["pairwise_accuracy"] <= 1
    diversity = yaml.safe_load((res / "alignment" / "diversity.json").read_text())
    assert set(diversity["sets"]) == {"alpaca", "oasst"}
    assert all(0 < s["diversity"] < 2 for s in diversity["sets"].values())
    # Tuned models answer the same questions as their base, inside the instruction template.
    base = pd.read_parquet(res / "scores" / "clm" / "t-s-step8.parquet")
    tuned = pd.read_parquet(res / "scores" / "clm" / "t-s-step8-alpaca-full-e1.parquet")
    assert (base["target_id"] == tuned["target_id"]).all()
    assert (tuned["n_context"] > base["n_context"]).all()
    assert not base["confidence"].equals(tuned["confidence"])
    report = (res / "report" / "findings.md").read_text()
    assert f"pairwise accuracy {reward['pairwise_accuracy']:.3f} on {reward['heldout_pairs']}" in report
    assert f"| alpaca | 20 | {diversity['sets']['alpaca']['diversity']:.4f}" in report
    metrics = pd.read_csv(res / "metrics.csv")
    rows = metrics[metrics.model.isin(ALIGNED)]
    assert set(rows["run"]) == {"alpaca-full", "oasst-lora", "ppo"} and (rows["epoch"] == 1).all()


@pytest.mark.slow
def test_second_run_does_nothing(mini_run):
    work, config = mini_run
    proc = _snakemake(work, config, "-n", "--", "all")
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_runtime_only_setting_reruns_nothing(mini_run):
    """Batching changes how scoring jobs run, not what they are asked: every output stands."""
    work, config = mini_run
    cfg = yaml.safe_load(config.read_text())
    cfg["scoring"].update(batch_tokens=cfg["scoring"]["batch_tokens"] // 2, max_batch=3)
    changed = work / "runtime.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    proc = _snakemake(work, changed, "-n", "--", "all")
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]
    cfg["scoring"]["min_context"] += 1  # a setting that does change the scores reruns them
    changed.write_text(yaml.safe_dump(cfg))
    rules = {rule for rule, _ in _planned(_snakemake(work, changed, "-n", "--", "all"))}
    assert {"score", "aggregate"} <= rules and not rules & {"pretrain_mini", "mini_world", "sft_alpaca_full"}


@pytest.mark.slow
def test_changing_one_model_reruns_only_what_depends_on_it(mini_run):
    work, config = mini_run
    cfg = yaml.safe_load(config.read_text())
    cfg["models"][0]["mini"]["hidden_size"] = 24
    changed = work / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg))
    jobs = _planned(_snakemake(work, changed, "-n", "--", "all"))
    rules = {rule for rule, _ in jobs}
    assert {"pretrain_mini", "score", "aggregate"} <= rules
    assert not rules & {"mini_world", "train_tokenizer", "sample_data"}
    assert [w for r, w in jobs if r == "pretrain_mini"] == ["entry=t-xs"]
    # One scoring job per model: t-xs's, which rescores all of its tasks.
    assert [w for r, w in jobs if r == "score"] == ["model=t-xs"]


def test_paper_dry_run_lists_every_download_scoring_and_figure_job(tmp_path):
    # -n never runs a job, so nothing here reaches the network.
    proc = _snakemake(tmp_path, ROOT / "config.yaml", "-n", "--quiet", "rules", "--", "all")
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M))
    # 7 Pythia + 11 Pythia-1.4B steps + 4 + 3 + 5 + 8, and the sentence encoder of Figure 6; then the
    # checkpoint-rich suites: Pythia-deduped (7 + 11 steps), PolyPythias (3 scales x 9 seeds, and 160m's
    # 5 steps x 9 seeds, whose step143000 is the final seed run's download), 160m's 4 other steps, OLMo's 3.
    assert int(counts["download_model"]) == 38 + 1 + 18 + 27 + 45 - 9 + 4 + 3
    # One scoring job per model (its 3 tasks' files): pythia-1.4b-step143000 serves both studies, scored once;
    # 4 runs x 3 epochs + 3 PPO epochs + 3 DPO epochs are scored too, and every checkpoint of the suites
    assert int(counts["score"]) == 38 + 18 + 18 + 27 + 45 + 5 + 3
    assert int(counts["download_data"]) == 3
    assert int(counts["download_instructions"]) == 3
    # Figures 2-12, the per-subject and the k-shot MMLU figures, and the suites' four
    assert int(counts["figure"]) == 11 + 2 + 4
    assert int(counts["sample_data"]) == 3
    # The k-shot sweep: one more job for each of its 8 models (0, 1 and 3 shots), and its table.
    assert int(counts["score_kshot"]) == 8 and int(counts["kshot_table"]) == 1


def test_paper_figure_5_lists_every_training_job_without_the_network(tmp_path):
    proc = _snakemake(tmp_path, ROOT / "config.yaml", "-n", "--quiet", "rules", "--", "results/figures/fig5.pdf")
    counts = {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, flags=re.M)}
    for rule in (
        "sft_alpaca_full",
        "sft_alpaca_lora",
        "sft_oasst_full",
        "sft_oasst_lora",
        "reward_model",
        "ppo",
        "dpo",
        "instruction_data",
        "aggregate",
        "figure",
    ):
        assert counts[rule] == 1, rule
    # Figure 5 reads the metrics table, which every model's scores feed (the suites' 98 checkpoints too).
    assert counts["download_instructions"] == 3 and counts["score"] == 38 + 18 + 98


@pytest.mark.slow
def test_snakemake_report_holds_every_figure_the_metrics_and_the_findings(mini_run):
    work, config = mini_run
    out = work / "report.html"
    _snakemake(work, config, "--report", str(out))
    html = out.read_text()
    for fig in ("fig2", "fig3", "fig4", "fig5", "fig6", "fig7", "fig12"):
        assert f"{fig}.pdf" in html, fig
    assert "metrics.csv" in html and "findings.html" in html
    assert "On the Calibration of Large Language Models and Alignment" in html  # report/workflow.rst


def test_a_file_changed_inside_a_local_folder_reruns_what_reads_it(tmp_path, tiny_models):
    """Snakemake dates a folder input by the folder's own mtime, which a file rewritten in place inside it does not
    change. A local MMLU folder (a CSV in its test/ subfolder corrected) and a `path:` checkpoint (weights saved
    again into the same folder) are watched file by file (fsio.input_files): each change reruns exactly the jobs
    that read it, and a finished run is otherwise left alone."""
    import shutil

    from llmcal.data.miniworld import WorldConfig, generate_world

    generate_world(tmp_path / "world", WorldConfig.tiny())
    mmlu = shutil.copytree(tmp_path / "world" / "mmlu" / "data", tmp_path / "my-mmlu")
    ckpt = shutil.copytree(tiny_models["neox"][0], tmp_path / "my-ckpt")
    cfg = _tiny_config(tmp_path / "results")
    cfg["data"]["mmlu"] = {"source": "local", "local": str(mmlu), "n_shots": 5}
    cfg["models"].append({"name": "mine", "family": "mine", "size": "70m", "path": str(ckpt)})
    config = tmp_path / "local.yaml"
    config.write_text(yaml.safe_dump(cfg))
    target = str(tmp_path / "results" / "scores" / "mmlu" / "mine.parquet")
    _snakemake(tmp_path, config, "--", target)
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(_snakemake(tmp_path, config, "-n", "--", target))

    def rewrite_in_place(path: Path, change) -> None:
        folder = os.stat(path.parent).st_mtime_ns
        change(path)
        assert os.stat(path).st_mtime > os.stat(target).st_mtime  # written after the outputs (a dry run between)
        assert os.stat(path.parent).st_mtime_ns == folder  # the folder itself looks untouched

    def train_more(weights: Path) -> None:  # newer weights copied over the old file (cp), in place
        from safetensors.torch import load_file, save

        tensors = load_file(weights)
        weights.write_bytes(save({k: v + 0.01 if v.is_floating_point() else v for k, v in tensors.items()}))

    def correct_a_row(csv: Path) -> None:  # one answer letter changed
        lines = csv.read_text().splitlines(keepends=True)
        lines[0] = lines[0][:-2] + ("A" if lines[0][-2] != "A" else "B") + "\n"
        csv.write_text("".join(lines))

    rewrite_in_place(ckpt / "model.safetensors", train_more)
    assert _planned(_snakemake(tmp_path, config, "-n", "--", target)) == [("score", "model=mine")]
    _snakemake(tmp_path, config, "--", target)
    rewrite_in_place(next((mmlu / "test").glob("*_test.csv")), correct_a_row)
    jobs = _planned(_snakemake(tmp_path, config, "-n", "--", target))
    assert sorted(jobs) == [("sample_data", "task=mmlu"), ("score", "model=mine")]

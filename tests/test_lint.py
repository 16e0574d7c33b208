"""The workflow follows the Snakemake ecosystem's conventions: lint-clean, snakefmt-formatted, resources declared."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmcal.study import Study

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("config", ["config.yaml", "config/mini.yaml"])
def test_snakemake_lint_reports_nothing(config):
    proc = subprocess.run(
        [str(BIN / "snakemake"), "--lint", "--configfile", str(ROOT / config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "Lints for" not in out and "Congratulations, your workflow is in a good condition" in out, out[-3000:]


def test_snakefmt_check_passes():
    files = [ROOT / "Snakefile", *sorted((ROOT / "rules").glob("*.smk"))]
    proc = subprocess.run(
        [str(BIN / "snakefmt"), "--check", *map(str, files)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rule_has_a_log_and_a_pinned_conda_env():
    for smk in sorted((ROOT / "rules").glob("*.smk")):
        text = smk.read_text()
        rules = re.split(r"\n\s*rule(?: \w+)?:\n", text)[1:]
        for body in rules:
            assert "log:" in body, f"{smk.name}: a rule without log:\n{body[:200]}"
            assert "conda:" in body, f"{smk.name}: a rule without conda:\n{body[:200]}"
    common = (ROOT / "rules" / "common.smk").read_text()
    for env in re.findall(r'"\.\./(envs/[\w.]+\.yaml)"', common):
        assert (ROOT / env).is_file(), env


def test_paper_dry_run_under_the_slurm_profile_asks_for_the_readme_resources(tmp_path):
    """`snakemake -n --profile profiles/slurm` shows, per job, the resources the README's table lists."""
    from llmcal.resources_table import readme_table

    study = Study(yaml.safe_load((ROOT / "config.yaml").read_text()))
    table = readme_table(study)
    assert table in (ROOT / "README.md").read_text(), (
        "README's resources table is stale: python -m llmcal.resources_table config.yaml"
    )
    targets = [f"results/scores/clm/{m}.parquet" for m in ("pythia-70m", "llama-65b", "flan-t5-xxl")]
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-n",
            "--profile",
            str(ROOT / "profiles" / "slurm"),
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(ROOT / "config.yaml"),
            "--",
            *targets,
            "results/models/aligned/alpaca-full/epoch3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    seen = 0
    for block in re.split(r"\n(?=(?:local)?rule \w+:\n)", out):
        head = re.match(r"rule (\w+):\n", block)
        resources = re.search(r"^    resources: (.*)$", block, flags=re.M)
        if not head or not resources:
            continue
        rule = head.group(1)
        wc = (re.search(r"^    wildcards: (.*)$", block, flags=re.M) or [None, ""])[1]
        got = dict(kv.split("=", 1) for kv in resources.group(1).split(", "))
        if rule == "score":
            model = re.search(r"model=([\w.-]+)", wc).group(1)
            want = study.job_resources("score", model=model)  # one job per model: every task's samples
        elif rule == "sft_alpaca_full":
            want = study.job_resources("sft", run="alpaca-full")
        elif rule == "sample_data":
            want = study.job_resources("sample_data")
        else:
            continue
        seen += 1
        for key in ("gpu", "mem_mb", "cpus_per_task", "runtime"):
            assert got[key] == str(want[key]), (rule, wc, key, got, want)
        row = f"| {want['gpu']} | {want['mem_mb']} | {want['cpus_per_task']} | {want['runtime']} |"
        assert row in table, (rule, wc)
    assert seen >= 5, out[-3000:]
    # Downloads are localrules: they run where Snakemake runs (a login node), never as cluster jobs.
    local = re.findall(
        r"localrules:\n((?:\s+\w+,\n)+)",
        (ROOT / "Snakefile").read_text() + (ROOT / "rules" / "alignment.smk").read_text(),
    )
    names = {n.strip(" ,") for block in local for n in block.split("\n") if n.strip()}
    assert {"download", "download_data", "download_model", "download_instructions"} <= names


@pytest.mark.parametrize("temporary", [True, False])
def test_hub_checkpoints_are_temporary_only_when_the_config_says_so(tmp_path, temporary):
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    cfg["resources"]["temporary_hub_checkpoints"] = temporary
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-n",
            "--verbose",
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(config),
            "--",
            "results/scores/clm/pythia-70m.parquet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    marked = "Temp file results/models/hub/EleutherAI--pythia-70m/step143000" in out
    assert marked == temporary


def test_local_profile_limits_gpu_jobs_to_one(tmp_path):
    profile = yaml.safe_load((ROOT / "profiles" / "local" / "config.yaml").read_text())
    assert profile["resources"] == {"gpu": 1} and profile["cores"] == "all"
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-n",
            "--profile",
            str(ROOT / "profiles" / "local"),
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(tmp_path),
            "--configfile",
            str(ROOT / "config.yaml"),
            "--",
            "results/scores/clm/pythia-70m.parquet",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert re.search(r"resources: .*gpu=1", proc.stdout + proc.stderr)


def _hook_files(hook: dict) -> list[str]:
    """The tracked files a pre-commit hook of .pre-commit-config.yaml applies to (`files`, `exclude`, `types`)."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [f for f in listed.splitlines() if (ROOT / f).is_file()]
    if "files" in hook:
        files = [f for f in files if re.search(hook["files"], f)]
    if "exclude" in hook:
        files = [f for f in files if not re.search(hook["exclude"], f)]
    if "python" in hook.get("types", []):
        files = [f for f in files if f.endswith(".py")]
    if "text" in hook.get("types", []):
        files = [f for f in files if b"\0" not in (ROOT / f).read_bytes()[:8000]]
    return files


HOOKS = [h for repo in yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())["repos"] for h in repo["hooks"]]


@pytest.mark.parametrize("hook", HOOKS, ids=[h["id"] for h in HOOKS])
def test_pre_commit_hook_passes_on_the_whole_tree(hook):
    """Each hook of .pre-commit-config.yaml, run as pre-commit would on every tracked file it applies to."""
    assert hook["entry"].startswith(".venv/bin/"), hook  # the tools pinned in requirements.txt
    exe, *args = hook["entry"].split()
    files = _hook_files(hook)
    assert files, hook["id"]
    proc = subprocess.run(
        [str(BIN / Path(exe).name), *args, *files], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]


def test_a_spelling_mistake_fails_the_codespell_hook(tmp_path):
    """The hook is not vacuous: codespell with the project's settings catches a real typo."""
    bad = tmp_path / "note.md"
    typo = "reci" + "eved"  # split, so that this file itself passes the hook
    bad.write_text(f"The model was {typo} well.\n")
    proc = subprocess.run(
        [str(BIN / "codespell"), "--toml", str(ROOT / "pyproject.toml"), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and typo in proc.stdout, proc.stdout + proc.stderr

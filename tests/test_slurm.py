"""profiles/slurm against a real SLURM controller and node on this machine (see tests/slurm_cluster.py).

Skipped, with the reason printed, where SLURM cannot be brought up (not root, no apt); .ci/run sets
LLMCAL_REQUIRE_SLURM=1, which turns that skip into a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import PARTITION, Cluster, unavailable
from test_workflow import _tiny_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
TARGETS = ["results/scores/clm/t-xs.parquet", "results/scores/mmlu/t-xs.parquet"]
SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = unavailable()
    if reason:
        if os.environ.get("LLMCAL_REQUIRE_SLURM") == "1":
            pytest.fail(f"LLMCAL_REQUIRE_SLURM=1 but SLURM cannot be started: {reason}")
        print(f"\nSKIP test_slurm: {reason}")
        pytest.skip(reason)
    c = Cluster(tmp_path_factory.mktemp("slurm-state"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _workdir(root: Path) -> Path:
    """The tiny mini study without the alignment stage, results relative to the working directory."""
    root.mkdir(parents=True, exist_ok=True)
    cfg = _tiny_config(Path("results"))
    cfg.pop("alignment")
    cfg["figures"] = [f for f in cfg["figures"] if f["kind"] not in ("alignment", "diversity")]
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    return root


def _command(work: Path, *args: str) -> list[str]:
    return [
        str(SNAKEMAKE),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(work),
        "--configfile",
        str(work / "tiny.yaml"),
        *args,
        "--",
        *TARGETS,
    ]


def _slurm_args() -> list[str]:
    # The profile as users get it; only what this one-node test cluster needs is overridden: its partition,
    # and a shorter wait before the first status check so the test does not idle.
    return [
        "--profile",
        str(ROOT / "profiles" / "slurm"),
        "--default-resources",
        f"slurm_partition={PARTITION}",
        "--slurm-init-seconds-before-status-checks",
        "2",
    ]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = _workdir(tmp_path_factory.mktemp("slurm") / "work")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        _command(work, *_slurm_args()), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    killed = _kill_first_pretraining_job(cluster, work)
    out, _ = proc.communicate(timeout=1200)
    (work / "snakemake.out").write_text(out)
    assert proc.returncode == 0, out[-6000:]
    return work, out, killed


def _kill_first_pretraining_job(cluster: Cluster, work: Path, timeout: float = 600) -> str:
    """scancel the pretraining job once it runs, as a node failure or preemption would end it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        squeue = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], capture_output=True, text=True).stdout
        for line in squeue.splitlines():
            job_id, _, state = line.split()
            comment = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
            if state == "RUNNING" and "pretrain_mini" in comment:
                time.sleep(2)  # let it start writing
                subprocess.run(["scancel", job_id], check=True)
                return job_id
        time.sleep(1)
    raise AssertionError("no pretrain_mini job ever ran under SLURM")


def test_jobs_went_through_sbatch_and_a_killed_job_was_retried(slurm_run, cluster):
    work, out, killed = slurm_run
    submitted = SUBMITTED.findall(out)
    # mini_world, train_tokenizer, sample_data x3 (t-xs's one scoring job reads every task's sample), pretrain_mini
    # (twice: killed, then retried), score x1: both targets, and the facts scores, from one job.
    assert len(submitted) == 8, out[-4000:]
    assert (work / "results" / "scores" / "facts" / "t-xs.parquet").is_file()
    slurm_ids = [s for _, s in submitted]
    assert killed in slurm_ids and cluster.job_state(killed) == "CANCELLED"
    assert all(cluster.job_state(s) == "COMPLETED" for s in slurm_ids if s != killed)
    assert "pretrain_mini" in out and re.search(r"Trying to restart job|Retrying|restart", out, re.I)
    print("\nSLURM submissions:\n" + "\n".join(line for line in out.splitlines() if SUBMITTED.search(line)))
    # The retried job left complete checkpoints only: every one has its marker and weights.
    for step in (work / "results" / "models" / "mini" / "t-xs").iterdir():
        assert (step / "llmcal_checkpoint.json").is_file() and (step / "model.safetensors").is_file(), step
    assert not [p for p in (work / "results" / "models" / "mini" / "t-xs").iterdir() if p.name.startswith(".")]


def test_slurm_outputs_equal_a_local_run(slurm_run, tmp_path):
    work, _, _ = slurm_run
    local = _workdir(tmp_path / "local")
    proc = subprocess.run(
        _command(local, "--cores", "2"),
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    for target in TARGETS:
        a, b = pd.read_parquet(work / target), pd.read_parquet(local / target)
        pd.testing.assert_frame_equal(a, b)
    for name in ("clm", "mmlu"):
        assert (work / "results" / "data" / f"{name}.parquet").read_bytes() == (
            local / "results" / "data" / f"{name}.parquet"
        ).read_bytes()

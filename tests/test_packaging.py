"""The pins live in requirements.txt; the conda env must not drift from them."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_conda_env_pins_match_requirements():
    reqs = [l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")]
    env = yaml.safe_load((ROOT / "envs" / "llmcal.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert sorted(pip) == sorted(r for r in reqs if r != "pytest")
    assert "trl==1.12.0" in reqs and "torch==2.13.0" in reqs

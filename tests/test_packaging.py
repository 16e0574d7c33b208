"""The pins live in requirements.txt; the conda env must not drift from them."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_conda_env_pins_match_requirements():
    reqs = [
        l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if l.strip() and not l.startswith("#")
    ]
    env = yaml.safe_load((ROOT / "envs" / "llmcal.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    dev_tools = {"pytest", "snakefmt==2.1.0", "ruff==0.17.6", "codespell==2.4.3"}
    # Test-only: the reference smooth ECE and its imports (tests/test_smooth_ece.py).
    dev_tools |= {"relplot==1.0.3", "seaborn==0.13.2", "deprecation==2.1.0"}
    assert sorted(pip) == sorted(r for r in reqs if r not in dev_tools)
    assert "trl==1.12.0" in reqs and "torch==2.13.0" in reqs


def test_light_env_is_pinned_to_the_same_versions():
    reqs = {l.strip() for l in (ROOT / "requirements.txt").read_text().splitlines() if "==" in l}
    env = yaml.safe_load((ROOT / "envs" / "plot.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip and all("==" in p for p in pip)
    assert set(pip) <= reqs
    assert not any(p.startswith(("torch", "transformers")) for p in pip)

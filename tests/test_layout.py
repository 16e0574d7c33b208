"""Each output path is defined once, in llmcal.layout: its patterns are the rules', its paths the Study's."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from llmcal.layout import Layout
from llmcal.study import Study

ROOT = Path(__file__).resolve().parents[1]


def _mini():
    return Study(yaml.safe_load((ROOT / "config" / "mini.yaml").read_text()))


def test_a_pattern_filled_in_is_the_concrete_path():
    layout = Layout("out/run")
    cases = [
        (layout.score_file, ("{task}", "{model}"), {"task": "mmlu", "model": "opt-125m"}),
        (layout.data_file, ("{task}",), {"task": "clm"}),
        (layout.raw_dir, ("{task}",), {"task": "facts"}),
        (layout.figure_file, ("{name}",), {"name": "fig2"}),
        (layout.hub_dir, ("{repo}", "{revision}"), {"repo": "EleutherAI--pythia-70m", "revision": "step512"}),
        (layout.mini_dir, ("{entry}", 16), {"entry": "mini-s"}),
        (layout.raw_instructions_dir, ("{dataset}",), {"dataset": "oasst"}),
        (layout.log, ("score", "{task}", "{model}"), {"task": "clm", "model": "mini-s"}),
    ]
    for method, pattern_args, values in cases:
        pattern = method(*pattern_args)
        concrete = method(*[values[a[1:-1]] if isinstance(a, str) and a.startswith("{") else a for a in pattern_args])
        assert pattern.format(**values) == concrete, method.__name__
        assert concrete.startswith("out/run/")
    assert layout.log("score", "clm", "mini-s") == "out/run/logs/score/clm/mini-s.log"
    assert layout.hub_model_dir("EleutherAI/pythia-70m", None) == "out/run/models/hub/EleutherAI--pythia-70m/main"


def test_the_study_paths_are_the_layouts():
    study = _mini()
    layout = study.layout
    assert study.score_file("clm", "mini-s") == layout.score_file("clm", "mini-s")
    assert str(study.model_dir("mini-m-step16")) == layout.mini_dir("mini-m", 16)
    assert study.findings_files() == list(layout.findings_outputs().values())
    assert study.diversity_files() == list(layout.diversity_outputs().values())
    assert study.raw_dir("clm") == layout.world_dir()
    assert study.mini_instructions_dir() == layout.raw_instructions_dir("mini")
    assert str(study.model_dir("mini-l-alpaca-full-e2")) == layout.aligned_dir("alpaca-full", 2)
    assert all(p.startswith(str(study.results) + "/") for p in study.all_targets())


def test_rules_name_no_path_of_their_own():
    """Outputs, inputs and logs come from the layout: a path literal in a rule would be a second definition."""
    # A path of the run: built in an f-string, a wildcard pattern, or under results/ (the workflow's own files,
    # ../scripts/x.py and rules/x.smk, and regexes such as "[^/]+" are not).
    run_path = re.compile(r'^(f"[^"]*/|"[^"]*\{\w+\}[^"]*/|"[^"]*/[^"]*\{\w+\}|"results/)')
    found = []
    for smk in sorted((ROOT / "rules").glob("*.smk")) + [ROOT / "Snakefile"]:
        for n, line in enumerate(smk.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            found += [f"{smk.name}:{n}: {s}" for s in re.findall(r'f?"[^"]*"', code) if run_path.match(s)]
    assert found == []
    assert run_path.match('f"{R}/data/{{task}}.parquet"') and run_path.match('"results/metrics.csv"')
    assert not re.search(r"\bR\b", "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk")))


def test_rules_with_several_outputs_name_them():
    text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    assert not re.search(r"_files\(\)\[\d\]", text)

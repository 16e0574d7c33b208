"""Tasks are registered units: the schema, wildcards and labels agree with the registry, and a task from a
module outside the package (tests/toy_task.py) is checked, planned, sampled and scored without editing it."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmcal import pipeline, tasks
from llmcal.config import fill_defaults, load_schema, validate
from llmcal.registry import ConfigError
from llmcal.scoring.config import ScoringConfig
from llmcal.study import Study
from llmcal.tasks import score_task

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
SNAKEMAKE = Path(sys.executable).with_name("snakemake")
BUILTIN = ("clm", "facts", "mmlu")
WORDS = "the river city of Valdoria lies north of Kenro and its people trade salt and iron".split()


def _mini() -> dict:
    return yaml.safe_load((ROOT / "config" / "mini.yaml").read_text())


def _lines(path: Path, n: int = 12) -> Path:
    rows = [
        {"id": f"t{i:02d}", "text": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(6 + i % 4))} for i in range(n)
    ]
    rows.append({"id": "t-short", "text": "salt"})  # one word: not eligible
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _toy_config(tmp_path: Path, **data) -> dict:
    config = _mini()
    config["results"] = str(tmp_path / "results")
    config["task_modules"] = ["toy_task"]
    config["tasks"] = [*BUILTIN, "toy"]
    config["data"]["toy"] = {"source": "local", "local": str(_lines(tmp_path / "lines.jsonl")), **data}
    return config


# the registry and everything derived from it --------------------------------------------------------------------


def test_the_registry_the_schema_the_wildcards_and_the_labels_agree():
    assert tasks.builtin() == BUILTIN
    props = load_schema()["properties"]
    assert props["tasks"]["items"]["enum"] == list(BUILTIN) == props["tasks"]["default"]
    assert set(props["data"]["properties"]) == set(BUILTIN) == set(props["data"]["required"])
    assert set(props["task_labels"]["properties"]) == set(BUILTIN)
    assert props["figures"]["items"]["properties"]["task"]["enum"] == list(BUILTIN)
    from llmcal.figures import _task_label

    for name in BUILTIN:
        task = tasks.get(name)
        assert task.name == name and task.label and _task_label(name, None) == task.label
        assert task.data_schema is None  # built-in sections are the schema file's
        assert task.instructable
    assert _task_label("mmlu", {"mmlu": "MC"}) == "MC"  # the config's task_labels win
    # The wildcard constraint is the study's task names, nothing spelt out in the rules.
    common = (ROOT / "rules" / "common.smk").read_text()
    assert re.search(r"^\s+task=TASK_NAMES,$", common, flags=re.M)
    assert 'TASK_NAMES = "|".join(re.escape(t) for t in STUDY.task_names)' in common
    rules = "".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    for name in BUILTIN:
        assert f'"{name}"' not in rules and f"'{name}'" not in rules
    # No task ladders left outside the task modules.
    for path in (ROOT / "src" / "llmcal").rglob("*.py"):
        if path.parent.name != "tasks":
            assert not re.search(r"\btask ==|\btask in \(|\bTASKS =", path.read_text()), path


def test_registering_a_task_checks_what_it_brings():
    class Bad(tasks.Task):
        name = "Bad-Name"
        label = "x"

    with pytest.raises(ValueError, match="task name 'Bad-Name'"):
        tasks.register(Bad())

    class NoSchema(tasks.Task):
        name = "no_schema"
        label = "No schema"

    with pytest.raises(ValueError, match=r"data_schema: give the JSON schema of its data\.no_schema section"):
        tasks.register(NoSchema())

    class Open(NoSchema):
        data_schema = {"type": "object", "properties": {"source": {"type": "string"}}}

    with pytest.raises(ValueError, match="must be closed"):
        tasks.register(Open())

    import toy_task

    class Clash(toy_task.LastWord):
        pass

    with pytest.raises(ValueError, match="'toy' is registered twice"):
        tasks.register(Clash())
    assert "no_schema" not in tasks.names()


# a task from a module of its own ----------------------------------------------------------------------------------


def test_a_plugin_task_section_is_checked_by_its_own_schema(tmp_path, monkeypatch):
    config = _toy_config(tmp_path)
    validate(config)
    filled = fill_defaults(copy.deepcopy(config))
    assert filled["data"]["toy"]["n"] == 4 and filled["data"]["toy"]["allow_fewer"] is False

    def problems(edit) -> str:
        bad = copy.deepcopy(config)
        edit(bad)
        with pytest.raises(ConfigError) as info:
            validate(bad)
        return str(info.value)

    assert "`data.toy.nn`: unknown key; did you mean `n`?" in problems(lambda c: c["data"]["toy"].update(nn=3))
    assert "`data.toy.n`" in problems(lambda c: c["data"]["toy"].update(n=0))
    # Built-in sections stay closed, with or without task modules.
    assert "`data.clm.nn`: unknown key" in problems(lambda c: c["data"]["clm"].update(nn=3))
    assert "`task_labels.toy`" not in problems(lambda c: c.update(task_labels={"toy": "T", "clmm": "x"}))
    assert "`task_labels.clmm`: unknown key" in problems(lambda c: c.update(task_labels={"toy": "T", "clmm": "x"}))
    # Without its module the task is unknown: the registry is what the config names, not what was imported before.
    assert "`tasks[3]`: 'toy' is not one of clm, facts, mmlu" in problems(lambda c: c.pop("task_modules"))
    assert "`data.toy`: unknown key" in problems(lambda c: c.pop("task_modules"))
    with pytest.raises(ConfigError, match=r"task_modules\[0\]: cannot import 'no_such_tasks'"):
        validate({**config, "task_modules": ["no_such_tasks"]})
    with pytest.raises(ConfigError, match=r"task_modules\[0\]: 'json' registers no task"):
        validate({**config, "task_modules": ["json"]})
    # A module whose task takes a built-in name is named, not half-registered.
    (tmp_path / "clash_tasks.py").write_text(
        "from llmcal.tasks import Task, register\n\n\nclass Clm(Task):\n    name = 'clm'\n    label = 'mine'\n"
        "    data_schema = {'type': 'object', 'properties': {'source': {}}, 'additionalProperties': False}\n\n\n"
        "register(Clm())\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"task_modules\[0\]: 'clash_tasks': task 'clm' is registered twice"):
        validate({**config, "task_modules": ["clash_tasks"]})
    assert tasks.get("clm").label == "Causal LM (Pile)"


def test_a_task_without_an_instruction_cannot_be_scored_on_aligned_models(tmp_path):
    config = _toy_config(tmp_path)
    config["tasks"] = [*BUILTIN, "toy_plain"]
    config["data"]["toy_plain"] = config["data"].pop("toy")
    validate(config)
    with pytest.raises(ConfigError, match="'toy_plain' has no instruction for the instruction-tuned models"):
        Study(config)
    config.pop("alignment")
    config["figures"] = [f for f in config["figures"] if f["kind"] not in ("alignment", "diversity")]
    config["kshot"]["models"] = [m for m in config["kshot"]["models"] if not m.startswith("mini-l-")]
    assert "toy_plain" in Study(config).tasks


def test_a_plugin_task_is_sampled_and_scored_without_editing_the_package(tmp_path, tiny_models, caplog):
    config = fill_defaults(_toy_config(tmp_path, n=6))
    validate(config)
    study = Study(config)
    assert study.tasks == (*BUILTIN, "toy") and "toy" in study.task_names
    lines = config["data"]["toy"]["local"]
    assert study.raw_files("toy") == {"inputs": [lines], "read": {"path": lines}}
    assert study.score_file("toy", "mini-xs") in study.all_scores()
    assert study.job_resources("score", model="mini-xs", task="toy")["runtime"] >= 1

    sample = tmp_path / "toy.parquet"
    read, data = study.raw_files("toy")["read"], study.data_config("toy")
    pipeline.sample_job("toy", read, data, study.seed, str(sample), task_modules=config["task_modules"])
    first = sample.read_bytes()
    pipeline.sample_job("toy", read, data, study.seed, str(sample), task_modules=config["task_modules"])
    assert sample.read_bytes() == first  # deterministic
    df = pd.read_parquet(sample)
    assert len(df) == 6 and "t-short" not in set(df["id"]) and list(df["id"]) == sorted(df["id"])

    model_dir, arch = tiny_models["neox"]
    out = tmp_path / "scores" / "toy.parquet"
    caplog.set_level("INFO", logger="llmcal")
    pipeline.score_job(
        str(model_dir),
        {"name": "neox", "arch": arch},
        "toy",
        str(sample),
        {"max_length": 64, "min_context": 2},
        study.seed,
        str(out),
        task_modules=config["task_modules"],
    )
    scores = pd.read_parquet(out)
    assert list(scores["id"]) == list(df["id"])
    assert ((scores.confidence > 0) & (scores.confidence <= 1)).all()
    assert (scores.correct == (scores.pred_id == scores.target_id)).all()
    assert (scores.target_prob <= scores.confidence + 1e-12).all()
    # The target is the last word's first token, read in context (with its leading space).
    from llmcal.models.load import load_model

    lm = load_model(str(model_dir), arch, device="cpu")
    for text, target in zip(df["text"], scores["target_id"]):
        last = text.rsplit(" ", 1)[1]
        assert lm.tokenizer.decode([int(target)]).startswith(" " + last[0])
    assert any("neox on toy: n=6" in r.getMessage() and r.getMessage().endswith("toy lines=6") for r in caplog.records)
    # Instruction-tuned models get the toy's instruction first and are asked the same tokens.
    cfg = ScoringConfig(max_length=256, min_context=2)
    plain, inst = score_task(lm, "toy", df, cfg, 0), score_task(lm, "toy", df, cfg, 0, instruct=True)
    head = lm.tokenizer(tasks.get("toy").instruction_text(), add_special_tokens=False)["input_ids"]
    assert (plain.target_id == inst.target_id).all() and (inst.n_context == plain.n_context + len(head)).all()


def test_snakemake_plans_a_plugin_task(tmp_path):
    config = _toy_config(tmp_path)
    config["results"] = "results"
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join([str(TESTS), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [
            str(SNAKEMAKE),
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(tmp_path),
            "-n",
            "--configfile",
            str(path),
            "--",
            "results/scores/toy/mini-xs.parquet",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    planned, inputs = [], {}
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", out, flags=re.M)[1:]:
        wildcards = re.search(r"^    wildcards: (.*)$", block, flags=re.M)
        job = (re.match(r"(?:local)?rule (\w+):", block).group(1), wildcards.group(1) if wildcards else "")
        planned.append(job)
        found = re.search(r"^    input: (.*)$", block, flags=re.M)
        inputs[job] = found.group(1).split(", ") if found else []
    assert ("sample_data", "task=toy") in planned and ("score", "model=mini-xs") in planned
    # The task's own module is an input of the jobs that sample and score it: an edit of it reruns them.
    module = str((TESTS / "toy_task.py").resolve())
    assert module in inputs["sample_data", "task=toy"] and module in inputs["score", "model=mini-xs"]
    assert module not in inputs["sample_data", "task=clm"]

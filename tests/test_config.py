"""Config checks: a typo is an error naming the key and the nearest valid one; rules that only hold together
are checked while the DAG is built; the schema and the Python config sections cannot disagree."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llmcal.config import load_schema, validate
from llmcal.registry import ConfigError
from llmcal.study import Study

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def _mini():
    return yaml.safe_load((ROOT / "config" / "mini.yaml").read_text())


def _paper():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_both_presets_pass_the_closed_schema():
    validate(_mini())
    validate(_paper())


def test_the_test_preset_is_a_config_a_person_can_run():
    from llmcal.config import check_file

    check_file(ROOT / ".test" / "config.yaml")  # everything the workflow checks when it builds the DAG


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c.update(modles=c.pop("models")), "`modles`: unknown key; did you mean `models`?"),
        (lambda c: c.update(figure=c.pop("figures")), "`figure`: unknown key; did you mean `figures`?"),
        (
            lambda c: c["data"]["clm"].update(samples=5),
            "`data.clm.samples`: unknown key; valid keys here: allow_fewer,",
        ),
        (
            lambda c: c["scoring"].update(max_lenght=512),
            "`scoring.max_lenght`: unknown key; did you mean `max_length`?",
        ),
        (lambda c: c["metrics"].update(n_bin=15), "`metrics.n_bin`: unknown key; did you mean `n_bins`?"),
        (lambda c: c["pretrain"].update(step=5), "`pretrain.step`: unknown key; did you mean `steps`?"),
        (lambda c: c["models"][1].update(szie="s"), "`models[1] (mini-s).szie`: unknown key; did you mean `size`?"),
        (
            lambda c: c["models"][0]["mini"].update(num_head=2),
            "`models[0] (mini-xs).mini.num_head`: unknown key; did you mean `num_heads`?",
        ),
        (
            lambda c: c["figures"][0].update(model=["mini-xs"]),
            "`figures[0] (fig2).model`: unknown key; did you mean `models`?",
        ),
        (
            lambda c: c["alignment"]["rlhf"].update(epochs=3),
            "`alignment.rlhf.epochs`: unknown key; did you mean `epoch`?",
        ),
        (lambda c: c["task_labels"].update(fact="Facts"), "`task_labels.fact`: unknown key; did you mean `facts`?"),
        (
            lambda c: c["data"]["clm"].update(source="minii"),
            "`data.clm.source`: 'minii' is not one of hub, url, local, mini",
        ),
        (lambda c: c["metrics"].update(n_boot=0), "`metrics.n_boot`: 0 is less than the minimum of 1"),
        (lambda c: c.pop("results"), "`results`: required key is missing"),
        (
            lambda c: c["alignment"]["instruction_tuning"]["full"].update(learning_rat=1e-4),
            "`alignment.instruction_tuning.full.learning_rat`: unknown key; did you mean `learning_rate`?",
        ),
        (
            lambda c: c["alignment"]["reward"].update(lora_rr=8),
            "`alignment.reward.lora_rr`: unknown key; did you mean `lora_r`?",
        ),
        (
            lambda c: c.update(world={"seed": 7, "n_countrys": 20}),
            "`world.n_countrys`: unknown key; did you mean `n_countries`?",
        ),
    ],
)
def test_a_typo_is_an_error_naming_the_key(edit, message):
    config = _mini()
    edit(config)
    with pytest.raises(ConfigError) as info:
        validate(config)
    assert message in str(info.value)


def test_every_problem_is_listed_once_per_line():
    config = _mini()
    config["scoring"]["max_lenght"] = 512
    config["data"]["facts"]["nn"] = 5
    with pytest.raises(ConfigError) as info:
        validate(config)
    lines = str(info.value).splitlines()
    assert lines == [
        "`data.facts.nn`: unknown key; did you mean `n`?",
        "`scoring.max_lenght`: unknown key; did you mean `max_length`?",
    ]


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda c: c["scoring"].update(max_length=512),
            "scoring.max_length: 512 exceeds the context window of mini model mini-xs (pretrain.seq_len 256 positions)",
        ),
        (
            lambda c: c["scoring"].update(max_length=16, min_context=16),
            "scoring.max_length: 16 leaves no room for min_context 16 plus the prompt",
        ),
        (
            lambda c: c["models"][1]["mini"].update(num_heads=3),
            "models (mini-s).mini.hidden_size: 64 is not divisible by num_heads 3",
        ),
        (
            lambda c: c["data"]["mmlu"].update(n_shots=6),
            "data.mmlu.n_shots: 6 shots asked but the mini world writes world.mmlu_dev_per_subject = 5",
        ),
        (lambda c: c.update(world={"mmlu_dev_per_subject": 3}), "world: mmlu_dev_per_subject must be >= 5"),
        (
            lambda c: c["alignment"]["instruction_tuning"]["lora"].update(max_length=512),
            "alignment.instruction_tuning.lora.max_length: 512 exceeds the context window of the base mini-l "
            "(pretrain.seq_len 256 positions)",
        ),
        (
            lambda c: c["alignment"]["rlhf"]["ppo"].update(max_prompt_length=240),
            "alignment.rlhf.ppo.max_prompt_length: 240 plus response_length 32 exceeds the context window",
        ),
    ],
)
def test_settings_that_fail_later_fail_when_the_dag_is_built(edit, message):
    config = _mini()
    edit(config)
    validate(config)  # each of these passes the schema: Study is where they are caught
    with pytest.raises(ConfigError) as info:
        Study(config)
    assert message in str(info.value)


# Every config section, where the schema has it, and its dataclass (llmcal.sections.Section).
SECTIONS = [
    ("scoring", "llmcal.scoring.config:ScoringConfig"),
    ("metrics", "llmcal.metrics:MetricsConfig"),
    ("pretrain", "llmcal.models.pretrain:PretrainConfig"),
    ("world", "llmcal.data.miniworld:WorldConfig"),
    ("alignment.instruction_tuning.full", "llmcal.training.settings:SFTSettings"),
    ("alignment.instruction_tuning.lora", "llmcal.training.settings:SFTSettings"),
    ("alignment.reward", "llmcal.training.settings:RewardSettings"),
    ("alignment.rlhf.ppo", "llmcal.training.settings:PPOSettings"),
]
# Set by the code, not by a key: an SFT section's method is the key it sits under (full or lora).
NOT_CONFIG_KEYS = {"SFTSettings": {"method"}}
SCHEMA_TYPES = {int: {"integer"}, float: {"number"}, bool: {"boolean"}, str: {"string"}}


def _section_class(spec):
    import importlib

    module, name = spec.split(":")
    return getattr(importlib.import_module(module), name)


def _schema_node(key):
    schema = load_schema()
    node = schema
    for part in key.split("."):
        node = node["properties"][part]
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].split("/")[-1]]
    return node


def _schema_types(node) -> set:
    types = node.get("type", [])
    return set([types] if isinstance(types, str) else types)


@pytest.mark.parametrize("key, spec", SECTIONS, ids=[k for k, _ in SECTIONS])
def test_the_schema_and_each_section_name_the_same_keys_with_help_and_types(key, spec):
    import typing

    cls = _section_class(spec)
    node = _schema_node(key)
    assert node["additionalProperties"] is False
    fields = {f.name: f for f in cls.config_fields()}
    assert set(node["properties"]) == set(fields) - NOT_CONFIG_KEYS.get(cls.__name__, set())
    hints = typing.get_type_hints(cls)
    for name, prop in node["properties"].items():
        assert fields[name].metadata["help"].strip(), f"{key}.{name} has no help text"
        hint, args = hints[name], typing.get_args(hints[name])
        want = {"null"} if type(None) in args else set()
        hint = next((a for a in args if a is not type(None)), hint) if args and type(None) in args else hint
        if typing.get_origin(hint) is tuple:
            assert "array" in _schema_types(prop) and _schema_types(prop["items"]) == {
                {str: "string", float: "number"}[typing.get_args(hint)[0]]
            }, f"{key}.{name}"
        else:
            types = _schema_types(prop) - ({"string"} if hint is float else set())  # "3e-4": converted
            assert types == SCHEMA_TYPES[hint] | want, f"{key}.{name}: schema {prop}, field {hint}"
        if "default" in prop:  # Snakemake fills the schema's default: it must be the one the section has
            assert prop["default"] == fields[name].default, f"{key}.{name}"


@pytest.mark.parametrize("key, spec", SECTIONS, ids=[k for k, _ in SECTIONS])
def test_each_section_refuses_an_unknown_key_and_a_value_of_the_wrong_type_naming_the_key(key, spec):
    cls = _section_class(spec)
    name = next(f.name for f in cls.config_fields() if f.name != "method")
    with pytest.raises(ConfigError, match=rf"^`{re.escape(key)}\.{name}x`: unknown key; did you mean `{name}`\?$"):
        cls.from_dict({f"{name}x": 1}, key)
    count = next(f.name for f in cls.config_fields() if f.type in ("int", int))
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}\.{count}: expected int, got 'many'$"):
        cls.from_dict({count: "many"}, key)


def test_every_section_is_built_when_the_study_is():
    """Without the schema (a config given to Study directly), each section still stops a typo at parse time."""
    for edit, message in [
        (lambda c: c["scoring"].update(max_lenght=512), "`scoring.max_lenght`: unknown key"),
        (lambda c: c["metrics"].update(n_bins="ten"), "metrics.n_bins: expected int, got 'ten'"),
        (lambda c: c["metrics"].update(n_boot=0), "metrics: n_boot must be at least 1, got 0"),
        (lambda c: c["pretrain"].update(lrr=1.0), "`pretrain.lrr`: unknown key; did you mean `lr`?"),
        (lambda c: c.update(world={"n_countrys": 20}), "`world.n_countrys`: unknown key"),
        (lambda c: c["alignment"]["reward"].update(lora_rr=8), "`alignment.reward.lora_rr`: unknown key"),
        (lambda c: c["alignment"]["rlhf"]["ppo"].update(kl=0.1), "`alignment.rlhf.ppo.kl`: unknown key"),
    ]:
        config = _mini()
        edit(config)
        with pytest.raises(ConfigError, match=re.escape(message)):
            Study(config)
    study = Study(_mini())
    assert study.scoring.max_length == _mini()["scoring"]["max_length"]
    assert study.world.seed == _mini()["world"]["seed"] and study.metrics.n_bins == 10


def test_only_result_fields_are_params_and_jobs_still_get_the_runtime_ones():
    from llmcal.scoring.config import ScoringConfig
    from llmcal.sections import job_settings

    assert ScoringConfig.runtime_only_fields() == ("batch_tokens", "max_batch", "prefix_cache")
    config = _mini()
    config["scoring"]["batch_tokens"] = 999
    params = Study(config).scoring.results_params()
    assert "batch_tokens" not in params and "max_batch" not in params
    job = ScoringConfig.from_dict(job_settings(ScoringConfig, params, config))
    assert job.batch_tokens == 999 and job.max_length == config["scoring"]["max_length"]


def _parsed_rule(config: dict, tmp_path, name: str):
    """The rule `name` of the workflow as Snakemake parses it for `config`."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    path = tmp_path / f"config-{len(list(tmp_path.iterdir()))}.yaml"
    path.write_text(yaml.safe_dump(config))
    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[path]),
            snakefile=ROOT / "Snakefile",
            workdir=tmp_path,
        )
        return workflow._workflow.get_rule(name)


def _rule(config: dict, tmp_path, name: str):
    """A rule's params and threads, as Snakemake decides reruns by them."""
    rule = _parsed_rule(config, tmp_path, name)
    return {k: v for k, v in rule.params.items() if not callable(v)}, rule.resources["_cores"]


def test_a_runtime_only_setting_leaves_the_rules_params_and_so_every_job_standing(tmp_path):
    """Snakemake reruns a job when its params change: batching must not, max_length and threads must."""
    base = _mini()
    score, _ = _rule(base, tmp_path, "score")
    assert score["scoring"]["max_length"] == base["scoring"]["max_length"]
    batched = copy.deepcopy(base)
    batched["scoring"].update(batch_tokens=base["scoring"]["batch_tokens"] * 2, max_batch=3)
    assert _rule(batched, tmp_path, "score")[0] == score
    longer = copy.deepcopy(base)
    longer["scoring"]["max_length"] = base["scoring"]["max_length"] - 1
    assert _rule(longer, tmp_path, "score")[0] != score
    # Threads change a pretraining's sums, so its weights (measured): they are a result of pretraining.
    threads = copy.deepcopy(base)
    threads["pretrain"]["threads"] = 2
    pretrain, cores = _rule(base, tmp_path, "pretrain_mini")
    assert cores == base["pretrain"]["threads"] == pretrain["train"]["threads"]
    assert _rule(threads, tmp_path, "pretrain_mini") == ({**pretrain, "train": {**pretrain["train"], "threads": 2}}, 2)


def test_every_default_of_a_section_is_accepted_by_the_schema_and_the_study():
    from llmcal.data.miniworld import WorldConfig

    props = load_schema()["properties"]
    mini = props["models"]["items"]["properties"]["mini"]["properties"]
    assert set(mini) >= {"hidden_size", "num_layers", "num_heads"}
    config = _mini()
    config["world"] = WorldConfig().to_dict()
    validate(config)
    assert Study(config).world == WorldConfig()
    assert props["task_labels"]["properties"].keys() == set(_mini()["tasks"])


def test_every_mapping_of_the_schema_is_closed():
    """A mapping that accepts any key would let a misspelt one through as a silent default."""
    open_ = []

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and node.get("additionalProperties") is not False:
                open_.append(where)
            for k, v in node.items():
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(load_schema(), "schema")
    assert open_ == []


def test_snakemake_shows_one_clear_line_for_a_typo(tmp_path):
    config = _mini()
    config["scoring"]["max_lenght"] = 512
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
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
            "all",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "config: `scoring.max_lenght`: unknown key; did you mean `max_length`?" in out
    assert "Failed validating" not in out and "Traceback" not in out
    assert len(out.strip().splitlines()) <= 4, out


def test_schema_defaults_still_reach_the_rules():
    """fill_defaults sets the schema's defaults after the closed check (rules read config["scoring"]), exactly as
    Snakemake's validate(set_default=True) would."""
    from snakemake.utils import validate as sm_validate

    from llmcal.config import fill_defaults

    config = copy.deepcopy(_paper())
    config.pop("scoring", None)
    validate(config)
    fill_defaults(config)
    assert config["scoring"]["max_length"] == 2048 and config["data"]["mmlu"]["prompt"] == "hendrycks"
    assert config["task_modules"] == []
    for preset in (_paper(), _mini()):
        theirs = copy.deepcopy(preset)
        sm_validate(theirs, str(ROOT / "schemas" / "config.schema.yaml"))
        assert fill_defaults(copy.deepcopy(preset)) == theirs


def test_a_yaml_syntax_error_names_file_line_and_column(tmp_path):
    from llmcal.config import load_yaml

    path = tmp_path / "c.yaml"
    path.write_text("results: x\nscoring: {max_length: 256\nmodels: []\n")
    with pytest.raises(ConfigError, match=rf"{path}, line 3, column 7: YAML syntax error: expected ',' or '}}'"):
        load_yaml(path)
    with pytest.raises(ConfigError, match=r"nope.yaml: no such config file \(relative paths are read from "):
        load_yaml(tmp_path / "nope.yaml")


def test_the_config_check_command_reports_each_file(tmp_path):
    bad = _mini()
    bad["figure"] = bad.pop("figures")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        [sys.executable, "-m", "llmcal.config", str(ROOT / "config" / "mini.yaml"), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout.strip() == f"{ROOT / 'config' / 'mini.yaml'}: ok"
    assert proc.stderr.strip() == f"{path}: `figure`: unknown key; did you mean `figures`?"


def test_the_default_config_yaml_syntax_error_is_named_by_the_workflow(tmp_path):
    for name in ("Snakefile", "rules", "scripts", "schemas", "src", "report", "envs"):
        (tmp_path / name).symlink_to(ROOT / name)
    (tmp_path / "config.yaml").write_text("results: x\ndata: [1,\n")
    proc = subprocess.run(
        [str(SNAKEMAKE), "-n"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode != 0
    assert "config.yaml, line 3, column 1: YAML syntax error" in proc.stdout + proc.stderr


def test_a_local_model_is_checked_against_its_context_window_when_the_dag_is_built(tmp_path):
    import json

    model = tmp_path / "my-model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "gpt_neox", "max_position_embeddings": 256}))
    config = _paper()
    config["models"] = [{"name": "mine", "family": "mine", "size": "1b", "path": str(model)}]
    config["figures"], config["alignment"] = [], None
    config.pop("alignment")
    config.pop("kshot")
    validate(config)
    with pytest.raises(
        ConfigError,
        match=rf"{model}/config.json: max_position_embeddings is 256 but "
        r"scoring.max_length is 2048; set scoring.max_length <= 256 \(model mine\)",
    ):
        Study(config)
    config["scoring"] = {"max_length": 256}
    Study(config)


@pytest.mark.parametrize("name", ["score", "pretrain_mini", "sft_alpaca_full", "reward_model", "ppo"])
def test_heavy_rules_measure_their_time_and_memory(tmp_path, name):
    """benchmark: on scoring and training, so measured time and memory can be set beside llmcal.resources."""
    benchmark = str(_parsed_rule(_mini(), tmp_path, name).benchmark)
    assert benchmark.startswith("results/mini/benchmarks/") and benchmark.endswith(".tsv")


def test_every_file_the_readme_points_to_exists():
    """The README's "Where things live" table stays true as the code moves."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"`((?:src/llmcal/|schemas/|tasks/|data/|scoring/)?[\w/]+\.(?:py|yaml))`", table)
    assert len(named) > 20
    for name in named:
        base = ROOT if name.startswith(("src/", "schemas/")) else ROOT / "src" / "llmcal"
        assert (base / name).is_file(), name


def test_training_jobs_go_before_scoring_jobs(tmp_path):
    """Pretraining and the training stages outrank scoring (priority:), so the chain that decides the wall time
    starts as soon as its inputs exist and short scoring jobs fill the cores around it."""
    config = _mini()
    score = _parsed_rule(config, tmp_path, "score").priority
    for name in ["pretrain_mini", "sft_alpaca_full", "sft_oasst_lora", "reward_model", "ppo", "dpo"]:
        assert _parsed_rule(config, tmp_path, name).priority > score, name

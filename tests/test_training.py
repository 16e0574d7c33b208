"""The alignment trainers (SFT, reward model, PPO, DPO), run for real on the tiny models of conftest.

Runs are a couple of optimizer steps on 8-10 examples; what is checked is the plumbing the workflow relies
on: complete, loadable models per epoch, weights that moved, resumption, and the refusals.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from llmcal.training import (
    DPOSettings,
    PPOSettings,
    RewardSettings,
    SFTSettings,
    add_pad_token,
    train_dpo,
    train_ppo,
    train_reward,
    train_sft,
)

NEOX = ("query_key_value",)
TINY = {"max_length": 64, "gradient_checkpointing": False}


class Interrupted(Exception):
    pass


def interrupt_after(message: str):
    """A log function that stops the run right after it reports `message`, as a killed job would."""

    def log(line):
        if message in line:
            raise Interrupted(line)

    return log


def quiet(line):
    pass


def prompt(i: int) -> str:
    return f"### Instruction:\nName river {i}.\n\n### Response:\n"


def write_sft_data(path, n=8):
    pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "prompt": [prompt(i) for i in range(n)],
            "response": [f"the river of Valdoria {i}" for i in range(n)],
        }
    ).to_parquet(path)
    return path


def write_pairs(path, n=10):
    pd.DataFrame(
        {
            "id": [f"c{i}" for i in range(n)],
            "prompt": [prompt(i) for i in range(n)],
            "chosen": [f"the river of Valdoria {i}" for i in range(n)],
            "rejected": [f"salt iron ? A B {i}" for i in range(n)],
        }
    ).to_parquet(path)
    return path


def write_prompts(path, n=8):
    pd.DataFrame({"id": [f"q{i}" for i in range(n)], "prompt": [prompt(i) for i in range(n)]}).to_parquet(path)
    return path


def weights(model_dir) -> dict[str, torch.Tensor]:
    return load_file(str(model_dir / "model.safetensors"))


def load_causal(model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(str(model_dir)), AutoTokenizer.from_pretrained(str(model_dir))


def changed(a: dict, b: dict, part: str) -> list[str]:
    return [k for k in a if part in k and k in b and a[k].shape == b[k].shape and not torch.equal(a[k], b[k])]


def is_model(d) -> bool:
    return (d / "llmcal_checkpoint.json").exists() and (d / "config.json").exists()


def mtime(path) -> int:
    return (path / "llmcal_checkpoint.json").stat().st_mtime_ns


def full_settings(**kw) -> SFTSettings:
    return SFTSettings(
        **{
            "method": "full",
            "epochs": 2,
            "batch_size": 4,
            "per_device_batch_size": 2,
            "learning_rate": 1e-3,
            **TINY,
            **kw,
        }
    )


def ppo_settings(**kw) -> PPOSettings:
    return PPOSettings(
        **{
            "epochs": 2,
            "batch_size": 4,
            "gradient_accumulation": 2,
            "response_length": 8,
            "num_ppo_epochs": 1,
            "learning_rate": 1e-3,
            "lr_scheduler": "linear",
            "lora_target_modules": NEOX,
            **kw,
        }
    )


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory):
    return write_sft_data(tmp_path_factory.mktemp("sft") / "sft.parquet")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, tiny_models, sft_data):
    """Full fine-tuning of the NeoX model for two epochs, uninterrupted."""
    root = tmp_path_factory.mktemp("full")
    dirs = [root / "e1", root / "e2"]
    summary = train_sft(tiny_models["neox"][0], sft_data, full_settings(), dirs, root / "state", log=quiet)
    return dirs, summary


@pytest.fixture(scope="module")
def reward_run(tmp_path_factory, tiny_models):
    root = tmp_path_factory.mktemp("reward")
    settings = RewardSettings(
        epochs=1,
        batch_size=4,
        per_device_batch_size=2,
        learning_rate=1e-3,
        lora_target_modules=NEOX,
        heldout_fraction=0.2,
        **TINY,
    )
    metrics = train_reward(
        tiny_models["neox"][0],
        write_pairs(root / "pairs.parquet"),
        settings,
        root / "rm",
        root / "metrics.json",
        log=quiet,
    )
    return root / "rm", root / "metrics.json", metrics


# settings ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [SFTSettings, RewardSettings, PPOSettings, DPOSettings])
def test_settings_refuse_unknown_keys_naming_the_key(cls):
    with pytest.raises(ValueError, match=r"alignment\.sft\.lora\.lr_rate`: unknown key; did you mean `learning_rate`"):
        cls.from_dict({"lr_rate": 1e-4}, "alignment.sft.lora")


def test_settings_default_to_the_paper_and_coerce_yaml_values():
    full, lora = SFTSettings(), SFTSettings.from_dict({"method": "lora", "learning_rate": "3e-4"}, "k")
    assert (full.learning_rate, full.lr_scheduler, full.warmup(), full.batch_size, full.max_length) == (
        2e-5,
        "cosine",
        0.03,
        128,
        2048,
    )
    assert (
        lora.learning_rate,
        lora.lr_scheduler,
        lora.warmup(),
        lora.lora_r,
        lora.lora_alpha,
        lora.lora_dropout,
        lora.lora_target_modules,
    ) == (3e-4, "linear", 100, 8, 32, 0.1, ("q_proj", "v_proj"))
    assert full.gradient_accumulation(4) == 8 and lora.gradient_accumulation(4) == 2  # Table 2's 4 GPUs
    reward, ppo = RewardSettings(), PPOSettings()
    assert (reward.lora_r, reward.epochs, reward.learning_rate, reward.batch_size) == (8, 2, 2e-5, 32)
    assert (
        ppo.lora_r,
        ppo.lora_dropout,
        ppo.learning_rate,
        ppo.batch_size,
        ppo.gradient_accumulation,
        ppo.response_length,
    ) == (16, 0.05, 1.4e-5, 8, 8, 128)
    assert SFTSettings.from_dict({"lora_target_modules": "query_key_value"}, "k").lora_target_modules == NEOX


def test_settings_refuse_a_batch_the_processes_cannot_make():
    with pytest.raises(ValueError, match=r"alignment\.sft\.batch_size: 10 is not a multiple"):
        SFTSettings.from_dict({"batch_size": 10, "per_device_batch_size": 4}, "alignment.sft").gradient_accumulation(1)
    with pytest.raises(ValueError, match=r"ppo\.batch_size"):
        PPOSettings(batch_size=6, gradient_accumulation=4)
    with pytest.raises(ValueError, match=r"k\.epochs: expected int"):
        SFTSettings.from_dict({"epochs": 1.5}, "k")


# pad token --------------------------------------------------------------------------------------------------------


def test_pad_token_is_added_when_missing_or_equal_to_eos(tiny_models):
    model, tokenizer = load_causal(tiny_models["llama"][0])
    n = len(tokenizer)
    tokenizer.pad_token = tokenizer.eos_token
    add_pad_token(tokenizer, model)
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer) == n + 1 == model.get_input_embeddings().num_embeddings
    assert model.config.pad_token_id == tokenizer.pad_token_id


# SFT --------------------------------------------------------------------------------------------------------------


def test_sft_full_saves_each_epoch_as_a_complete_model(full_run, tiny_models):
    dirs, summary = full_run
    base = weights(tiny_models["neox"][0])
    for d in dirs:
        model, tokenizer = load_causal(d)
        assert tokenizer.pad_token_id != tokenizer.eos_token_id
        assert changed(base, weights(d), "layers.0.attention") and changed(base, weights(d), "embed_out")
    assert changed(weights(dirs[0]), weights(dirs[1]), "")
    assert summary["steps"] == 4 and summary["gradient_accumulation"] == 2
    assert len(summary["loss_per_epoch"]) == 2 and all(x > 0 for x in summary["loss_per_epoch"])


@pytest.mark.parametrize("method", ["full", "lora"])
def test_sft_resumes_after_an_interruption(tmp_path, full_run, tiny_models, sft_data, method):
    base = tiny_models["neox"][0]
    settings = full_settings(
        method=method, **({"lora_target_modules": NEOX, "warmup_steps": 0} if method == "lora" else {})
    )
    reference = full_run[0][1] if method == "full" else None
    if reference is None:
        reference = tmp_path / "ref2"
        train_sft(base, sft_data, settings, [tmp_path / "ref1", reference], tmp_path / "ref-state", log=quiet)

    dirs = [tmp_path / "e1", tmp_path / "e2"]
    with pytest.raises(Interrupted):
        train_sft(base, sft_data, settings, dirs, tmp_path / "state", log=interrupt_after("saved epoch 1"))
    assert is_model(dirs[0]) and not dirs[1].exists()
    first = mtime(dirs[0])

    summary = train_sft(base, sft_data, settings, dirs, tmp_path / "state", log=quiet)
    assert summary["resumed_from"] and summary["steps"] == 4
    assert mtime(dirs[0]) == first and is_model(dirs[1])
    # Resuming from the epoch-1 checkpoint continues exactly where the uninterrupted run went.
    expected = weights(reference)
    assert all(torch.equal(t, expected[k]) for k, t in weights(dirs[1]).items())
    assert train_sft(base, sft_data, settings, dirs, tmp_path / "state", log=quiet)["skipped"]


def test_sft_never_resumes_another_runs_state(tmp_path, tiny_models, sft_data):
    base = tiny_models["neox"][0]
    dirs = [tmp_path / "e1", tmp_path / "e2"]
    with pytest.raises(Interrupted):
        train_sft(base, sft_data, full_settings(), dirs, tmp_path / "state", log=interrupt_after("saved epoch 1"))
    lines = []
    summary = train_sft(base, sft_data, full_settings(learning_rate=2e-3), dirs, tmp_path / "state", log=lines.append)
    assert summary["resumed_from"] is None and summary["steps"] == 4
    assert any("different run (settings.learning_rate changed)" in line and "moved aside" in line for line in lines)
    assert (tmp_path / "state.stale-1" / "trainer").is_dir()


def _base_without_pad(src, dst):
    """The LLaMA case: a tokenizer whose pad is its EOS."""
    from transformers import AutoTokenizer

    shutil.copytree(src, dst)
    tokenizer = AutoTokenizer.from_pretrained(str(dst))
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(str(dst))
    return dst


@pytest.mark.parametrize(
    "family, targets, frozen", [("llama", ("q_proj", "v_proj"), "k_proj"), ("neox", NEOX, "attention.dense")]
)
def test_sft_lora_saves_merged_models(tmp_path, tiny_models, sft_data, family, targets, frozen):
    base = _base_without_pad(tiny_models[family][0], tmp_path / "base") if family == "llama" else tiny_models[family][0]
    settings = SFTSettings(
        method="lora",
        epochs=1,
        batch_size=4,
        per_device_batch_size=4,
        learning_rate=1e-2,
        warmup_steps=0,
        lora_target_modules=targets,
        **TINY,
    )
    out = tmp_path / "e1"
    summary = train_sft(base, sft_data, settings, [out], tmp_path / "state", log=quiet)
    assert summary["steps"] == 2 and summary["gradient_accumulation"] == 1

    model, tokenizer = load_causal(out)  # a plain causal LM: the adapter is merged in
    assert not (out / "adapter_config.json").exists() and "lora" not in " ".join(weights(out))
    assert tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    before, after = weights(tiny_models[family][0]), weights(out)
    for target in targets:
        assert changed(before, after, target)
    assert not changed(before, after, frozen) and not changed(before, after, "mlp")


def test_sft_refuses_a_dataset_smaller_than_one_batch(tmp_path, tiny_models):
    data = write_sft_data(tmp_path / "small.parquet", n=3)
    settings = SFTSettings.from_dict({"batch_size": 4, "per_device_batch_size": 2}, "alignment.sft.full")
    expected = r"3 SFT examples, fewer than one batch of 4.*alignment\.sft\.full\.batch_size"
    with pytest.raises(ValueError, match=expected):
        train_sft(tiny_models["neox"][0], data, settings, [tmp_path / f"e{i}" for i in range(3)], tmp_path / "s")
    assert not (tmp_path / "s").exists()


# reward model -----------------------------------------------------------------------------------------------------


def test_reward_model_is_saved_as_a_plain_sequence_classifier(reward_run, tiny_models):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out, metrics_path, metrics = reward_run
    model = AutoModelForSequenceClassification.from_pretrained(str(out))
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert model.config.num_labels == 1 and model.score.out_features == 1
    assert model.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id
    assert not (out / "adapter_config.json").exists()
    assert changed(weights(tiny_models["neox"][0]), weights(out), "query_key_value")

    saved = json.loads(metrics_path.read_text())
    assert saved == metrics and set(saved) == {"heldout_pairs", "pairwise_accuracy", "train_pairs"}
    assert (saved["heldout_pairs"], saved["train_pairs"]) == (2, 8)
    assert 0 <= saved["pairwise_accuracy"] <= 1


def test_reward_model_of_a_base_without_pad_gets_one(tmp_path, tiny_models):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    base = _base_without_pad(tiny_models["llama"][0], tmp_path / "base")
    settings = RewardSettings(
        epochs=1,
        batch_size=4,
        per_device_batch_size=4,
        learning_rate=1e-3,
        lora_target_modules=("q_proj", "v_proj"),
        heldout_fraction=0.2,
        **TINY,
    )
    metrics = train_reward(
        base, write_pairs(tmp_path / "pairs.parquet"), settings, tmp_path / "rm", tmp_path / "metrics.json", log=quiet
    )
    model = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "rm"))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "rm"))
    assert model.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert changed(weights(base), weights(tmp_path / "rm"), "q_proj")
    assert not changed(weights(base), weights(tmp_path / "rm"), "k_proj")
    assert 0 <= metrics["pairwise_accuracy"] <= 1


def test_reward_refuses_fewer_training_pairs_than_one_batch(tmp_path, tiny_models):
    settings = RewardSettings(batch_size=8, per_device_batch_size=4, heldout_fraction=0.2)
    with pytest.raises(ValueError, match=r"7 training pairs, fewer than one batch of 8.*reward\.batch_size"):
        train_reward(
            tiny_models["neox"][0],
            write_pairs(tmp_path / "p.parquet", n=9),
            settings,
            tmp_path / "rm",
            tmp_path / "m.json",
        )
    assert not (tmp_path / "rm").exists()


# PPO --------------------------------------------------------------------------------------------------------------


def test_ppo_trains_saves_each_epoch_and_resumes(tmp_path, full_run, reward_run):
    policy, reward = full_run[0][-1], reward_run[0]
    prompts = write_prompts(tmp_path / "prompts.parquet")
    uninterrupted = [tmp_path / "u1", tmp_path / "u2"]
    summary = train_ppo(policy, reward, prompts, ppo_settings(), uninterrupted, tmp_path / "u-state", log=quiet)
    assert summary["updates_per_epoch"] == 2 and len(summary["per_epoch"]) == 2
    for d in uninterrupted:
        model, tokenizer = load_causal(d)
        assert tokenizer.pad_token_id != tokenizer.eos_token_id and not (d / "adapter_config.json").exists()
        assert changed(weights(policy), weights(d), "query_key_value")
        assert not changed(weights(policy), weights(d), "mlp")
    assert changed(weights(uninterrupted[0]), weights(uninterrupted[1]), "query_key_value")

    dirs = [tmp_path / "e1", tmp_path / "e2"]
    with pytest.raises(Interrupted):
        train_ppo(
            policy, reward, prompts, ppo_settings(), dirs, tmp_path / "state", log=interrupt_after("saved epoch 1")
        )
    assert is_model(dirs[0]) and not dirs[1].exists()
    first = mtime(dirs[0])
    summary = train_ppo(policy, reward, prompts, ppo_settings(), dirs, tmp_path / "state", log=quiet)
    assert summary["resumed_after_epoch"] == 1 and mtime(dirs[0]) == first
    # Adapters, optimizer moments, schedule and sampling seed all carry over: the same epoch 2 as without a break.
    reference = weights(uninterrupted[1])
    assert all(torch.allclose(t, reference[k], atol=1e-6) for k, t in weights(dirs[1]).items())


@pytest.mark.parametrize("n_prompts", [0, 3])
def test_ppo_refuses_fewer_prompts_than_one_batch(tmp_path, full_run, reward_run, n_prompts):
    prompts = write_prompts(tmp_path / "few.parquet", n=n_prompts)
    settings = PPOSettings.from_dict({"batch_size": 4, "gradient_accumulation": 2, "epochs": 1}, "alignment.rlhf.ppo")
    expected = rf"{n_prompts} PPO prompts, fewer than one batch of 4.*alignment\.rlhf\.ppo\.batch_size"
    with pytest.raises(ValueError, match=expected):
        train_ppo(full_run[0][-1], reward_run[0], prompts, settings, [tmp_path / "e1"], tmp_path / "state")
    assert not (tmp_path / "state").exists()


# DPO --------------------------------------------------------------------------------------------------------------


def dpo_settings(**kw) -> DPOSettings:
    return DPOSettings(
        **{
            "epochs": 2,
            "batch_size": 4,
            "per_device_batch_size": 2,
            "learning_rate": 1e-2,
            "warmup_ratio": 0.0,
            "heldout_fraction": 0.2,
            "lora_target_modules": NEOX,
            **TINY,
            **kw,
        }
    )


def test_dpo_settings_default_to_ours_and_check_their_values():
    s = DPOSettings()
    assert (s.beta, s.loss_type, s.lora_r, s.lora_alpha, s.lora_dropout, s.epochs, s.method) == (
        0.1,
        "sigmoid",
        16,
        32,
        0.05,
        3,
        "lora",
    )
    with pytest.raises(ValueError, match=r"alignment\.rlhf\.dpo\.beta: must be positive"):
        DPOSettings.from_dict({"beta": 0}, "alignment.rlhf.dpo")
    with pytest.raises(ValueError, match=r"alignment\.rlhf\.dpo\.loss_type: must be one of"):
        DPOSettings.from_dict({"loss_type": "kto"}, "alignment.rlhf.dpo")


def test_dpo_trains_on_the_reward_split_saves_each_epoch_and_resumes(tmp_path, full_run):
    policy = full_run[0][-1]
    pairs = write_pairs(tmp_path / "pairs.parquet")
    uninterrupted = [tmp_path / "u1", tmp_path / "u2"]
    summary = train_dpo(policy, pairs, dpo_settings(), uninterrupted, tmp_path / "u-state", log=quiet)
    # 10 pairs, 2 held out (the reward model's split at 0.2): 8 training pairs, 2 steps of 4 per epoch.
    assert (summary["train_pairs"], summary["heldout_pairs"], summary["steps"]) == (8, 2, 4)
    assert len(summary["heldout_accuracy_per_epoch"]) == 2 and None not in summary["heldout_accuracy_per_epoch"]
    for d in uninterrupted:
        model, tokenizer = load_causal(d)
        assert tokenizer.pad_token_id != tokenizer.eos_token_id and not (d / "adapter_config.json").exists()
        assert changed(weights(policy), weights(d), "query_key_value")
        assert not changed(weights(policy), weights(d), "mlp")
        meta = json.loads((d / "llmcal_checkpoint.json").read_text())
        assert meta["stage"] == "dpo"
        assert meta["data"] == {"train_pairs": 8, "heldout_pairs": 2, "left_out_for_length": 0}
    assert changed(weights(uninterrupted[0]), weights(uninterrupted[1]), "query_key_value")

    dirs = [tmp_path / "e1", tmp_path / "e2"]
    with pytest.raises(Interrupted):
        train_dpo(policy, pairs, dpo_settings(), dirs, tmp_path / "state", log=interrupt_after("saved epoch 1"))
    assert is_model(dirs[0]) and not dirs[1].exists()
    first = mtime(dirs[0])
    summary = train_dpo(policy, pairs, dpo_settings(), dirs, tmp_path / "state", log=quiet)
    assert summary["resumed_from"] and mtime(dirs[0]) == first
    # The resumed epoch 2 equals the uninterrupted one: adapter, optimizer, schedule and data order carry over.
    reference = weights(uninterrupted[1])
    assert all(torch.allclose(t, reference[k], atol=1e-6) for k, t in weights(dirs[1]).items())
    assert train_dpo(policy, pairs, dpo_settings(), dirs, tmp_path / "state", log=quiet)["skipped"]
    # Another beta is another run: its state is moved aside, never resumed.
    lines = []
    train_dpo(policy, pairs, dpo_settings(beta=0.5, epochs=1), dirs[:1], tmp_path / "state", log=lines.append)
    assert any("settings.beta" in line and "moved aside" in line for line in lines)


def test_dpo_leaves_out_long_pairs_and_refuses_fewer_than_one_batch(tmp_path, full_run):
    pairs = write_pairs(tmp_path / "pairs.parquet")
    df = pd.read_parquet(pairs)
    df.loc[:5, "rejected"] = "word " * 200  # 6 pairs far beyond max_length 64
    df.to_parquet(pairs)
    lines = []
    with pytest.raises(ValueError, match=r"DPO training pairs within max_length 64, fewer than one batch of 4"):
        train_dpo(
            full_run[0][-1], pairs, dpo_settings(), [tmp_path / "e1", tmp_path / "e2"], tmp_path / "s", lines.append
        )
    assert any("pairs longer than max_length 64 left out" in line for line in lines)


def test_dpo_checkpoints_record_the_pairs_left_out_for_length(tmp_path, full_run):
    from llmcal.training.reward import split_heldout

    pairs = write_pairs(tmp_path / "pairs.parquet")
    df = pd.read_parquet(pairs)
    df.loc[:1, "chosen"] = "word " * 200  # two pairs far beyond max_length 64
    df.to_parquet(pairs)
    train, heldout = split_heldout(df, 0.2, 1234)
    long_train = int(train["chosen"].str.len().gt(500).sum())
    long_heldout = int(heldout["chosen"].str.len().gt(500).sum())
    lines = []
    summary = train_dpo(full_run[0][-1], pairs, dpo_settings(epochs=1), [tmp_path / "e1"], tmp_path / "s", lines.append)
    meta = json.loads((tmp_path / "e1" / "llmcal_checkpoint.json").read_text())
    want = {"train_pairs": 8 - long_train, "heldout_pairs": 2 - long_heldout, "left_out_for_length": 2}
    assert meta["data"] == want and {k: summary[k] for k in want} == want
    assert any(f"dpo: {long_train} training and {long_heldout} held-out pairs longer" in line for line in lines)

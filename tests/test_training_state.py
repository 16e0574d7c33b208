"""Training state is tied to the exact inputs that made it; partial checkpoints never block a resume."""

from __future__ import annotations

import json
import shutil

import pytest
from test_training import (
    NEOX,
    TINY,
    Interrupted,
    full_settings,
    interrupt_after,
    ppo_settings,
    quiet,
    write_pairs,
    write_prompts,
    write_sft_data,
)

from llmcal.training import RewardSettings, fingerprint, train_ppo, train_reward, train_sft


def _bytes(d):
    return (d / "model.safetensors").read_bytes()


def _run(job_args, **kw):
    from llmcal.pipeline import sft_job

    lines = []
    import logging

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    logging.getLogger("llmcal").addHandler(handler)
    logging.getLogger("llmcal").setLevel(logging.INFO)
    try:
        summary = sft_job(*job_args)
    finally:
        logging.getLogger("llmcal").removeHandler(handler)
    return summary, lines


def test_fingerprint_is_of_contents_not_paths(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"x" * 100)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert fingerprint([tmp_path / "a"]) == fingerprint([tmp_path / "b"])
    (tmp_path / "b" / "w.bin").write_bytes(b"y" * 100)
    assert fingerprint([tmp_path / "a"]) != fingerprint([tmp_path / "b"])


def test_sft_job_retrains_on_changed_settings_or_data_and_resumes_only_the_same_run(tmp_path, tiny_models):
    base = str(tiny_models["neox"][0])
    data = write_sft_data(tmp_path / "sft.parquet")
    outs = [tmp_path / "out" / "epoch1", tmp_path / "out" / "epoch2"]
    state = tmp_path / "state"

    def job(**kw):
        run = {"name": "t", "method": "full", "settings": {**full_settings(**kw).to_dict()}}
        return _run((run, base, str(data), {}, str(state), [str(o) for o in outs]))

    first, _ = job()
    w1 = _bytes(outs[1])
    same, lines = job()
    assert same["skipped"] and _bytes(outs[1]) == w1
    changed, lines = job(learning_rate=2e-3)
    assert not changed["skipped"] and _bytes(outs[1]) != w1
    assert any("settings.learning_rate changed" in l and "moved aside" in l for l in lines), lines
    marker = json.loads((outs[1] / "llmcal_checkpoint.json").read_text())
    assert marker["run"] == changed["run"] != first["run"] and marker["identity"]["settings"]["learning_rate"] == 2e-3
    w2 = _bytes(outs[1])
    write_sft_data(data, n=9)  # other contents, same path
    again, lines = job(learning_rate=2e-3)
    assert not again["skipped"] and _bytes(outs[1]) != w2
    assert any("data contents changed" in l for l in lines), lines


def test_sft_resumes_from_the_newest_complete_checkpoint(tmp_path, tiny_models):
    base = tiny_models["neox"][0]
    data = write_sft_data(tmp_path / "sft.parquet")
    dirs = [tmp_path / "e1", tmp_path / "e2"]
    with pytest.raises(Interrupted):
        train_sft(base, data, full_settings(), dirs, tmp_path / "state", log=interrupt_after("saved epoch 1"))
    trainer = tmp_path / "state" / "trainer"
    (complete,) = list(trainer.glob("checkpoint-*"))
    # A kill while the Trainer writes the next checkpoint: weights half-written, no trainer_state.json yet.
    partial = trainer / "checkpoint-4"
    shutil.copytree(complete, partial)
    (partial / "trainer_state.json").unlink()
    w = (partial / "model.safetensors").read_bytes()
    (partial / "model.safetensors").write_bytes(w[: len(w) // 2])
    lines = []
    summary = train_sft(base, data, full_settings(), dirs, tmp_path / "state", log=lines.append)
    assert summary["resumed_from"] == str(complete) and summary["steps"] == 4
    assert any("partial Trainer checkpoint" in l and "checkpoint-4" in l and "moved aside" in l for l in lines), lines
    assert all((d / "llmcal_checkpoint.json").is_file() for d in dirs)


def test_reward_and_ppo_retrain_on_a_changed_setting(tmp_path, tiny_models):
    base = tiny_models["neox"][0]
    pairs = write_pairs(tmp_path / "pairs.parquet")

    def reward(lr):
        s = RewardSettings(
            epochs=1,
            batch_size=4,
            per_device_batch_size=2,
            learning_rate=lr,
            lora_target_modules=NEOX,
            heldout_fraction=0.2,
            **TINY,
        )
        train_reward(base, pairs, s, tmp_path / "rm", tmp_path / "m.json", log=quiet)
        return _bytes(tmp_path / "rm"), json.loads((tmp_path / "rm" / "llmcal_checkpoint.json").read_text())["run"]

    r1, run1 = reward(1e-3)
    r2, run2 = reward(3e-3)
    assert r1 != r2 and run1 != run2

    prompts = write_prompts(tmp_path / "prompts.parquet")
    dirs = [tmp_path / "p1"]
    train_ppo(base, tmp_path / "rm", prompts, ppo_settings(epochs=1), dirs, tmp_path / "ps", log=quiet)
    p1 = _bytes(dirs[0])
    lines = []
    summary = train_ppo(
        base,
        tmp_path / "rm",
        prompts,
        ppo_settings(epochs=1, learning_rate=3e-3),
        dirs,
        tmp_path / "ps",
        log=lines.append,
    )
    assert not summary["skipped"] and _bytes(dirs[0]) != p1
    assert any("settings.learning_rate changed" in l and "moved aside" in l for l in lines), lines


def test_a_job_refuses_an_unwritable_output_before_loading_a_model(tmp_path, tiny_models):
    import os

    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the outputs' directory should be")
    with pytest.raises(PermissionError, match=r"blocked/e1: cannot write the SFT state and epochs: .*not a directory"):
        train_sft(
            tiny_models["neox"][0],
            write_sft_data(tmp_path / "d.parquet"),
            full_settings(),
            [blocked / "e1", blocked / "e2"],
            tmp_path / "state",
            log=quiet,
        )
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(PermissionError, match=r"locked.*not writable"):
                train_sft(
                    tiny_models["neox"][0],
                    tmp_path / "d.parquet",
                    full_settings(),
                    [locked / "e1", locked / "e2"],
                    tmp_path / "state2",
                    log=quiet,
                )
        finally:
            locked.chmod(0o700)

"""Job functions: the metrics table and the sample job, on files written here."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from llmcal import calibration, pipeline
from llmcal.pipeline import aggregate_job, sample_job


def test_aggregate_matches_the_metric_functions(tmp_path):
    rng = np.random.default_rng(0)
    files, rows = [], []
    for i, (model, task) in enumerate([("a", "clm"), ("a", "mmlu"), ("b", "clm")]):
        conf = rng.uniform(0, 1, 500)
        corr = rng.uniform(0, 1, 500) < conf ** (1 + i)
        path = tmp_path / f"{model}-{task}.parquet"
        pd.DataFrame({"id": [f"s{j}" for j in range(500)], "confidence": conf, "correct": corr}).to_parquet(path)
        files.append(str(path))
        rows.append({"model": model, "family": "f", "size": model, "step": None, "task": task})
    out = tmp_path / "metrics.csv"
    aggregate_job(files, rows, {"n_bins": 10, "n_boot": 50}, seed=1, out=str(out))
    table = pd.read_csv(out)
    assert list(table[["model", "task"]].itertuples(index=False, name=None)) == [
        ("a", "clm"),
        ("a", "mmlu"),
        ("b", "clm"),
    ]
    for path, (_, row) in zip(files, table.iterrows()):
        df = pd.read_parquet(path)
        assert row["ece"] == pytest.approx(calibration.expected_calibration_error(df.confidence, df.correct), abs=1e-6)
        assert row["accuracy"] == pytest.approx(df.correct.mean(), abs=1e-6)
        assert row["n"] == 500
        assert row["ece_lo"] <= row["ece_hi"]


def test_aggregate_refuses_mismatched_rows(tmp_path):
    with pytest.raises(ValueError):
        aggregate_job(["x.parquet"], [], {"n_bins": 10, "n_boot": 10}, 0, str(tmp_path / "m.csv"))
    assert not (tmp_path / "m.csv").exists()


def test_sample_job_is_deterministic(tmp_path):
    pile = tmp_path / "val.jsonl"
    pile.write_text(
        "\n".join(json.dumps({"text": f"document number {i} " * 20, "meta": {"pile_set_name": "X"}}) for i in range(50))
        + "\n"
    )
    outs = [tmp_path / f"clm{i}.parquet" for i in range(2)]
    for out in outs:
        sample_job("clm", {"files": {"val": str(pile)}}, {"n": 10, "min_chars": 10}, 7, str(out))
    assert outs[0].read_bytes() == outs[1].read_bytes()
    assert len(pd.read_parquet(outs[0])) == 10


# alignment jobs -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def instruction_raw(tmp_path_factory):
    from llmcal.data.miniworld import WorldConfig, generate_world
    from llmcal.pipeline import mini_instructions_job

    root = tmp_path_factory.mktemp("world")
    generate_world(root / "world", WorldConfig.tiny())
    out = root / "instructions"
    mini_instructions_job(str(root / "world"), 3, {"n_alpaca": 80, "n_oasst_trees": 80, "n_comparison": 40}, str(out))
    return {
        "alpaca": str(out / "alpaca_data.json"),
        "oasst": str(out / "oasst.jsonl"),
        "comparison": str(out / "comparison_data_v2.json"),
    }


def test_instruction_data_job_writes_equal_sets_pairs_and_prompts(tmp_path, instruction_raw):
    from llmcal.pipeline import instruction_data_job

    names = ("alpaca", "oasst", "comparison", "ppo_prompts")
    outputs = {n: str(tmp_path / f"{n}.parquet") for n in names}
    instruction_data_job(instruction_raw, 30, 12, 5, outputs)
    t = {n: pd.read_parquet(outputs[n]) for n in names}
    assert len(t["alpaca"]) == len(t["oasst"]) == 30
    assert list(t["comparison"].columns) == ["id", "prompt", "chosen", "rejected"] and len(t["comparison"]) > 20
    assert len(t["ppo_prompts"]) == 12 and set(t["ppo_prompts"]["id"]) <= set(t["alpaca"]["id"])
    assert t["alpaca"]["prompt"].str.startswith("Below is an instruction").all()
    # Seeded: the same inputs give the same bytes.
    again = {n: str(tmp_path / f"again-{n}.parquet") for n in names}
    instruction_data_job(instruction_raw, 30, 12, 5, again)
    assert all(open(outputs[n], "rb").read() == open(again[n], "rb").read() for n in names)


def _sft_run(epochs=2):
    from llmcal.training.settings import SFTSettings

    settings = SFTSettings(
        method="full",
        epochs=epochs,
        batch_size=4,
        per_device_batch_size=4,
        learning_rate=1e-3,
        max_length=64,
        gradient_checkpointing=False,
    )
    return {"name": "alpaca-full", "method": "full", "settings": settings.to_dict()}


def _sft_data(path, n=8):
    pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(n)],
            "prompt": [f"### Instruction:\nName river {i}.\n\n### Response:\n" for i in range(n)],
            "response": [f"the river of Valdoria {i}" for i in range(n)],
        }
    ).to_parquet(path)
    return str(path)


def test_sft_job_publishes_epochs_and_restores_them_after_a_failed_job(tmp_path, tiny_models):
    """Snakemake deletes the outputs of a failed job; the trained epochs survive in the state directory."""
    import os

    from llmcal.pipeline import sft_job

    base = str(tiny_models["neox"][0])
    data = _sft_data(tmp_path / "sft.parquet")
    outs = [str(tmp_path / "out" / f"epoch{k}") for k in (1, 2)]
    state = str(tmp_path / "state")
    first = sft_job(_sft_run(), base, data, {}, state, outs)
    assert first["skipped"] is False and first["steps"] == 4
    weights = [open(os.path.join(o, "model.safetensors"), "rb").read() for o in outs]
    staged = os.path.join(state, "epochs", "epoch2", "model.safetensors")
    # Published by hard links: no second copy of a 7B model's weights.
    assert os.stat(staged).st_ino == os.stat(os.path.join(outs[1], "model.safetensors")).st_ino
    assert not os.path.exists(os.path.join(state, "trainer"))  # optimizer state is dropped once all epochs are in
    for o in outs:
        import shutil

        shutil.rmtree(o)
    again = sft_job(_sft_run(), base, data, {}, state, outs)
    assert again["skipped"] is True
    assert [open(os.path.join(o, "model.safetensors"), "rb").read() for o in outs] == weights


def test_accelerate_command_for_several_processes(tmp_path):
    from llmcal.training.launch import accelerate_command

    with pytest.raises(ValueError, match="alignment.launch: config_file fsdp.yaml does not exist"):
        accelerate_command({"num_processes": 4, "config_file": "fsdp.yaml"}, tmp_path / "job.json")
    (tmp_path / "fsdp.yaml").write_text("distributed_type: FSDP\n")
    fsdp = str(tmp_path / "fsdp.yaml")
    cmd = accelerate_command(
        {"num_processes": 4, "config_file": fsdp, "main_process_port": 29600}, tmp_path / "job.json"
    )
    assert cmd[1:3] == ["-m", "accelerate.commands.launch"]
    assert cmd[cmd.index("--num_processes") + 1] == "4" and cmd[cmd.index("--config_file") + 1] == fsdp
    assert cmd[-3:] == ["--module", "llmcal.training.launch", str(tmp_path / "job.json")]
    # A config file chooses the distribution itself (FSDP for full fine-tuning); --multi_gpu would override it.
    assert "--multi_gpu" not in cmd
    plain = accelerate_command({"num_processes": 2}, tmp_path / "j.json")
    assert "--config_file" not in plain and "--multi_gpu" in plain


def test_unknown_training_stage_is_refused():
    from llmcal.training.launch import run_stage

    with pytest.raises(ValueError, match="kto"):
        run_stage("kto", {}, {}, ".")


def test_two_processes_through_accelerate_train_the_same_model_as_one(tmp_path, tiny_models):
    """alignment.launch.num_processes > 1: accelerate launch, one data-parallel run (gloo on a CPU)."""
    import torch
    from safetensors.torch import load_file

    from llmcal.training.launch import run_stage
    from llmcal.training.settings import SFTSettings

    settings = SFTSettings(
        method="full",
        epochs=1,
        batch_size=4,
        per_device_batch_size=2,
        learning_rate=1e-3,
        max_length=64,
        gradient_checkpointing=False,
        lora_dropout=0.0,
    ).to_dict()
    data = _sft_data(tmp_path / "sft.parquet")
    runs = {}
    for n in (1, 2):
        args = {
            "base_dir": str(tiny_models["neox"][0]),
            "data": data,
            "settings": settings,
            "epoch_dirs": [str(tmp_path / f"p{n}" / "e1")],
            "state_dir": str(tmp_path / f"p{n}" / "state"),
            "key": "alignment.instruction_tuning.full",
        }
        runs[n] = run_stage("sft", args, {"num_processes": n}, tmp_path / f"p{n}" / "state")
    # The global batch is kept: two processes x 2 rows, no accumulation, instead of 2 rows x 2 steps.
    assert (runs[1]["gradient_accumulation"], runs[2]["gradient_accumulation"]) == (2, 1)
    assert runs[1]["steps"] == runs[2]["steps"] == 2
    one, two = (load_file(str(tmp_path / f"p{n}" / "e1" / "model.safetensors")) for n in (1, 2))
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-5)


def _truncated_parquet(tmp_path, name: str, df: pd.DataFrame):
    """A parquet file the workflow wrote, cut short afterwards (a full disk, a copy that stopped)."""
    path = tmp_path / name
    df.to_parquet(path)
    size = path.stat().st_size
    with open(path, "r+b") as fh:
        fh.truncate(size // 2)
    return path


def _score_frame(n: int = 50) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    conf = rng.uniform(0.25, 1, n)
    return pd.DataFrame(
        {"id": [f"s{i}" for i in range(n)], "confidence": conf, "correct": rng.uniform(0, 1, n) < conf, "n_shots": 5}
    )


def _rebuild_message(path) -> str:
    import re

    return (
        re.escape(f"{path}: not a readable parquet file (") + r".*" + re.escape("delete it and run the workflow again")
    )


def test_a_damaged_score_file_stops_the_tables_and_figures_naming_it(tmp_path):
    """Every reader of a workflow-written parquet file (metrics table, k-shot table, figures, findings) names a
    file damaged after it was written and how to rebuild it, where pyarrow alone names no file."""
    from llmcal.figure_kinds import FigureJob
    from llmcal.kshot import kshot_table

    good = tmp_path / "good.parquet"
    _score_frame().to_parquet(good)
    bad = _truncated_parquet(tmp_path, "bad.parquet", _score_frame())
    rows = [{"model": m, "family": "f", "size": m, "step": None, "task": "clm"} for m in ("a", "b")]
    with pytest.raises(ValueError, match=_rebuild_message(bad)):
        aggregate_job([str(good), str(bad)], rows, {"n_bins": 10, "n_boot": 10}, 0, str(tmp_path / "m.csv"))
    assert not (tmp_path / "m.csv").exists()
    with pytest.raises(ValueError, match=_rebuild_message(bad)):
        kshot_table([str(good), str(bad)], [{"model": "a", "shots": 5}, {"model": "b", "shots": 5}], {"n_boot": 10}, 0)
    job = FigureJob(
        figure={},
        inputs={},
        params={"scores": {"a|clm": str(good), "b|clm": str(bad)}},
        task_labels={},
        n_bins=10,
        out="",
    )
    with pytest.raises(ValueError, match=_rebuild_message(bad)):
        job.scores()


def test_a_damaged_sample_or_training_table_stops_its_job_naming_it(tmp_path, tiny_models):
    from llmcal.training import read_table

    bad = _truncated_parquet(tmp_path, "sft.parquet", pd.DataFrame({"id": ["a"], "prompt": ["p"], "response": ["r"]}))
    with pytest.raises(ValueError, match=_rebuild_message(bad)):
        read_table(bad, ("id", "prompt", "response"), "the SFT data")
    sample = _truncated_parquet(tmp_path, "clm.parquet", pd.DataFrame({"id": ["a"], "text": ["some text " * 20]}))
    model_dir, arch = tiny_models["neox"]
    with pytest.raises(ValueError, match=_rebuild_message(sample)):
        pipeline.score_model_job(
            model_dir,
            {"name": "t", "arch": arch},
            {"clm": (str(sample), str(tmp_path / "s.parquet"))},
            {"max_length": 256},
            0,
        )
    assert not (tmp_path / "s.parquet").exists()


def test_a_table_cut_short_stops_the_figures_and_report_naming_it(tmp_path):
    """pandas reads a CSV cut short as a table short of rows (its last one half empty): the workflow's own tables
    are refused unless they end as written, with a newline."""
    from llmcal.figure_kinds import FigureJob
    from llmcal.fsio import read_table_csv

    path = tmp_path / "metrics.csv"
    table = pd.DataFrame({"model": ["a", "b", "c"], "task": "clm", "ece": [0.1, 0.2, 0.3]})
    table.to_csv(path, index=False, float_format="%.6f")
    pd.testing.assert_frame_equal(read_table_csv(path), table)
    text = path.read_bytes()
    path.write_bytes(text[: len(text) - 5])
    assert len(pd.read_csv(path)) == 3  # what pandas alone makes of it: three rows, the last one's ece cut
    job = FigureJob(figure={}, inputs={"metrics": str(path)}, params={}, task_labels={}, n_bins=10, out="")
    with pytest.raises(ValueError, match=f"{path}: cut short .*delete it and run the workflow again"):
        job.metrics()
    with pytest.raises(ValueError, match=f"{path}: cut short"):
        pipeline.findings_job({"results": str(tmp_path)}, str(path), {}, 10, 0, "r.md", "r.html", "s.pdf")
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=f"{path}: empty"):
        read_table_csv(path)


def test_a_missing_workflow_file_is_named_as_missing(tmp_path):
    from llmcal.fsio import open_parquet, read_parquet

    path = tmp_path / "scores" / "clm" / "m.parquet"
    for read in (open_parquet, read_parquet):
        with pytest.raises(ValueError, match=f"{path}: missing; run the workflow"):
            read(path)

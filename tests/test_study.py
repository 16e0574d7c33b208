"""The registry and study: what the configs expand to, and config errors that name their key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from llmcal.registry import ConfigError, checkpoint_steps, expand_models
from llmcal.study import Study

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    return yaml.safe_load((ROOT / name).read_text())


def test_paper_config_lists_every_model_of_the_paper():
    study = Study(_load("config.yaml"))
    names = set(study.models)
    for size in ["70m", "160m", "410m", "1b", "2.8b", "6.9b", "12b"]:
        assert f"pythia-{size}" in names
    steps = [256, 512, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 143000]
    assert [study.models[f"pythia-1.4b-step{s}"].revision for s in steps] == [f"step{s}" for s in steps]
    families = {m.family for m in study.models.values() if m.source == "hub"}
    # The paper's five families, and the checkpoint-rich suites beyond it.
    assert families == {"pythia", "llama", "llama2", "flan-t5", "opt"} | {"pythia-deduped", "olmo"}
    assert all(study.models[n].arch == "seq2seq" for n in names if n.startswith("flan-t5"))
    assert sum(n.startswith("opt-") for n in names) == 8
    # Figure 4 names the dynamics entry and gets all of its checkpoints, in step order.
    fig4 = study.figure("fig4")
    assert fig4.models == tuple(f"pythia-1.4b-step{s}" for s in steps)
    assert {f.name for f in study.figures} == {f"fig{i}" for i in (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)} | {
        "subjects",
        "kshot",
        "fig3-deduped",
        "fig4-deduped",
        "fig4-seeds",
        "fig4-olmo",
    }
    # Each hub checkpoint is downloaded once, however many entries name it.
    assert len(study.hub_models()) == len({(m.hub, m.revision) for m in study.models.values() if m.hub})


def test_mini_config_models_and_checkpoints():
    study = Study(_load("config/mini.yaml"))
    assert study.mini_save_steps() == checkpoint_steps(study.pretrain_steps)
    assert set(study.mini_entries()) == {"mini-xs", "mini-s", "mini-m", "mini-l"}
    assert study.models["mini-l"].step == study.pretrain_steps
    assert all(m.source == "mini" for m in study.models.values() if m.run is None)
    assert str(study.model_dir("mini-m-step16")).endswith("models/mini/mini-m/step16")


def test_checkpoint_steps_are_powers_of_two_plus_last():
    assert checkpoint_steps(100) == [1, 2, 4, 8, 16, 32, 64, 100]
    assert checkpoint_steps(64) == [1, 2, 4, 8, 16, 32, 64]


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda c: c["models"].append(dict(c["models"][0])), "defined twice"),
        (lambda c: c["models"][0].update(path="/x"), "exactly one source"),
        (lambda c: c["models"][0].update(arch="rnn"), "arch"),
        (lambda c: c["figures"][1]["models"].append("nope"), r"figures\[1\] \(fig3\)\.models"),
        (lambda c: c["figures"][0]["models"].append("pythia-160m"), "exactly one model"),
        (lambda c: c["figures"][2].update(models=["pythia-70m"]), "no training step"),
        (lambda c: c["models"][7].update(revision="main"), r"models\[7\] \(pythia-1.4b\)\.revision"),
        (lambda c: c["tasks"].append("squad"), "tasks"),
    ],
)
def test_config_errors_name_the_key(mutate, key):
    cfg = copy.deepcopy(_load("config.yaml"))
    mutate(cfg)
    with pytest.raises(ConfigError, match=key):
        Study(cfg)


def test_mini_step_not_saved_is_refused():
    cfg = copy.deepcopy(_load("config/mini.yaml"))
    cfg["models"][2]["steps"] = [24]
    with pytest.raises(ConfigError, match="step 24 is not saved"):
        Study(cfg)


def test_data_locations_by_source(tmp_path):
    cfg = copy.deepcopy(_load("config.yaml"))
    study = Study(cfg)
    assert study.raw_files("clm")["read"]["files"]["val"].endswith("raw/clm/val.jsonl.zst")
    assert study.raw_files("mmlu")["read"]["layout"] == "hub"
    assert study.download_spec("facts")["source"] == "url"
    cfg["data"]["mmlu"] = {"source": "local", "local": str(tmp_path)}
    study = Study(cfg)
    assert study.raw_files("mmlu") == {"inputs": [str(tmp_path)], "read": {"root": str(tmp_path), "layout": "auto"}}
    # A local folder is watched file by file: a CSV rewritten in place reruns the sample (fsio.input_files).
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "anatomy_test.csv").write_text("q,a,b,c,d,A\n")
    assert study.raw_files("mmlu")["inputs"] == [str(tmp_path), str(tmp_path / "test" / "anatomy_test.csv")]
    assert "mmlu" not in study.downloaded_tasks()
    cfg["data"]["clm"] = {"source": "local", "local": "/data/pile.jsonl"}
    with pytest.raises(ConfigError, match=r"data.clm.local"):
        Study(cfg).raw_files("clm")


def test_expand_models_keeps_config_order():
    models = expand_models([{"name": "b", "hub": "x/b"}, {"name": "a", "hub": "x/a", "steps": [2, 1]}])
    assert list(models) == ["b", "a-step2", "a-step1"]


def test_score_rows_follow_all_scores_and_figure_inputs():
    study = Study(_load("config/mini.yaml"))
    rows, files = study.score_rows(), study.all_scores()
    assert len(rows) == len(files)
    for row, path in zip(rows, files):
        assert path == study.score_file(row["task"], row["model"])
    fig7 = study.figure_params("fig7")
    assert set(fig7["scores"]) == {f"{m}|mmlu" for m in study.figure("fig7").models}
    assert fig7["labels"] == {m: study.models[m].size for m in study.figure("fig7").models}
    assert study.figure_labels(study.figure("fig3")) == {
        "mini-xs": "xs",
        "mini-s": "s",
        "mini-m-step512": "m",
        "mini-l": "l",
    }
    paper = Study(_load("config.yaml"))
    assert len(paper.download_targets()) == 3 + 3 + len(paper.hub_models()) + 1  # + instruction sets, embedder


def test_one_scoring_job_per_model_writes_every_task_and_asks_for_all_their_samples():
    from llmcal import resources as res

    study = Study(_load("config.yaml"))
    assert study.model_scores("llama-65b") == {t: study.score_file(t, "llama-65b") for t in ("clm", "facts", "mmlu")}
    assert study.data_files() == [study.data_file(t) for t in study.tasks]
    total = study.score_samples()
    assert total == sum(study.score_samples(t) for t in study.tasks) == 100_000 + 100_000 + 14_042
    whole = study.job_resources("score", model="llama-65b")
    clm = study.job_resources("score", model="llama-65b", task="clm")
    assert whole == res.job_resources("score", study.models["llama-65b"].params, samples=total)
    assert whole["runtime"] > clm["runtime"] and whole["mem_mb"] == clm["mem_mb"] and whole["gpu"] == clm["gpu"]


def test_the_aggregate_job_asks_for_time_by_its_samples_and_replicates():
    from llmcal import resources as res

    paper, mini = Study(_load("config.yaml")), Study(_load("config/mini.yaml"))
    # Every score file is read and resampled n_boot times: the paper's 462 files (154 models x 3 tasks, ~33M
    # samples with the checkpoint-rich suites) need hours.
    samples = sum(paper.score_samples(r["task"]) for r in paper.score_rows())
    assert len(paper.score_rows()) == 462 and samples > 30_000_000
    agg = paper.job_resources("aggregate")
    assert agg == res.job_resources("aggregate", 0.0, samples=samples, replicates=paper.metrics.n_boot)
    assert agg["gpu"] == 0 and agg["runtime"] > 60
    # The miniature's table is small: the 30-minute floor of any CPU job.
    assert mini.job_resources("aggregate")["runtime"] <= 31
    assert paper.job_resources("figure")["runtime"] == 30


# checkpoint-rich suites -------------------------------------------------------------------------------------


def test_seed_runs_expand_with_their_seed_and_the_model_they_replicate():
    entries = [
        {"name": "p-160m", "family": "p", "size": "160m", "hub": "E/p-160m", "revision": "step143000"},
        {"name": "p-160m-train", "family": "p", "size": "160m", "hub": "E/p-160m", "steps": [8, 64]},
        {
            "name": "p-160m-seed{seed}",
            "family": "p",
            "size": "160m",
            "hub": "E/p-160m-seed{seed}",
            "revision": "step143000",
            "seeds": [1, 2],
            "replicates": "p-160m",
        },
        {
            "name": "p-160m-seed{seed}-train",
            "family": "p",
            "size": "160m",
            "hub": "E/p-160m-seed{seed}",
            "steps": [8, 64],
            "seeds": [3],
            "replicates": "p-160m-train",
        },
    ]
    models = expand_models(entries)
    one = models["p-160m-seed2"]
    assert (one.hub, one.revision, one.seed, one.replica_of, one.entry) == (
        "E/p-160m-seed2",
        "step143000",
        2,
        "p-160m",
        "p-160m-seed2",
    )
    assert one.as_params()["seed"] == 2 and "seed" not in models["p-160m"].as_params()
    traj = models["p-160m-seed3-train-step64"]
    assert (traj.hub, traj.revision, traj.step, traj.replica_of) == (
        "E/p-160m-seed3",
        "step64",
        64,
        "p-160m-train-step64",
    )
    assert models["p-160m-train-step8"].replica_of is None


@pytest.mark.parametrize(
    "change, message",
    [
        ({"name": "p-seed"}, r"models\[1\] \(p-seed\)\.name: with seeds, the name must contain '\{seed\}'"),
        ({"hub": "E/p"}, r"\.hub: with seeds, the hub must contain '\{seed\}'"),
        ({"replicates": "p-999m"}, r"\.replicates: 'p-999m' is not a model of `models`"),
        ({"seeds": [1, 1]}, r"\.seeds: \[1, 1\] must be distinct seeds"),
    ],
)
def test_seed_entries_are_checked(change, message):
    base = {"name": "p", "family": "p", "size": "70m", "hub": "E/p"}
    seeds = {"name": "p-seed{seed}", "family": "p", "size": "70m", "hub": "E/p-seed{seed}", "seeds": [1]}
    seeds["replicates"] = "p"
    with pytest.raises(ConfigError, match=message):
        expand_models([base, {**seeds, **change}])


def test_replicates_needs_seeds_and_revisions_map_steps_to_published_names():
    with pytest.raises(ConfigError, match=r"\.replicates: only an entry with `seeds` replicates a model"):
        expand_models([{"name": "p", "family": "p", "size": "1b", "hub": "E/p", "replicates": "q"}])
    olmo = {"name": "o", "family": "o", "size": "1b", "hub": "a/O-hf", "revisions": {20000: "step20000-tokens84B"}}
    (spec,) = expand_models([olmo]).values()
    assert (spec.name, spec.step, spec.revision) == ("o-step20000", 20000, "step20000-tokens84B")
    with pytest.raises(ConfigError, match=r"\.revisions: give steps \(with a revision template\) or revisions"):
        expand_models([{**olmo, "steps": [1]}])
    with pytest.raises(ConfigError, match=r"\.revisions: a mapping of training step to hub revision name"):
        expand_models([{**olmo, "revisions": ["step1"]}])


def test_paper_suites_are_config_entries_and_fig3_draws_the_seed_range():
    study = Study(_load("config.yaml"))
    assert study.models["pythia-1.4b-deduped-step512"].hub == "EleutherAI/pythia-1.4b-deduped"
    assert study.models["olmo-1b-step738020"].revision == "step738020-tokens3094B"
    assert study.figure("fig4-olmo").models == ("olmo-1b-step1000", "olmo-1b-step10000", "olmo-1b-step738020")
    replicas = study.figure_replicas(study.figure("fig3"))
    assert sorted(replicas) == ["pythia-160m", "pythia-410m", "pythia-70m"]
    assert replicas["pythia-160m"] == [f"pythia-160m-seed{k}" for k in range(1, 10)]
    assert study.figure_params("fig3")["replicas"] == replicas
    assert "replicas" not in study.figure_params("fig8")  # LLaMA has no seed runs
    seeds = study.figure_replicas(study.figure("fig4-seeds"))
    assert seeds["pythia-160m-train-step2000"][0] == "pythia-160m-seed1-train-step2000"


def test_a_local_checkpoints_files_are_inputs_of_its_jobs(tmp_path):
    """Weights saved again into a `path:` model's folder rescore it; checkpoints the workflow writes or downloads
    are dated by their own rules, so they add none."""
    cfg = copy.deepcopy(_load("config/mini.yaml"))
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for name in ("config.json", "model.safetensors"):
        (ckpt / name).write_text("{}")
    cfg["models"].append({"name": "mine", "path": str(ckpt)})
    study = Study(cfg)
    assert study.model_files("mine") == [str(ckpt / "config.json"), str(ckpt / "model.safetensors")]
    assert study.model_files("mini-l") == []

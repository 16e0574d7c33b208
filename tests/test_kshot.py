"""The k-shot sweep: prompts rebuilt with exactly k shots, its scoring job, its table, figure and config checks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from llmcal import pipeline
from llmcal.data import sources
from llmcal.data.mmlu_prompt import assemble, format_example, header
from llmcal.kshot import KSHOT_COLUMNS
from llmcal.registry import ConfigError
from llmcal.study import Study
from llmcal.tasks.mmlu import mmlu_at_shots

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = "astronomy"
WORDS = "the river of Valdoria runs past the city of Kenro where salt and iron are traded".split()


def _row(i: int, n_words: int, answer: str) -> dict:
    text = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(n_words))
    return {"question": f"{text} ?", "A": "salt", "B": "iron", "C": "Kenro", "D": "Valdoria", "answer": answer}


def _sample(n_questions: int = 6, n_shots: int = 5) -> pd.DataFrame:
    def frame(rows):
        return pd.DataFrame(
            [{"id": f"{SUBJECT}-{i}", "subject": SUBJECT, **r} for i, r in enumerate(rows)],
            columns=sources.MMLU_COLUMNS,
        )

    dev = frame([_row(i, 6, "ABCD"[i % 4]) for i in range(5)])
    test = frame([_row(i + 3, 4 + i, "ABCD"[(i + 1) % 4]) for i in range(n_questions)])
    return sources.build_mmlu(dev, test, n_shots=n_shots).to_pandas()


@pytest.mark.parametrize("k", [0, 1, 3, 5])
def test_prompts_are_rebuilt_with_exactly_k_shots(k):
    df = _sample()
    at_k = mmlu_at_shots(df, k)
    assert list(at_k.columns) == list(df.columns) and list(at_k.id) == list(df.id)
    for before, after in zip(df.to_dict("records"), at_k.to_dict("records")):
        shots = json.loads(before["shots"])
        question = format_example(before, include_answer=False)
        # The header, the first k of the question's own shots in order, then the same question.
        assert after["prompt"] == assemble(SUBJECT, shots[:k], question)
        assert json.loads(after["shots"]) == shots[:k]
        assert after["prompt"].startswith(header(SUBJECT)) and after["prompt"].endswith(question)
        # Exactly k answered examples: every shot ends in "Answer: X\n\n", the open question in "Answer:".
        assert after["prompt"].count("\nAnswer: ") == k and after["prompt"].count("Answer:") == k + 1
    if k == 5:  # the sample's own k: its prompts, unchanged
        assert at_k.prompt.tolist() == df.prompt.tolist()
    assert df.prompt.tolist() == _sample().prompt.tolist()  # the sample itself is left as it was


def test_more_shots_than_the_sample_has_or_a_broken_sample_is_refused():
    df = _sample(n_shots=3)
    with pytest.raises(ValueError, match=r"it has 3 shots and the k-shot sweep asks for 5; raise data\.mmlu\.n_shots"):
        mmlu_at_shots(df, 5)
    with pytest.raises(ValueError, match="needs the sample's \\['shots'\\] column"):
        mmlu_at_shots(df.drop(columns=["shots"]), 1)
    broken = df.copy()
    broken.loc[2, "prompt"] = broken.loc[2, "prompt"].replace("Valdoria", "Kenro", 1)
    with pytest.raises(ValueError, match=f"mmlu sample {SUBJECT}-2: its prompt is not the header"):
        mmlu_at_shots(broken, 1)


def test_kshot_job_scores_each_k_as_the_mmlu_task_scores_its_own(tiny_models, tmp_path):
    path, arch = tiny_models["neox"]
    model = {"name": "neox", "arch": arch}
    data = tmp_path / "mmlu.parquet"
    _sample().to_parquet(data)
    cfg = {"max_length": 512}
    own = tmp_path / "own.parquet"
    pipeline.score_job(str(path), model, "mmlu", str(data), cfg, 0, str(own))
    outs = [tmp_path / f"k{k}.parquet" for k in (0, 1, 5)]
    pipeline.kshot_score_job(str(path), model, str(data), [0, 1, 5], [str(o) for o in outs], cfg, 0)
    frames = [pd.read_parquet(o) for o in outs]
    for k, frame in zip((0, 1, 5), frames):
        assert (frame.n_shots == k).all() and len(frame) == 6
    # At the sample's own k the sweep's file is the MMLU task's, byte for byte: one scorer, one prompt.
    assert outs[2].read_bytes() == own.read_bytes()
    # Fewer shots are other prompts: shorter contexts and other probabilities.
    assert (frames[0].n_context < frames[1].n_context).all() and (frames[1].n_context < frames[2].n_context).all()
    assert not frames[0].p_A.equals(frames[2].p_A)


def test_kshot_table_has_a_row_per_model_and_k_and_counts_shortened_prompts(tmp_path, caplog):
    rows, files = [], []
    for model in ("a", "b"):
        for k in (0, 3):
            n_shots = [k] * 9 + [max(0, k - 1)]  # the last prompt of each k > 0 lost a shot
            frame = pd.DataFrame(
                {"confidence": [0.3 + 0.05 * i for i in range(10)], "correct": [i % 2 == 0 for i in range(10)]}
            )
            frame["n_shots"] = pd.array(n_shots, dtype="Int64")
            files.append(str(tmp_path / f"{model}-{k}.parquet"))
            frame.to_parquet(files[-1])
            rows.append(
                {"model": model, "family": "f", "size": "s", "step": None, "run": None, "epoch": None, "shots": k}
            )
    out = tmp_path / "kshot.csv"
    pipeline.kshot_table_job(files, rows, {"n_bins": 10, "n_boot": 30}, 0, str(out))
    table = pd.read_csv(out)
    assert list(table.columns) == KSHOT_COLUMNS
    assert list(zip(table.model, table.shots)) == [("a", 0), ("a", 3), ("b", 0), ("b", 3)]
    assert table.shortened.tolist() == [0, 1, 0, 1] and (table.n == 10).all()
    assert table.accuracy.tolist() == [0.5] * 4
    logged = [r.getMessage() for r in caplog.records if "kept fewer shots" in r.getMessage()]
    assert len(logged) == 2 and "a at 3 shots: 1 of 10 prompts kept fewer shots" in logged[0]
    # A file of another k (more shots than its row says) is not read as that row.
    with pytest.raises(ValueError, match="more than 0 shots"):
        pipeline.kshot_table_job([files[1]], [rows[0]], {"n_boot": 10}, 0, str(out))
    # Nor one whose prompts carry no shot count: its k could not be told.
    unknown = pd.read_parquet(files[0])
    unknown["n_shots"] = pd.array([None] * 10, dtype="Int64")
    unknown.to_parquet(tmp_path / "unknown.parquet")
    with pytest.raises(ValueError, match="unknown.parquet: prompts without a shot count"):
        pipeline.kshot_table_job([str(tmp_path / "unknown.parquet")], [rows[0]], {"n_boot": 10}, 0, str(out))


def _mini():
    return yaml.safe_load((ROOT / "config" / "mini.yaml").read_text())


def test_mini_sweep_rescores_all_but_the_samples_own_k():
    study = Study(_mini())
    assert study.kshot.shots == (0, 1, 3, 5) and study.kshot_rescored() == [0, 1, 3]
    assert study.kshot_model_scores("mini-l") == {
        f"k{k}": str(study.results / "scores" / f"mmlu-{k}shot" / "mini-l.parquet") for k in (0, 1, 3)
    }
    rows = study.kshot_rows()
    assert [(r["model"], r["shots"]) for r in rows[:4]] == [("mini-xs", k) for k in (0, 1, 3, 5)]
    files = study.kshot_files()
    assert files[3] == study.score_file("mmlu", "mini-xs")  # k = 5: the MMLU score file itself
    assert study.kshot_file() in study.all_targets()
    assert study.figure_inputs("kshot") == {"kshot": study.kshot_file()}
    assert study.figure("kshot").models == study.kshot_models and "mini-l-dpo-e3" in study.kshot_models
    # Each model's sweep job asks for time for its three extra MMLU passes.
    one = study.job_resources("score", model="mini-l", task="mmlu")
    assert study.job_resources("score_kshot", model="mini-l")["runtime"] >= one["runtime"]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["kshot"].update(shots=[0, 7]), r"kshot\.shots: \[7\] exceed data\.mmlu\.n_shots 5"),
        (lambda c: c["kshot"].update(shots=[1, 1]), r"kshot\.shots: .*lists a number twice"),
        (lambda c: c["kshot"].update(shots=[-1]), r"kshot\.shots: numbers of shots must be >= 0"),
        (lambda c: c["kshot"].update(models=["mini-xxl"]), r"kshot\.models: 'mini-xxl' is neither a model"),
        (lambda c: c["kshot"].update(model=["mini-l"]), r"kshot\.model`: unknown key; did you mean `models`"),
        (
            lambda c: (
                c.update(
                    tasks=["clm", "facts"],
                    figures=[f for f in c["figures"] if f["kind"] not in ("per_subject", "kshot")],
                )
                or c["figures"].remove(next(f for f in c["figures"] if f.get("task") == "mmlu"))
            ),
            r"kshot: the k-shot sweep rescores MMLU, and `tasks` has no mmlu",
        ),
        (lambda c: c.pop("kshot"), r"a kshot figure needs the config's `kshot` section"),
        (
            lambda c: c["figures"].append({"name": "k2", "kind": "kshot", "models": ["mini-m-step16"]}),
            r"figures\[\d+\] \(k2\)\.models: \['mini-m-step16'\] are not in kshot\.models",
        ),
    ],
)
def test_kshot_config_errors_name_the_key(mutate, message):
    cfg = copy.deepcopy(_mini())
    mutate(cfg)
    with pytest.raises(ConfigError, match=message):
        Study(cfg)


def test_kshot_figure_is_drawn_from_the_table(tmp_path):
    rows = []
    for model in ("mini-xs", "mini-l"):
        for k in (0, 1, 3, 5):
            rows.append(
                {
                    "model": model,
                    "shots": k,
                    "accuracy": 0.25 + 0.02 * k,
                    "accuracy_lo": 0.2,
                    "accuracy_hi": 0.4,
                    "ece": 0.1 - 0.01 * k,
                    "ece_lo": 0.0,
                    "ece_hi": 0.2,
                }
            )
    table = tmp_path / "kshot.csv"
    pd.DataFrame(rows).to_csv(table, index=False)
    out = tmp_path / "kshot.pdf"
    figure = {"name": "kshot", "kind": "kshot", "models": ["mini-xs", "mini-l"], "title": None}
    pipeline.figure_job(figure, {"kshot": str(table)}, {}, {}, 10, str(out))
    assert out.read_bytes().startswith(b"%PDF")
    from llmcal import figures

    fig = figures.figure_kshot(pd.DataFrame(rows), ["mini-xs", "mini-l"], tmp_path / "again.pdf")
    ece_axis = fig.axes[0]
    assert [c.get_label() for c in ece_axis.containers] == ["mini-xs", "mini-l"]
    line = ece_axis.containers[1].lines[0]  # the data line of mini-l's error bars
    assert list(line.get_xdata()) == [0, 1, 3, 5]
    assert list(line.get_ydata()) == pytest.approx([0.1, 0.09, 0.07, 0.05])
    with pytest.raises(ValueError, match="no rows for \\['mini-m'\\]"):
        figures.figure_kshot(pd.DataFrame(rows), ["mini-m"], tmp_path / "x.pdf")

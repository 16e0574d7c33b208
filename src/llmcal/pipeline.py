"""One function per workflow job. scripts/*.py only unpack `snakemake` and call these.

Each job writes its outputs whole or not at all, so an interrupted job never
leaves a file that looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from llmcal.fsio import atomic_dir, atomic_text, atomic_write, open_parquet, read_parquet, read_table_csv
from llmcal.joblog import finish, setup_logging  # noqa: F401  (the scripts call pipeline.setup_logging and .finish)

log = logging.getLogger("llmcal")


# data ---------------------------------------------------------------------------------------------------------


def world_job(world_cfg: dict, out_dir: str) -> dict:
    from llmcal.data.miniworld import WorldConfig, generate_world

    summary = generate_world(Path(out_dir), WorldConfig.from_dict(world_cfg))
    log.info("mini world: %s", json.dumps(summary, default=str))
    return summary


def download_data_job(spec: dict, out_dir: str) -> None:
    from llmcal.data.download import download_dataset

    paths = download_dataset(spec, out_dir)
    log.info("downloaded %d file(s) into %s", len(paths), out_dir)


def sample_job(task: str, read: dict, data_cfg: dict, seed: int, out: str, task_modules: Sequence[str] = ()) -> None:
    """One task's sample; fewer rows than data.<task>.n is an error unless data.<task>.allow_fewer is true.

    The task (llmcal.tasks, after importing the config's `task_modules`) chooses the reader. The sample's
    metadata (llmcal.data.sources.sample_info) holds requested, eligible and n (rows kept).
    """
    from llmcal import tasks
    from llmcal.data import sources

    tasks.load_modules(task_modules)
    table = tasks.get(task).sample(
        read, data_cfg, seed, allow_fewer=bool(data_cfg.get("allow_fewer", False)), key=f"data.{task}.allow_fewer"
    )
    if table.num_rows == 0:
        raise sources.SampleError(f"{task}: the sample is empty; nothing to write to {out}")
    sources.write_table(table, out)
    info = sources.sample_info(table)
    log.info(
        "%s: %d samples (requested %s, eligible %s) -> %s",
        task,
        table.num_rows,
        info.get("requested"),
        info.get("eligible"),
        out,
    )


# models -------------------------------------------------------------------------------------------------------


def tokenizer_job(world_dir: str, vocab_size: int, out_dir: str) -> None:
    from llmcal.models.pretrain import train_tokenizer

    train_tokenizer(Path(world_dir) / "corpus" / "train.jsonl", vocab_size, out_dir)


def pretrain_job(
    tokenizer_dir: str, world_dir: str, arch: dict, train_cfg: dict, save_steps: list[int], out_dirs: list[str]
) -> None:
    from llmcal.models.pretrain import PretrainConfig, pretrain

    pretrain(
        tokenizer_dir,
        Path(world_dir) / "corpus" / "train.jsonl",
        arch,
        PretrainConfig.from_dict(train_cfg),
        save_steps,
        out_dirs,
        log=log.info,
    )


def download_model_job(repo: str, revision: str | None, out_dir: str) -> None:
    from llmcal.models.download import download_model

    download_model(repo, revision, out_dir)


# scoring ------------------------------------------------------------------------------------------------------


def score_job(
    model_dir: str,
    model: dict,
    task: str,
    data: str,
    scoring_cfg: dict,
    seed: int,
    out: str,
    threads: int = 1,
    task_modules: Sequence[str] = (),
) -> None:
    """One task's scores: score_model_job with that task alone."""
    score_model_job(
        model_dir, model, {task: (data, out)}, scoring_cfg, seed, threads=threads, task_modules=task_modules
    )


def score_model_job(
    model_dir: str,
    model: dict,
    files: Mapping[str, tuple[str, str]],
    scoring_cfg: dict,
    seed: int,
    threads: int = 1,
    task_modules: Sequence[str] = (),
) -> None:
    """Every task's scores with one model load: files maps each task to (its sample, its score file).

    The tasks are scored in turn, each score file written whole as soon as its task is done, so a job that fails
    on a later task leaves the finished files (Snakemake reruns the whole job all the same).
    """
    if not files:
        raise ValueError(f"{model['name']}: no task to score")
    items = [(task, data, out, None) for task, (data, out) in files.items()]
    _score_items(model_dir, model, items, scoring_cfg, seed, threads, task_modules)


def kshot_score_job(
    model_dir: str,
    model: dict,
    data: str,
    shots: Sequence[int],
    outs: Sequence[str],
    scoring_cfg: dict,
    seed: int,
    threads: int = 1,
) -> None:
    """The k-shot sweep's MMLU scores of one model, one file per k, with one model load.

    Each k's prompts are the sample's rebuilt from its first k shots (llmcal.tasks.mmlu.mmlu_at_shots) and
    scored exactly as the MMLU task scores its own.
    """
    if not shots:
        raise ValueError(f"{model['name']}: no k-shot prompts to score")
    items = [("mmlu", data, out, int(k)) for k, out in zip(shots, outs, strict=True)]
    _score_items(model_dir, model, items, scoring_cfg, seed, threads, ())


def _score_items(model_dir, model, items, scoring_cfg, seed, threads, task_modules) -> None:
    """Score (task, sample, out, shots) items with one load of the model; shots rebuilds MMLU prompts at k."""
    import torch

    from llmcal import tasks
    from llmcal.models.load import check_max_length, check_model_dir, load_model
    from llmcal.scoring.config import ScoringConfig
    from llmcal.tasks import score_task
    from llmcal.tasks.mmlu import mmlu_at_shots

    tasks.load_modules(task_modules)
    summaries = {task: tasks.get(task).log_summary for task, *_ in items}
    cfg = ScoringConfig.from_dict(scoring_cfg)
    # Everything that can fail without the weights fails before they are loaded, for every task.
    for _, _, out, _ in items:
        _check_writable(out)
    check_max_length(model_dir, cfg.max_length)
    check_model_dir(model_dir)
    for _, data, _, _ in items:  # from the file's footer: each sample is read only when its task's turn comes
        if open_parquet(data).metadata.num_rows == 0:
            raise ValueError(f"{data}: no samples to score")
    torch.set_num_threads(threads)
    lm = load_model(model_dir, model["arch"], dtype=cfg.dtype)
    scored_with = scoring_provenance(lm, cfg)
    # scoring.dtype auto is bfloat16 on a GPU that has it and float32 elsewhere: the log and every score file say
    # which ran, so scores from a CPU node and a GPU node are never mistaken for each other.
    log.info("%s: scoring on %s in %s (scoring.dtype %s)", model["name"], lm.device, scored_with["dtype"], cfg.dtype)
    instruct = model.get("prompt") == "instruct"
    for task, data, out, shots in items:
        df = read_parquet(data)
        if shots is not None:
            df = mmlu_at_shots(df, shots)
        result = score_task(lm, task, df, cfg, seed, instruct=instruct)
        write_scores(result, out, scored_with)
        log.info(
            "%s on %s%s: n=%d accuracy=%.4f mean confidence=%.4f%s",
            model["name"],
            task,
            "" if shots is None else f" at {shots} shots",
            len(result),
            result["correct"].mean(),
            result["confidence"].mean(),
            summaries[task](result),
        )


SCORED_WITH = b"llmcal.scored_with"


def scoring_provenance(lm, cfg) -> dict:
    """What a score file's numbers depend on beyond its inputs: device, dtype, torch and transformers versions."""
    import torch
    import transformers

    dtype = str(lm.dtype).removeprefix("torch.")
    return {
        "device": str(lm.device).split(":")[0],
        "dtype": dtype,
        "scoring_dtype": cfg.dtype,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


def write_scores(result: pd.DataFrame, out: str, scored_with: Mapping) -> None:
    """A score file, whole or not at all, with `scored_with` (scoring_provenance) in its parquet metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(result, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), SCORED_WITH: json.dumps(dict(scored_with), sort_keys=True).encode()}
    table = table.replace_schema_metadata(metadata)
    atomic_write(out, lambda tmp: pq.write_table(table, tmp))


def scored_with(path: str | Path) -> dict:
    """The provenance a score job wrote into a score file ({} for files written before it was kept)."""
    raw = (open_parquet(path).schema_arrow.metadata or {}).get(SCORED_WITH)
    return json.loads(raw) if raw else {}


def _check_writable(out: str) -> None:
    """A job that cannot write its output fails before its work, not after."""
    parent = Path(out).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PermissionError(
            f"{out}: cannot create its folder {parent} ({e.strerror}); "
            f"make the results folder writable or set `results:` elsewhere"
        ) from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{out}: its folder {parent} is not writable; make the results folder writable or set `results:` elsewhere"
        )


def aggregate_job(
    score_files: list[str],
    rows: list[dict],
    metrics_cfg: dict,
    seed: int,
    out: str,
    per_subject_out: str | None = None,
) -> pd.DataFrame:
    """The metrics table: one row per (model, task); rows[i] names the model and task of score_files[i].

    per_subject_out: also the MMLU table per (model, subject) (llmcal.metrics.per_group), from the subject
    column of each MMLU score file; written with its header alone when the run has no MMLU.
    """
    from llmcal.calibration import candidate_calibration_error
    from llmcal.data.mmlu_prompt import LETTERS
    from llmcal.metrics import PER_SUBJECT_COLUMNS, per_group, summarize

    n_bins, n_boot = metrics_cfg.get("n_bins", 10), metrics_cfg.get("n_boot", 1000)
    records, subjects = [], []
    for path, meta in zip(score_files, rows, strict=True):
        mmlu = per_subject_out is not None and meta["task"] == "mmlu"
        available = open_parquet(path).schema_arrow.names
        # The candidates of the candidate ECE: an MMLU file's four options, a next-token file's top tokens.
        options = [f"p_{letter}" for letter in LETTERS]
        if set(options) <= set(available) and "target" in available:
            candidates = options + ["target"]
        elif {"topk_p", "topk_hit"} <= set(available):
            candidates = ["topk_p", "topk_hit"]
        else:
            candidates = []
            log.warning("%s: no candidate probabilities (an older llmcal wrote it): ece_candidates left empty", path)
        columns = ["confidence", "correct"] + candidates
        if mmlu:
            if "subject" not in available:
                raise ValueError(
                    f"{path}: an MMLU score file without a `subject` column (written by an older llmcal); "
                    "delete it, or rerun with --forcerun score, so it is rescored"
                )
            columns.append("subject")
        df = read_parquet(path, columns=columns)
        stats = summarize(
            df["confidence"].to_numpy(), df["correct"].to_numpy(), n_bins=n_bins, n_boot=n_boot, seed=seed
        )
        stats["ece_candidates"] = float("nan")  # absent for a score file without candidates (logged above)
        if candidates:
            try:
                stats["ece_candidates"] = candidate_calibration_error(*_candidates(df, options), n_bins)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
        records.append({**meta, **stats})
        if mmlu:
            try:
                groups = per_group(df["confidence"], df["correct"], df["subject"], n_bins, n_boot, seed)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
            subjects += [{"model": meta["model"], **g} for g in groups]
    table = pd.DataFrame.from_records(records)
    atomic_write(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    if per_subject_out is not None:
        per_subject = pd.DataFrame.from_records(subjects, columns=PER_SUBJECT_COLUMNS)
        atomic_write(per_subject_out, lambda tmp: per_subject.to_csv(tmp, index=False, float_format="%.6f"))
    return table


def kshot_table_job(score_files: list[str], rows: list[dict], metrics_cfg: dict, seed: int, out: str) -> pd.DataFrame:
    """kshot.csv: accuracy and ECE with intervals per (model, k) of the k-shot sweep (llmcal.kshot)."""
    from llmcal.kshot import kshot_table

    table = kshot_table(score_files, rows, metrics_cfg, seed, log=log.warning)
    atomic_write(out, lambda tmp: table.to_csv(tmp, index=False, float_format="%.6f"))
    return table


def _candidates(df: pd.DataFrame, options: list[str]):
    """(probs, hits) of a score file's candidates: MMLU's options against its target letter, or the top tokens."""
    import numpy as np

    if "topk_p" in df.columns:
        return np.stack(df["topk_p"].to_numpy()), np.stack(df["topk_hit"].to_numpy()).astype(bool)
    letters = [o.removeprefix("p_") for o in options]
    unknown = sorted(set(df["target"]) - set(letters))
    if unknown:
        raise ValueError(f"targets outside {letters}, e.g. {unknown[0]!r}")
    return df[options].to_numpy(), df["target"].to_numpy()[:, None] == np.array(letters)[None, :]


# figures ------------------------------------------------------------------------------------------------------


def figure_job(figure: dict, inputs: dict, params: dict, task_labels: dict, n_bins: int, out: str) -> None:
    """One figure, drawn by its kind (llmcal.figure_kinds): inputs are the rule's named inputs, params
    what Study.figure_params gave for it."""
    from llmcal.figure_kinds import FigureJob, kind_of

    kind = kind_of(figure["kind"], f"figure {figure['name']}: kind")
    kind.draw(FigureJob(figure, inputs, params, task_labels, n_bins, out))


# alignment ----------------------------------------------------------------------------------------------------


def mini_instructions_job(world_dir: str, seed: int, sizes: dict, out_dir: str) -> dict:
    from llmcal.data.miniworld_instructions import generate_instruction_data

    with atomic_dir(out_dir) as tmp:
        summary = generate_instruction_data(Path(world_dir), seed, out_dir=Path(tmp), **sizes)
    log.info("mini instruction data: %s", json.dumps(summary, default=str))
    return summary


def instruction_data_job(
    raw: dict, n: int | None, n_prompts: int | None, seed: int, outputs: dict, allow_fewer: bool = False
) -> None:
    """The tuning sets (equal size, seeded), the reward pairs and the PPO prompts as canonical tables."""
    from llmcal.data import instructions as ins
    from llmcal.data.sources import write_table

    alpaca, oasst = ins.build_instruction_sets(
        ins.read_alpaca(raw["alpaca"]),
        ins.oasst_single_turn(ins.read_oasst(raw["oasst"])),
        n=n,
        seed=seed,
        allow_fewer=allow_fewer,
    )
    comparison = ins.build_comparison(ins.read_comparison(raw["comparison"]), seed)
    tables = {
        "alpaca": alpaca,
        "oasst": oasst,
        "comparison": comparison,
        "ppo_prompts": ins.ppo_prompts(alpaca, n_prompts, seed, allow_fewer),
    }
    for name, table in tables.items():
        write_table(table, outputs[name])
        log.info("%s: %d rows -> %s", name, table.num_rows, outputs[name])


def set_threads(threads: int) -> None:
    """Training uses the cores Snakemake gave the job, not every core of a shared node."""
    import torch

    torch.set_num_threads(max(1, int(threads)))


def _staged_epochs(state_dir: str, n: int) -> list[str]:
    """Where a trainer writes its epochs: inside the state directory, which outlives a failed job.

    The trainer ties the state directory to its run (settings and the contents of its inputs) and moves the
    state of any other run aside, staged epochs included, so only epochs of this run are ever published.
    """
    return [str(Path(state_dir) / "epochs" / f"epoch{k}") for k in range(1, n + 1)]


def _epochs_job(stage: str, inputs: dict, run: dict, key: str, launch: dict, state_dir: str, epoch_dirs: list[str]):
    """Train a run whose epochs are models (SFT, PPO, DPO): stage its epochs in the state directory, then publish.

    A Trainer-based stage (SFT, DPO) leaves a checkpoint under state_dir/trainer; with every epoch staged it
    (weights and optimizer moments: several times the model's size) is no longer needed to resume.
    """
    from llmcal.training import check_writable
    from llmcal.training.launch import publish, run_stage

    check_writable([state_dir, *epoch_dirs], f"{stage} outputs")
    staged = _staged_epochs(state_dir, len(epoch_dirs))
    args = {**inputs, "settings": run["settings"], "epoch_dirs": staged, "state_dir": state_dir, "key": key}
    summary = run_stage(stage, args, launch, state_dir)
    for src, dest in zip(staged, epoch_dirs, strict=True):
        publish(src, dest)
    shutil.rmtree(Path(state_dir) / "trainer", ignore_errors=True)
    log.info("%s %s: %s", stage, run["name"], json.dumps(summary, default=str))
    return summary


def sft_job(run: dict, base_dir: str, data: str, launch: dict, state_dir: str, epoch_dirs: list[str]) -> dict:
    key = f"alignment.instruction_tuning.{run['method']}"
    inputs = {"base_dir": base_dir, "data": data}
    return _epochs_job("sft", inputs, run, key, launch, state_dir, epoch_dirs)


def reward_job(settings: dict, base_dir: str, pairs: str, launch: dict, out_dir: str, metrics: str) -> dict:
    from llmcal.training import check_writable
    from llmcal.training.launch import run_stage

    check_writable([out_dir, metrics], "reward model outputs")
    args = {
        "base_dir": base_dir,
        "pairs": pairs,
        "settings": settings,
        "out_dir": out_dir,
        "metrics": metrics,
        "key": "alignment.reward",
    }
    return run_stage("reward", args, launch, Path(out_dir).parent / ".reward-launch")


def ppo_job(
    run: dict, policy_dir: str, reward_dir: str, prompts: str, launch: dict, state_dir: str, epoch_dirs: list[str]
) -> dict:
    inputs = {"policy_dir": policy_dir, "reward_dir": reward_dir, "prompts": prompts}
    return _epochs_job("ppo", inputs, run, "alignment.rlhf.ppo", launch, state_dir, epoch_dirs)


def dpo_job(run: dict, policy_dir: str, pairs: str, launch: dict, state_dir: str, epoch_dirs: list[str]) -> dict:
    """DPO (beyond the paper) from PPO's starting checkpoint on the reward model's training pairs."""
    inputs = {"policy_dir": policy_dir, "pairs": pairs}
    return _epochs_job("dpo", inputs, run, "alignment.rlhf.dpo", launch, state_dir, epoch_dirs)


def diversity_job(tables: dict, embedder: dict, cfg: dict, seed: int, out_json: str, out_points: str) -> dict:
    """Figure 6's data: each set's responses embedded, their diversity, and a joint t-SNE projection."""
    from llmcal import diversity

    model_dir = diversity.embedder_dir(embedder)
    embeddings, stats = {}, {}
    for name, path in tables.items():
        texts = diversity.sample_responses(read_parquet(path), cfg.get("n"), seed)
        embeddings[name] = diversity.embed_texts(model_dir, texts)
        stats[name] = diversity.diversity_stats(embeddings[name], int(cfg.get("n_boot", 200)), seed)
        log.info("%s: diversity %s", name, json.dumps(stats[name]))
    points = diversity.tsne_2d(embeddings, seed, float(cfg.get("perplexity", 30.0)))
    frame = pd.concat(
        [pd.DataFrame({"set": name, "x": p[:, 0], "y": p[:, 1]}) for name, p in points.items()], ignore_index=True
    )
    report = {"embedder": {**embedder, "dir": str(model_dir)}, "sets": stats}
    atomic_write(out_points, lambda tmp: frame.to_parquet(tmp, index=False))
    atomic_text(out_json, json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


# findings -----------------------------------------------------------------------------------------------------


def findings_job(
    config: dict,
    metrics_file: str,
    figure_files: dict,
    n_boot: int,
    seed: int,
    out_md: str,
    out_html: str,
    out_selective: str,
    alignment_files: list | None = None,
) -> list:
    """The findings report: each claim of the paper tested on this run's numbers (see llmcal.findings)."""
    from llmcal import findings, report, selective
    from llmcal.figures import figure_selective

    metrics = read_table_csv(metrics_file)
    load = findings.score_loader(config)
    results = findings.evaluate_findings(config, metrics, load, n_boot=n_boot, seed=seed)
    n_bins = int(config.get("metrics", {}).get("n_bins", 10))
    extras = selective.calibration_extras(metrics, load, seed=seed, n_bins=n_bins)
    text = report.render_markdown(results, extras, metrics)
    html_dir = Path(out_html).parent
    out_selective = Path(out_selective)
    models = list(dict.fromkeys(metrics["model"]))
    light = findings.score_loader(config, columns=["confidence", "correct"])
    curves = {}
    for model, task in metrics[["model", "task"]].itertuples(index=False, name=None):
        df = light(model, task)
        curves[(model, task)] = selective.selective_curve(df["confidence"].to_numpy(), df["correct"].to_numpy())
    figure_selective(curves, models, out_selective, task_labels=config.get("task_labels"))
    text += report.selective_section(out_selective.name)
    if alignment_files:
        text += report.alignment_summary(*alignment_files)
    atomic_text(out_md, text)
    figs = [(name, os.path.relpath(path, html_dir)) for name, path in figure_files.items()]
    figs.append(("selective prediction", os.path.relpath(out_selective, html_dir)))
    atomic_text(out_html, report.render_html(text, figs))
    for f in results:
        log.info("%s: %s (%s)", f.id, f.verdict, f.reason)
    return results

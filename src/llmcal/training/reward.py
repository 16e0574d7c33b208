"""Reward modelling (section 6.1): a LoRA-tuned sequence classifier on the base model, with TRL's RewardTrainer.

PPO's reward and value models must be plain AutoModelForSequenceClassification models with one label, so
the adapter is merged and the result saved as such. A seeded share of the comparison pairs is held out of
training to measure how often the saved model ranks the chosen response above the rejected one.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from llmcal.training import (
    add_pad_token,
    check_enough,
    check_writable,
    identity_hash,
    is_main_process,
    load_tokenizer,
    log_callback,
    lora_config,
    lora_dtype,
    read_table,
    run_identity,
    save_model,
    trainer_args,
    wait_for_everyone,
    world_size,
    write_json,
)
from llmcal.training.settings import RewardSettings


def train_reward(base_dir, pairs_path, settings: RewardSettings, out_dir, metrics_path, log=print) -> dict:
    """Train a reward model on pairs_path; save it (merged) to out_dir and its held-out accuracy to metrics_path."""
    out_dir = Path(out_dir)
    pairs = read_table(pairs_path, ("id", "prompt", "chosen", "rejected"), "the comparison pairs")
    train, heldout = split_heldout(pairs, settings.heldout_fraction, settings.seed)
    accumulation = settings.gradient_accumulation(world_size())
    key = f"{settings.config_key}.batch_size"
    check_enough(len(train), settings.batch_size, "training pairs", key)
    work_dir = out_dir.parent / f".{out_dir.name}.trainer"
    check_writable([out_dir, Path(metrics_path), work_dir], "reward model and its metrics")
    # Always trained from scratch (nothing is resumed): a trainer directory left by a killed run is dropped.
    identity = run_identity("reward", settings, {"base": base_dir, "pairs": pairs_path})
    run = identity_hash(identity)
    if is_main_process() and work_dir.exists():
        shutil.rmtree(work_dir)
        log(f"reward: removed {work_dir} left by an earlier, unfinished run")
    wait_for_everyone()

    tokenizer = load_tokenizer(base_dir)
    trainer = _build_trainer(base_dir, tokenizer, train, settings, accumulation, work_dir, log)
    n_train = len(trainer.train_dataset)
    if n_train < len(train):
        log(f"reward: {len(train) - n_train} training pairs longer than max_length {settings.max_length} left out")
    check_enough(n_train, settings.batch_size, f"training pairs within max_length {settings.max_length}", key)
    log(
        f"reward: {n_train} training pairs, {len(heldout)} held out, {settings.epochs} epochs, batch "
        f"{settings.batch_size} = {settings.per_device_batch_size} x {world_size()} processes x {accumulation}"
    )
    trainer.train()

    metrics = {"train_pairs": n_train}
    if is_main_process():
        model = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        metrics.update(heldout_accuracy(model, tokenizer, heldout, settings))
        save_model(
            model,
            tokenizer,
            out_dir,
            {"stage": "reward", "settings": settings.to_dict(), **metrics, "run": run, "identity": identity},
        )
        write_json(metrics_path, metrics)
        shutil.rmtree(trainer.args.output_dir, ignore_errors=True)
        log(f"reward: saved to {out_dir}; held-out pairwise accuracy {metrics['pairwise_accuracy']}")
    wait_for_everyone()
    return metrics


def split_heldout(pairs, fraction: float, seed: int):
    """A seeded split; any positive fraction holds out at least one pair, so accuracy is always measured."""
    n_heldout = int(round(len(pairs) * fraction))
    if fraction > 0 and len(pairs) > 1:
        n_heldout = max(1, n_heldout)
    order = np.random.default_rng(seed).permutation(len(pairs))
    heldout = pairs.iloc[np.sort(order[:n_heldout])].reset_index(drop=True)
    return pairs.iloc[np.sort(order[n_heldout:])].reset_index(drop=True), heldout


def _build_trainer(base_dir, tokenizer, train, settings: RewardSettings, accumulation: int, output_dir: Path, log):
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification
    from transformers.trainer_callback import PrinterCallback
    from trl import RewardConfig, RewardTrainer

    # The score head is new and randomly initialised: seed before loading.
    transformers.set_seed(settings.seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(base_dir), num_labels=1, dtype=lora_dtype(), local_files_only=True
    )
    add_pad_token(tokenizer, model)
    args = RewardConfig(
        **trainer_args(settings, accumulation, output_dir),
        # TRL switches dropout off for reward models; the paper's LoRA dropout of 0.1 should act.
        disable_dropout=False,
        save_strategy="no",
    )
    dataset = Dataset.from_dict({k: list(train[k]) for k in ("prompt", "chosen", "rejected")})
    # task_type SEQ_CLS makes PEFT train the new score head in full alongside the adapters.
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(settings, "SEQ_CLS"),
        callbacks=[log_callback(log)],
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def reward_scores(model, tokenizer, texts: list[str], batch_size: int) -> np.ndarray:
    """The scalar reward of each text, read at its last token as PPO reads it."""
    import torch

    scores = []
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tokenizer(texts[i : i + batch_size], return_tensors="pt", padding=True).to(device)
            scores.append(model(**enc).logits[:, 0].float().cpu().numpy())
    return np.concatenate(scores) if scores else np.zeros(0)


def heldout_accuracy(model, tokenizer, heldout, settings: RewardSettings) -> dict:
    """Share of held-out pairs with reward(chosen) > reward(rejected); ties count as errors.

    Texts are built as TRL builds them for training (prompt + response + EOS), and pairs that training would
    have dropped for length are dropped here too.
    """
    eos = tokenizer.eos_token
    chosen = [p + c + eos for p, c in zip(heldout["prompt"], heldout["chosen"])]
    rejected = [p + r + eos for p, r in zip(heldout["prompt"], heldout["rejected"])]
    fits = [
        max(len(tokenizer(c)["input_ids"]), len(tokenizer(r)["input_ids"])) <= settings.max_length
        for c, r in zip(chosen, rejected)
    ]
    chosen = [t for t, ok in zip(chosen, fits) if ok]
    rejected = [t for t, ok in zip(rejected, fits) if ok]
    tokenizer.padding_side = "right"
    better = reward_scores(model, tokenizer, chosen, settings.per_device_batch_size) > reward_scores(
        model, tokenizer, rejected, settings.per_device_batch_size
    )
    return {"heldout_pairs": len(chosen), "pairwise_accuracy": float(better.mean()) if len(chosen) else None}

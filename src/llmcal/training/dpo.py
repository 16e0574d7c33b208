"""Direct preference optimisation (beyond the paper): TRL's DPOTrainer on the instruction-tuned model, with LoRA.

DPO learns from the comparison pairs the reward model is trained on (the same seeded split: the held-out pairs
stay out of training and measure each epoch's preference accuracy), starting from the checkpoint PPO starts
from. The reference policy is that checkpoint itself: with a PEFT model TRL computes the reference
log-probabilities with the adapter switched off, so no second copy of the model is held.

Like instruction tuning, each epoch ends with a Trainer checkpoint in the state directory, from which the
merged causal LM is exported to the epoch's directory; an interrupted run resumes from the newest complete
checkpoint, and a run whose settings or inputs changed is never resumed (llmcal.training.claim_state_dir).

Pairs longer than max_length (prompt plus the longer response plus EOS) are left out, counted in the log and
the summary, as the reward model leaves them out; TRL would otherwise truncate them without a word.
"""

from __future__ import annotations

from pathlib import Path

from llmcal.training import (
    base_with_pad,
    check_enough,
    check_epoch_dirs,
    check_writable,
    claim_state_dir,
    drop_foreign_outputs,
    is_complete_for,
    is_main_process,
    load_tokenizer,
    log_callback,
    lora_config,
    lora_dtype,
    read_table,
    run_identity,
    trainer_args,
    wait_for_everyone,
    world_size,
)
from llmcal.training.reward import split_heldout
from llmcal.training.settings import DPOSettings
from llmcal.training.sft import _check_all_saved, _ExportEachEpoch, _Exporter, _last_checkpoint, _loss_per_epoch

_TRAIN_METRICS = ("loss", "rewards/accuracies", "rewards/margins")


def train_dpo(policy_dir, pairs_path, settings: DPOSettings, epoch_dirs, state_dir, log=print) -> dict:
    """DPO from policy_dir on the training split of pairs_path; epoch i's merged model goes to epoch_dirs[i].

    Returns, per epoch, the mean training loss, preference accuracy and reward margin, and the held-out
    preference accuracy (None when nothing is held out).
    """
    epoch_dirs = check_epoch_dirs(epoch_dirs, settings.epochs, settings.config_key)
    state_dir = Path(state_dir)
    pairs = read_table(pairs_path, ("id", "prompt", "chosen", "rejected"), "the comparison pairs")
    train, heldout = split_heldout(pairs, settings.heldout_fraction, settings.split_seed)
    accumulation = settings.gradient_accumulation(world_size())
    key = f"{settings.config_key}.batch_size"
    check_enough(len(train), settings.batch_size, "DPO training pairs", key)
    check_writable([state_dir, *epoch_dirs], "DPO state and epochs")
    identity = run_identity("dpo", settings, {"policy": policy_dir, "pairs": pairs_path})
    run = claim_state_dir(state_dir, identity, log)
    drop_foreign_outputs(epoch_dirs, run, log)
    summary = {"epochs": settings.epochs, "gradient_accumulation": accumulation}
    if all(is_complete_for(d, run) for d in epoch_dirs):
        log(f"dpo: all {settings.epochs} epochs of this run already saved; nothing to train")
        return {**summary, "skipped": True, "run": run}

    base = base_with_pad(policy_dir, state_dir / "policy-base", settings.seed, log)
    tokenizer = load_tokenizer(base)
    train, long_train = _fitting(train, tokenizer, settings.max_length)
    heldout, long_heldout = _fitting(heldout, tokenizer, settings.max_length)
    if long_train or long_heldout:
        log(
            f"dpo: {long_train} training and {long_heldout} held-out pairs longer than max_length "
            f"{settings.max_length} left out"
        )
    check_enough(len(train), settings.batch_size, f"DPO training pairs within max_length {settings.max_length}", key)
    # Each checkpoint says which pairs it learnt from, the ones left out for length included.
    data = {"train_pairs": len(train), "heldout_pairs": len(heldout), "left_out_for_length": long_train + long_heldout}
    export = _Exporter(base, tokenizer, settings, epoch_dirs, log, run, identity, stage="dpo", data=data)
    resume = _last_checkpoint(state_dir / "trainer", log)
    if resume is not None:
        log(f"dpo: resuming from {resume}")
        if is_main_process():
            export(resume)  # the run may have stopped between saving this checkpoint and exporting it
    trainer = _build_trainer(base, tokenizer, train, heldout, settings, accumulation, state_dir / "trainer", export)
    log(
        f"dpo: {len(train)} training pairs, {len(heldout)} held out, {settings.epochs} epochs, batch "
        f"{settings.batch_size} = {settings.per_device_batch_size} x {world_size()} processes x {accumulation}"
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wait_for_everyone()
    _check_all_saved(epoch_dirs, state_dir, "dpo")
    history = trainer.state.log_history
    return {
        **summary,
        "skipped": False,
        "run": run,
        "resumed_from": str(resume) if resume else None,
        "steps": trainer.state.global_step,
        **data,
        **{
            f"{name.replace('/', '_')}_per_epoch": _loss_per_epoch(history, settings.epochs, name)
            for name in _TRAIN_METRICS
        },
        "heldout_accuracy_per_epoch": _loss_per_epoch(history, settings.epochs, "eval_rewards/accuracies"),
    }


def _fitting(pairs, tokenizer, max_length: int):
    """The pairs whose prompt + response + EOS fits max_length for both responses, and how many did not."""
    if not len(pairs):
        return pairs, 0
    eos = tokenizer.eos_token or ""

    def lengths(column):
        texts = [p + r + eos for p, r in zip(pairs["prompt"], pairs[column])]
        return [len(x) for x in tokenizer(texts)["input_ids"]]

    fits = [max(c, r) <= max_length for c, r in zip(lengths("chosen"), lengths("rejected"))]
    kept = pairs[fits].reset_index(drop=True)
    return kept, len(pairs) - len(kept)


def _build_trainer(base, tokenizer, train, heldout, settings: DPOSettings, accumulation: int, output_dir, export):
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    # The LoRA initialisation happens inside DPOTrainer, before the Trainer would seed anything.
    transformers.set_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(str(base), dtype=lora_dtype(), local_files_only=True)

    def dataset(df):
        return Dataset.from_dict({k: list(df[k]) for k in ("prompt", "chosen", "rejected")})

    evaluate = len(heldout) > 0
    args = DPOConfig(
        **trainer_args(settings, accumulation, output_dir),
        beta=settings.beta,
        loss_type=[settings.loss_type],
        label_smoothing=settings.label_smoothing,
        # The paper's RLHF kept its LoRA dropout on; TRL's DPO switches all dropout off by default.
        disable_dropout=False,
        precompute_ref_log_probs=False,
        per_device_eval_batch_size=settings.per_device_batch_size,
        eval_strategy="epoch" if evaluate else "no",
        save_strategy="epoch",
        save_total_limit=1,
    )
    trainer = DPOTrainer(
        model=model,
        ref_model=None,
        args=args,
        train_dataset=dataset(train),
        eval_dataset=dataset(heldout) if evaluate else None,
        processing_class=tokenizer,
        peft_config=lora_config(settings, "CAUSAL_LM"),
        callbacks=[_ExportEachEpoch(export), log_callback(export.log)],
    )
    trainer.remove_callback(PrinterCallback)
    return trainer

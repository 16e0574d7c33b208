"""RLHF with PPO (section 6.1): TRL's experimental PPOTrainer on the instruction-tuned model, with LoRA.

TRL's PPO trainer can neither resume nor save per epoch, so a run is one trainer per epoch. Each epoch ends
by saving its state (the policy and value adapters, the optimizer's moments and the epoch's metrics) to
state_dir/epoch-N; the merged policy is then exported from that state to the epoch's directory, so a resumed
run and an uninterrupted one export alike. The learning-rate schedule spans all epochs and is fast-forwarded
when a later epoch's trainer starts.

The reference policy is the instruction-tuned model itself: with a PEFT policy TRL computes reference
log-probabilities with the adapter switched off, so no second copy of the model is held. The value model
starts from the reward model and trains its own LoRA adapter (and score head); the paper's TRL 0.4 ran the
value head on the policy's LoRA-tuned backbone, and a fully trained 7B value model would not fit beside
the policy and reward model.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from llmcal.fsio import atomic_dir
from llmcal.training import (
    base_with_pad,
    bf16_available,
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
    save_model,
    wait_for_everyone,
    world_size,
)
from llmcal.training.settings import PPOSettings

_METRICS = ("objective/scores", "objective/kl", "objective/rlhf_reward", "loss/policy_avg", "loss/value_avg")


def train_ppo(policy_dir, reward_dir, prompts_path, settings: PPOSettings, epoch_dirs, state_dir, log=print) -> dict:
    """PPO on the prompts for settings.epochs epochs; epoch i's merged policy goes to epoch_dirs[i].

    An epoch is one pass over the prompts: len(prompts) // (batch_size x processes) PPO updates. Epochs whose
    state is saved in state_dir are not trained again. Returns the mean reward, KL and losses per epoch.
    """
    epoch_dirs = check_epoch_dirs(epoch_dirs, settings.epochs, settings.config_key)
    state_dir = Path(state_dir)
    prompts = read_table(prompts_path, ("id", "prompt"), "the PPO prompts")
    rollout = settings.rollout_batch(world_size())
    key = f"{settings.config_key}.batch_size"
    check_enough(len(prompts), rollout, "PPO prompts", key)
    check_writable([state_dir, *epoch_dirs], "PPO state and epochs")
    identity = run_identity("ppo", settings, {"policy": policy_dir, "reward": reward_dir, "prompts": prompts_path})
    run = claim_state_dir(state_dir, identity, log)
    drop_foreign_outputs(epoch_dirs, run, log)
    if all(is_complete_for(d, run) for d in epoch_dirs):
        log(f"ppo: all {settings.epochs} epochs of this run already saved; nothing to train")
        return {"epochs": settings.epochs, "skipped": True, "run": run}

    base = base_with_pad(policy_dir, state_dir / "policy-base", settings.seed, log)
    tokenizer = load_tokenizer(base)
    _check_reward_model(reward_dir, tokenizer)
    dataset = _prompt_dataset(prompts, tokenizer, settings.max_prompt_length, log)
    check_enough(len(dataset), rollout, f"PPO prompts within max_prompt_length {settings.max_prompt_length}", key)
    updates = len(dataset) // rollout

    done = _epochs_saved(state_dir, settings.epochs)
    if done:
        log(f"ppo: resuming after epoch {done}")
    export = {"run": run, "identity": identity}
    _export_missing(base, state_dir, epoch_dirs[:done], settings, log, export)
    log(
        f"ppo: {len(dataset)} prompts, {updates} updates of {rollout} prompts per epoch, "
        f"epochs {done + 1}-{settings.epochs}"
    )
    for epoch in range(done, settings.epochs):
        trainer = _build_trainer(base, reward_dir, tokenizer, dataset, settings, epoch, updates, state_dir, log)
        trainer.train()
        if is_main_process():
            _save_state(trainer, _state(state_dir, epoch + 1), _epoch_metrics(trainer.state.log_history))
        wait_for_everyone()
        del trainer
        _export_missing(base, state_dir, epoch_dirs[: epoch + 1], settings, log, export)
    return {
        "epochs": settings.epochs,
        "skipped": False,
        "run": run,
        "prompts": len(dataset),
        "updates_per_epoch": updates,
        "episodes_per_epoch": updates * rollout,
        "resumed_after_epoch": done,
        "per_epoch": [
            json.loads((_state(state_dir, e) / "metrics.json").read_text()) for e in range(1, settings.epochs + 1)
        ],
    }


def _state(state_dir: Path, epoch: int) -> Path:
    return state_dir / f"epoch-{epoch}"


def _epochs_saved(state_dir: Path, epochs: int) -> int:
    """Epoch states are written whole (atomic_dir); a kill mid-write leaves only a hidden temporary beside them."""
    done = 0
    while done < epochs and all(
        (_state(state_dir, done + 1) / f).exists() for f in ("policy", "value", "optimizer.pt", "metrics.json")
    ):
        done += 1
    return done


def _check_reward_model(reward_dir, tokenizer) -> None:
    """The reward and value models read the policy's token ids, so they must share its vocabulary and pad."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(reward_dir), local_files_only=True)
    if config.num_labels != 1:
        raise ValueError(f"{reward_dir}: a reward model needs num_labels 1, has {config.num_labels}")
    reward_tokenizer = load_tokenizer(reward_dir)
    if reward_tokenizer.get_vocab() != tokenizer.get_vocab() or config.pad_token_id != tokenizer.pad_token_id:
        raise ValueError(
            f"{reward_dir}: the reward model's vocabulary or pad token differs from the policy's; "
            f"train both from the same base"
        )


def _prompt_dataset(prompts, tokenizer, max_length: int, log):
    from datasets import Dataset

    ids = tokenizer(list(prompts["prompt"]))["input_ids"]
    kept = [x for x in ids if len(x) <= max_length]
    if len(kept) < len(ids):
        log(f"ppo: {len(ids) - len(kept)} prompts longer than max_prompt_length {max_length} left out")
    return Dataset.from_dict({"input_ids": kept})


def _build_trainer(
    base: Path, reward_dir, tokenizer, dataset, settings: PPOSettings, epoch: int, updates: int, state_dir: Path, log
):
    import torch
    import transformers
    from transformers.trainer_callback import PrinterCallback

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "trl.experimental is unstable": known; TRL 1.12 has PPO nowhere else
        from trl.experimental.ppo import PPOConfig, PPOTrainer

    # Each epoch draws its own samples, the same ones whether or not the run was interrupted before it.
    transformers.set_seed(settings.seed + epoch)
    policy, value, reward = _load_models(base, reward_dir, settings, _state(state_dir, epoch) if epoch else None)
    tokenizer.padding_side = "left"  # generation continues the prompt from its last token
    args = PPOConfig(
        output_dir=str(state_dir / "trainer"),
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation,
        num_mini_batches=1,
        # TRL derives the episodes from epochs x prompts and its data loader repeats forever: an explicit count
        # of whole batches makes the epoch end exactly when the prompts are used up.
        total_episodes=updates * settings.rollout_batch(world_size()),
        num_ppo_epochs=settings.num_ppo_epochs,
        learning_rate=settings.learning_rate,
        weight_decay=settings.weight_decay,
        response_length=settings.response_length,
        temperature=settings.temperature,
        kl_coef=settings.kl_coef,
        cliprange=settings.cliprange,
        cliprange_value=settings.cliprange_value,
        vf_coef=settings.vf_coef,
        gamma=settings.gamma,
        lam=settings.lam,
        whiten_rewards=settings.whiten_rewards,
        missing_eos_penalty=settings.missing_eos_penalty,
        stop_token="eos",
        local_rollout_forward_batch_size=settings.batch_size,
        num_sample_generations=0,
        seed=settings.seed + epoch,
        bf16=bf16_available(),
        activation_checkpointing=False,
        dataloader_pin_memory=torch.cuda.is_available(),
        # Without CUDA, several processes still make one data-parallel run (gloo), not copies of one.
        use_cpu=not torch.cuda.is_available(),
        save_strategy="no",
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
    )
    # TRL takes the adapter as peft_config (it wraps the model) or as a PeftModel, not both; a resumed epoch must
    # continue the saved adapter, so every epoch passes a PeftModel and TRL's PEFT path (no ref_model) applies.
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=None,
        reward_model=reward,
        value_model=value,
        train_dataset=dataset,
        callbacks=[log_callback(log)],
    )
    trainer.remove_callback(PrinterCallback)
    _expose_policy_through_ddp(trainer)
    if epoch:
        optimizer_state = torch.load(_state(state_dir, epoch) / "optimizer.pt", map_location="cpu", weights_only=True)
        trainer.optimizer.load_state_dict(optimizer_state)
    _schedule_over_all_epochs(trainer, settings, updates, epoch)
    return trainer


def _expose_policy_through_ddp(trainer) -> None:
    """TRL computes the PEFT reference log-probs via `self.model.policy`, which a DDP wrapper does not pass on
    (huggingface/trl#2375), so PPO with several processes fails; hand the wrapper the policy itself.

    Bypassing nn.Module's __setattr__ keeps it from registering the policy a second time as a DDP submodule.
    The reference pass runs without gradients, so going around DDP there skips no gradient synchronisation.
    """
    if not hasattr(trainer.model, "policy"):
        object.__setattr__(trainer.model, "policy", trainer.accelerator.unwrap_model(trainer.model).policy)


def _load_models(base: Path, reward_dir, settings: PPOSettings, previous: Path | None):
    from peft import PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    dtype = lora_dtype()
    policy = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype, local_files_only=True)
    value, reward = (
        AutoModelForSequenceClassification.from_pretrained(
            str(reward_dir), num_labels=1, dtype=dtype, local_files_only=True
        )
        for _ in range(2)
    )
    reward.requires_grad_(False)
    if previous is None:
        policy = get_peft_model(policy, lora_config(settings, "CAUSAL_LM"))
        value = get_peft_model(value, lora_config(settings, "SEQ_CLS"))
    else:
        policy = PeftModel.from_pretrained(policy, str(previous / "policy"), is_trainable=True)
        value = PeftModel.from_pretrained(value, str(previous / "value"), is_trainable=True)
    return policy, value, reward


def _schedule_over_all_epochs(trainer, settings: PPOSettings, updates: int, epoch: int) -> None:
    """Replace TRL's one-epoch schedule by one over the whole run, advanced past the epochs already trained."""
    from transformers import get_scheduler

    name = "constant_with_warmup" if settings.lr_scheduler == "constant" else settings.lr_scheduler
    scheduler = get_scheduler(
        name, trainer.optimizer, num_warmup_steps=settings.warmup_steps, num_training_steps=updates * settings.epochs
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*lr_scheduler.step\\(\\)")  # stepping before any optimizer step
        for _ in range(updates * epoch):
            scheduler.step()
    trainer.lr_scheduler = trainer.callback_handler.lr_scheduler = scheduler


def _epoch_metrics(log_history: list[dict]) -> dict:
    logged = [e for e in log_history if "objective/scores" in e]
    means = {k: sum(e[k] for e in logged) / len(logged) for k in _METRICS if logged}
    return {**means, "updates": len(logged)}


def _save_state(trainer, out: Path, metrics: dict) -> None:
    import torch

    wrapper = trainer.accelerator.unwrap_model(trainer.model)
    with atomic_dir(out) as tmp:
        wrapper.policy.save_pretrained(str(Path(tmp) / "policy"))
        wrapper.value_model.save_pretrained(str(Path(tmp) / "value"))
        torch.save(trainer.optimizer.state_dict(), Path(tmp) / "optimizer.pt")
        (Path(tmp) / "metrics.json").write_text(json.dumps(metrics, indent=1, sort_keys=True))


def _export_missing(base: Path, state_dir: Path, epoch_dirs: list[Path], settings: PPOSettings, log, run: dict) -> None:
    """Merge each saved epoch's policy adapter into the base and save it, unless this run already saved it."""
    if is_main_process():
        for epoch, out in enumerate(epoch_dirs, start=1):
            if not is_complete_for(out, run["run"]):
                _export(base, _state(state_dir, epoch), out, settings, epoch, run)
                log(f"ppo: saved epoch {epoch} to {out}")
    wait_for_everyone()


def _export(base: Path, state: Path, out: Path, settings: PPOSettings, epoch: int, run: dict) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base), dtype="auto", local_files_only=True)
    merged = PeftModel.from_pretrained(model, str(state / "policy")).merge_and_unload()
    metrics = json.loads((state / "metrics.json").read_text())
    save_model(
        merged,
        load_tokenizer(base),
        out,
        {"stage": "ppo", "epoch": epoch, "settings": settings.to_dict(), "metrics": metrics, **run},
    )

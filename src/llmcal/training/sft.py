"""Instruction tuning (section 6.1) with TRL's SFTTrainer: full fine-tuning as Stanford-Alpaca, LoRA as Alpaca-LoRA.

The data are prompt-completion pairs (the prompt already in the Alpaca template), so the loss falls on the
response tokens only, with EOS appended so that the model learns to stop. After each epoch the Trainer
saves a checkpoint into the state directory and a complete causal LM (merged, for LoRA) is exported from
that checkpoint into the epoch's directory: exporting from disk rather than from the in-memory model works
the same with one process or many.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from llmcal.training import (base_with_pad, check_enough, check_epoch_dirs, claim_state_dir,
                             is_complete, is_main_process, load_tokenizer, log_callback, lora_config, lora_dtype,
                             read_table, save_model, trainer_args, wait_for_everyone, world_size)
from llmcal.training.settings import SFTSettings


def train_sft(base_dir, data_path, settings: SFTSettings, epoch_dirs, state_dir, log=print) -> dict:
    """Fine-tune base_dir on data_path for settings.epochs epochs; epoch i's model goes to epoch_dirs[i].

    Resumes from the last checkpoint in state_dir, and leaves complete epoch directories as they are.
    Returns the mean training loss per epoch and the number of optimizer steps.
    """
    epoch_dirs = check_epoch_dirs(epoch_dirs, settings.epochs, settings.config_key)
    state_dir = Path(state_dir)
    data = read_table(data_path, ("id", "prompt", "response"), "the SFT data")
    accumulation = settings.gradient_accumulation(world_size())
    check_enough(len(data), settings.batch_size, "SFT examples", f"{settings.config_key}.batch_size")
    summary = {"method": settings.method, "examples": len(data), "epochs": settings.epochs,
               "gradient_accumulation": accumulation}
    if all(is_complete(d) for d in epoch_dirs):
        log(f"sft: all {settings.epochs} epochs already saved; nothing to train")
        return {**summary, "skipped": True}

    claim_state_dir(state_dir, {"stage": "sft", "base": str(base_dir), "data": str(data_path),
                                "settings": settings.to_dict()})
    base = base_with_pad(base_dir, state_dir / "base", settings.seed, log)
    tokenizer = load_tokenizer(base)
    export = _Exporter(base, tokenizer, settings, epoch_dirs, log)
    resume = _last_checkpoint(state_dir / "trainer")
    if resume is not None:
        log(f"sft: resuming from {resume}")
        if is_main_process():
            export(resume)  # the run may have stopped between saving this checkpoint and exporting it
    # The Trainer reloads a checkpoint's weights by raw state-dict keys, which misses weights that transformers 5
    # renames on loading (GPT-NeoX's embed_out is lm_head in memory): a full fine-tune resumes from a model
    # loaded properly from the checkpoint, so that what the Trainer's reload misses (and warns of) is already there.
    weights = resume if resume is not None and settings.method == "full" else base
    trainer = _build_trainer(weights, tokenizer, data, settings, accumulation, state_dir / "trainer", export)
    check_enough(len(trainer.train_dataset), settings.batch_size,
                 f"SFT examples with a response within max_length {settings.max_length}",
                 f"{settings.config_key}.batch_size")
    log(f"sft ({settings.method}): {len(trainer.train_dataset)} examples, {settings.epochs} epochs, "
        f"batch {settings.batch_size} = {settings.per_device_batch_size} x {world_size()} processes x "
        f"{accumulation} accumulation steps")
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wait_for_everyone()
    _check_all_saved(epoch_dirs, state_dir)
    return {**summary, "skipped": False, "resumed_from": str(resume) if resume else None,
            "steps": trainer.state.global_step,
            "loss_per_epoch": _loss_per_epoch(trainer.state.log_history, settings.epochs)}


def _build_trainer(weights, tokenizer, data, settings: SFTSettings, accumulation: int, output_dir: Path, export):
    import torch
    import transformers
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from transformers.trainer_callback import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    lora = settings.method == "lora"
    # The LoRA initialisation happens inside SFTTrainer, before the Trainer would seed anything.
    transformers.set_seed(settings.seed)
    model = AutoModelForCausalLM.from_pretrained(str(weights), dtype=lora_dtype() if lora else torch.float32,
                                                 local_files_only=True)
    dataset = Dataset.from_dict({"prompt": list(data["prompt"]), "completion": list(data["response"])})
    args = SFTConfig(
        **trainer_args(settings, accumulation, output_dir),
        completion_only_loss=True,
        packing=False,
        # chunked_nll, TRL's default, patches `lm_head`; GPT-NeoX calls its head `embed_out`.
        loss_type="nll",
        save_strategy="epoch",
        save_total_limit=1,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=lora_config(settings, "CAUSAL_LM") if lora else None,
                         callbacks=[_ExportEachEpoch(export), log_callback(export.log)])
    trainer.remove_callback(PrinterCallback)
    return trainer


@dataclass
class _Exporter:
    """Turns a Trainer checkpoint into a complete causal LM in the directory of its epoch."""

    base: Path
    tokenizer: object
    settings: SFTSettings
    epoch_dirs: list[Path]
    log: object

    def __call__(self, checkpoint: Path) -> None:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        epoch = round(state["epoch"])
        if not 1 <= epoch <= len(self.epoch_dirs) or abs(state["epoch"] - epoch) > 1e-6:
            return
        out = self.epoch_dirs[epoch - 1]
        if is_complete(out):
            return
        import torch

        # Building a LoRA model draws random initial weights; without its own RNG the export would change the
        # dropout masks of the epochs after it, on the main process only, and a resumed run would differ.
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            model = self._load(Path(checkpoint))
            save_model(model, self.tokenizer, out, {"stage": "sft", "method": self.settings.method, "epoch": epoch,
                                                    "global_step": state["global_step"],
                                                    "settings": self.settings.to_dict()})
        self.log(f"sft: saved epoch {epoch} to {out}")

    def _load(self, checkpoint: Path):
        from transformers import AutoModelForCausalLM

        if self.settings.method == "full":
            return AutoModelForCausalLM.from_pretrained(str(checkpoint), dtype="auto", local_files_only=True)
        from peft import PeftModel

        base = AutoModelForCausalLM.from_pretrained(str(self.base), dtype="auto", local_files_only=True)
        return PeftModel.from_pretrained(base, str(checkpoint)).merge_and_unload()


class _ExportEachEpoch(TrainerCallback):
    """Exports each epoch as soon as the Trainer has checkpointed it (save_strategy="epoch")."""

    def __init__(self, export: _Exporter):
        self.export = export

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.export(Path(args.output_dir) / f"checkpoint-{state.global_step}")


def _check_all_saved(epoch_dirs: list[Path], state_dir: Path) -> None:
    """Only the last checkpoint is kept, so an epoch directory deleted after its epoch cannot be re-exported."""
    missing = [str(d) for d in epoch_dirs if not is_complete(d)]
    if missing:
        raise RuntimeError(f"sft: {missing} were not saved and their checkpoints are gone; "
                           f"delete {state_dir} to train again")


def _last_checkpoint(output_dir: Path) -> Path | None:
    from transformers.trainer_utils import get_last_checkpoint

    if not output_dir.is_dir():
        return None
    last = get_last_checkpoint(str(output_dir))
    return Path(last) if last else None


def _loss_per_epoch(log_history: list[dict], epochs: int) -> list[float | None]:
    """Mean of the logged step losses in each epoch (a step logged at epoch 1.25 belongs to epoch 2)."""
    sums, counts = [0.0] * epochs, [0] * epochs
    for entry in log_history:
        if "loss" in entry and "epoch" in entry:
            i = min(epochs, max(1, math.ceil(entry["epoch"] - 1e-9))) - 1
            sums[i] += entry["loss"]
            counts[i] += 1
    return [s / c if c else None for s, c in zip(sums, counts)]

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
import os
from dataclasses import dataclass, field
from pathlib import Path

from transformers import TrainerCallback

from llmcal.training import (
    base_with_pad,
    check_enough,
    check_epoch_dirs,
    check_writable,
    claim_state_dir,
    drop_foreign_outputs,
    is_complete,
    is_complete_for,
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
)
from llmcal.training.settings import SFTSettings


def train_sft(base_dir, data_path, settings: SFTSettings, epoch_dirs, state_dir, log=print) -> dict:
    """Fine-tune base_dir on data_path for settings.epochs epochs; epoch i's model goes to epoch_dirs[i].

    The state directory and the epoch directories are tied to the run's identity (settings and the contents of
    base and data): those of the same run are resumed or kept, those of any other run are moved aside first.
    Returns the mean training loss per epoch and the number of optimizer steps.
    """
    epoch_dirs = check_epoch_dirs(epoch_dirs, settings.epochs, settings.config_key)
    state_dir = Path(state_dir)
    data = read_table(data_path, ("id", "prompt", "response"), "the SFT data")
    accumulation = settings.gradient_accumulation(world_size())
    check_enough(len(data), settings.batch_size, "SFT examples", f"{settings.config_key}.batch_size")
    summary = {
        "method": settings.method,
        "examples": len(data),
        "epochs": settings.epochs,
        "gradient_accumulation": accumulation,
    }
    check_writable([state_dir, *epoch_dirs], "SFT state and epochs")
    identity = run_identity("sft", settings, {"base": base_dir, "data": data_path})
    run = claim_state_dir(state_dir, identity, log)
    drop_foreign_outputs(epoch_dirs, run, log)
    if all(is_complete_for(d, run) for d in epoch_dirs):
        log(f"sft: all {settings.epochs} epochs of this run already saved; nothing to train")
        return {**summary, "skipped": True, "run": run}

    base = base_with_pad(base_dir, state_dir / "base", settings.seed, log)
    tokenizer = load_tokenizer(base)
    export = _Exporter(base, tokenizer, settings, epoch_dirs, log, run, identity)
    resume = _last_checkpoint(state_dir / "trainer", log)
    if resume is not None:
        log(f"sft: resuming from {resume}")
        if is_main_process():
            export(resume)  # the run may have stopped between saving this checkpoint and exporting it
    # The Trainer reloads a checkpoint's weights by raw state-dict keys, which misses weights that transformers 5
    # renames on loading (GPT-NeoX's embed_out is lm_head in memory): a full fine-tune resumes from a model
    # loaded properly from the checkpoint, so that what the Trainer's reload misses (and warns of) is already there.
    weights = resume if resume is not None and settings.method == "full" else base
    trainer = _build_trainer(weights, tokenizer, data, settings, accumulation, state_dir / "trainer", export)
    check_enough(
        len(trainer.train_dataset),
        settings.batch_size,
        f"SFT examples with a response within max_length {settings.max_length}",
        f"{settings.config_key}.batch_size",
    )
    log(
        f"sft ({settings.method}): {len(trainer.train_dataset)} examples, {settings.epochs} epochs, "
        f"batch {settings.batch_size} = {settings.per_device_batch_size} x {world_size()} processes x "
        f"{accumulation} accumulation steps"
    )
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wait_for_everyone()
    _check_all_saved(epoch_dirs, state_dir)
    return {
        **summary,
        "skipped": False,
        "run": run,
        "resumed_from": str(resume) if resume else None,
        "steps": trainer.state.global_step,
        "loss_per_epoch": _loss_per_epoch(trainer.state.log_history, settings.epochs),
    }


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
    model = AutoModelForCausalLM.from_pretrained(
        str(weights), dtype=lora_dtype() if lora else torch.float32, local_files_only=True
    )
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
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=lora_config(settings, "CAUSAL_LM") if lora else None,
        callbacks=[_ExportEachEpoch(export), log_callback(export.log)],
    )
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
    run: str
    identity: dict
    stage: str = "sft"  # what the checkpoint's metadata and the log call it (DPO exports the same way)
    data: dict = field(default_factory=dict)  # what the run trained on, e.g. pairs left out, into the metadata

    def __call__(self, checkpoint: Path) -> None:
        state = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
        epoch = round(state["epoch"])
        if not 1 <= epoch <= len(self.epoch_dirs) or abs(state["epoch"] - epoch) > 1e-6:
            return
        out = self.epoch_dirs[epoch - 1]
        if is_complete_for(out, self.run):
            return
        import torch

        # Building a LoRA model draws random initial weights; without its own RNG the export would change the
        # dropout masks of the epochs after it, on the main process only, and a resumed run would differ.
        with torch.random.fork_rng(devices=range(torch.cuda.device_count())):
            model = self._load(Path(checkpoint))
            save_model(
                model,
                self.tokenizer,
                out,
                {
                    "stage": self.stage,
                    "method": self.settings.method,
                    "epoch": epoch,
                    "global_step": state["global_step"],
                    "settings": self.settings.to_dict(),
                    "run": self.run,
                    "identity": self.identity,
                    **({"data": self.data} if self.data else {}),
                },
            )
        self.log(f"{self.stage}: saved epoch {epoch} to {out}")

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


def _check_all_saved(epoch_dirs: list[Path], state_dir: Path, stage: str = "sft") -> None:
    """Only the last checkpoint is kept, so an epoch directory deleted after its epoch cannot be re-exported."""
    missing = [str(d) for d in epoch_dirs if not is_complete(d)]
    if missing:
        raise RuntimeError(
            f"{stage}: {missing} were not saved and their checkpoints are gone; delete {state_dir} to train again"
        )


def _last_checkpoint(output_dir: Path, log=print) -> Path | None:
    """The newest complete Trainer checkpoint; newer partial ones (a kill while saving) are moved aside.

    The Trainer writes checkpoint-N in place, the old one is deleted only after the new one is saved
    (save_total_limit), so a kill mid-save leaves a partial checkpoint beside the last complete one.
    """
    if not output_dir.is_dir():
        return None
    found = sorted(
        (int(d.name.split("-")[1]), d)
        for d in output_dir.iterdir()
        if d.is_dir() and d.name.startswith("checkpoint-") and d.name.split("-")[1].isdigit()
    )
    for _, checkpoint in reversed(found):
        problem = checkpoint_problem(checkpoint)
        if problem is None:
            return checkpoint
        if is_main_process():
            # Out of the Trainer's directory: it lists and rotates every checkpoint-* name there.
            aside = output_dir.parent / f"partial-{checkpoint.name}"
            os.replace(checkpoint, aside := _free(aside))
            log(f"{checkpoint}: partial Trainer checkpoint ({problem}), skipped; moved aside to {aside}")
    wait_for_everyone()
    return None


def _free(path: Path) -> Path:
    n = 1
    while path.with_name(f"{path.name}.{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.{n}")


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a Trainer checkpoint is incomplete, or None: state that parses, loadable weights, optimizer and RNG.

    The Trainer saves weights, then optimizer and scheduler, then RNG state, then trainer_state.json.
    """
    checkpoint = Path(checkpoint)
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        if "global_step" not in state or "epoch" not in state:
            return "trainer_state.json lacks global_step/epoch"
    except (OSError, ValueError) as e:
        return f"trainer_state.json unreadable: {e.__class__.__name__}"
    weights = [checkpoint / n for n in ("model.safetensors", "adapter_model.safetensors") if (checkpoint / n).is_file()]
    index = checkpoint / "model.safetensors.index.json"
    if index.is_file():
        try:
            weights += sorted({checkpoint / f for f in json.loads(index.read_text())["weight_map"].values()})
        except (OSError, ValueError, KeyError) as e:
            return f"{index.name} unreadable: {e.__class__.__name__}"
    if not weights:
        return "no weights file"
    for f in weights:
        problem = _safetensors_problem(f)
        if problem:
            return f"{f.name}: {problem}"
    for name in ("optimizer.pt", "scheduler.pt"):
        if not (checkpoint / name).is_file() or (checkpoint / name).stat().st_size == 0:
            return f"{name} missing or empty"
    if not any(f.name.startswith("rng_state") for f in checkpoint.iterdir()):
        return "no rng_state file"
    return None


def _safetensors_problem(path: Path) -> str | None:
    """A safetensors file is complete when its header parses and its tensors end exactly at the file's end."""
    import struct

    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            if n > size - 8:
                return "truncated header"
            header = json.loads(f.read(n))
        end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    except (OSError, ValueError, struct.error, KeyError, TypeError) as e:
        return f"unreadable ({e.__class__.__name__})"
    if 8 + n + end != size:
        return f"truncated ({size} bytes, header says {8 + n + end})"
    return None


def _loss_per_epoch(log_history: list[dict], epochs: int, key: str = "loss") -> list[float | None]:
    """Mean of the logged step values of `key` in each epoch (a step logged at epoch 1.25 belongs to epoch 2)."""
    sums, counts = [0.0] * epochs, [0] * epochs
    for entry in log_history:
        if key in entry and "epoch" in entry:
            i = min(epochs, max(1, math.ceil(entry["epoch"] - 1e-9))) - 1
            sums[i] += entry[key]
            counts[i] += 1
    return [s / c if c else None for s, c in zip(sums, counts)]

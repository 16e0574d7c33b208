"""Alignment-stage training (section 6 of the paper): instruction tuning, reward modelling, PPO, and DPO.

Every trainer writes complete models (a LoRA run writes merged copies) into directories that appear only when
finished, so the scoring rules treat each epoch's checkpoint like any pretrained model, and an interrupted run
resumes from what it left in its state directory.

The trainers import torch, transformers and TRL, which take seconds; they load on first use so that
Snakemake can import this package while parsing the workflow. The helpers below are shared by them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from llmcal.training.settings import DPOSettings, PPOSettings, RewardSettings, SFTSettings

__all__ = [
    "DPOSettings",
    "PPOSettings",
    "RewardSettings",
    "SFTSettings",
    "train_dpo",
    "train_ppo",
    "train_reward",
    "train_sft",
]

# Stanford-Alpaca's pad token for LLaMA, whose tokenizer has none.
PAD_TOKEN = "[PAD]"
CHECKPOINT_MARKER = "llmcal_checkpoint.json"

_TRAINERS = {"train_sft": "sft", "train_reward": "reward", "train_ppo": "ppo", "train_dpo": "dpo"}


def __getattr__(name):
    if name in _TRAINERS:
        from importlib import import_module

        return getattr(import_module(f"{__name__}.{_TRAINERS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# processes ------------------------------------------------------------------------------------------------------


def world_size() -> int:
    """Processes in this run; `accelerate launch` (torchrun) sets WORLD_SIZE before Python starts."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    if world_size() > 1:
        from accelerate import PartialState

        PartialState().wait_for_everyone()


def bf16_available() -> bool:
    """bf16 only where the GPU has it: TRL configs default to bf16=True, which fails on a CPU."""
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def lora_dtype():
    """A frozen LoRA base can sit in bf16 on a GPU; on a CPU float32 is both faster and exact."""
    import torch

    return torch.bfloat16 if bf16_available() else torch.float32


# inputs ---------------------------------------------------------------------------------------------------------


def read_table(path, columns: Iterable[str], what: str):
    from llmcal.fsio import read_parquet

    df = read_parquet(path)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: {what} lacks column(s) {missing} (has {list(df.columns)})")
    return df.reset_index(drop=True)


def check_enough(n: int, batch: int, what: str, key: str) -> None:
    """Refuse a dataset smaller than one batch: TRL's PPO would loop forever and the others train on nothing."""
    if n < batch:
        raise ValueError(f"{n} {what}, fewer than one batch of {batch}: provide at least {batch} or lower {key}")


def check_epoch_dirs(epoch_dirs, epochs: int, key: str) -> list[Path]:
    if len(epoch_dirs) != epochs:
        raise ValueError(f"{key}.epochs is {epochs} but {len(epoch_dirs)} epoch directories were given")
    return [Path(p) for p in epoch_dirs]


# tokenizer and models -------------------------------------------------------------------------------------------


def load_tokenizer(path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


def needs_pad_token(tokenizer) -> bool:
    """Padding with EOS would hide the EOS the model must learn to emit, and TRL's PPO reads pads as ends."""
    return tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id


def add_pad_token(tokenizer, model) -> None:
    """Give the tokenizer a pad distinct from EOS and the model an embedding row for it."""
    if needs_pad_token(tokenizer):
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def base_with_pad(base_dir, work_dir, seed: int, log=print) -> Path:
    """The base itself, or, when its tokenizer lacks a distinct pad, a copy with one saved under work_dir.

    The copy is saved once, by the main process, so that every process, every resumed run and the merging of
    LoRA checkpoints all start from the same (randomly initialised) pad embedding.
    """
    if not needs_pad_token(load_tokenizer(base_dir)):
        return Path(base_dir)
    work_dir = Path(work_dir)
    if is_main_process() and not is_complete(work_dir):
        import transformers
        from transformers import AutoModelForCausalLM

        log(f"{base_dir}: the tokenizer has no pad distinct from EOS; adding {PAD_TOKEN} in {work_dir}")
        transformers.set_seed(seed)
        tokenizer = load_tokenizer(base_dir)
        model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype="auto", local_files_only=True)
        add_pad_token(tokenizer, model)
        save_model(model, tokenizer, work_dir, {"stage": "base", "from": str(base_dir), "pad_token": PAD_TOKEN})
    wait_for_everyone()
    return work_dir


def trainer_args(settings, accumulation: int, output_dir) -> dict:
    """The Trainer arguments instruction tuning and reward modelling share, from their settings."""
    import torch

    cuda = torch.cuda.is_available()
    return dict(
        output_dir=str(output_dir),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.lr_scheduler,
        warmup_steps=settings.warmup(),
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,
        activation_checkpointing=settings.gradient_checkpointing,  # transformers 5's name for it
        dataloader_pin_memory=cuda,
        # Without CUDA, several processes still make one data-parallel run (gloo), not copies of one.
        use_cpu=not cuda,
        bf16=bf16_available(),
        seed=settings.seed,
        data_seed=settings.seed,
        logging_steps=1,
        report_to="none",
        disable_tqdm=True,
    )


def lora_config(settings, task_type: str):
    from peft import LoraConfig

    return LoraConfig(
        r=settings.lora_r,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=list(settings.lora_target_modules),
        task_type=task_type,
        bias="none",
    )


def log_callback(log):
    """A Trainer callback that hands the Trainer's log lines to `log`, on the main process only."""
    from transformers import TrainerCallback

    class LogTo(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs:
                shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items())
                log(f"step {state.global_step}/{state.max_steps}: {shown}")

    return LogTo()


# outputs --------------------------------------------------------------------------------------------------------


def is_complete(model_dir) -> bool:
    """Written atomically with a marker last, so a directory with the marker holds a whole model."""
    return (Path(model_dir) / CHECKPOINT_MARKER).is_file()


def save_model(model, tokenizer, out_dir, meta: dict) -> None:
    from llmcal.models.pretrain import save_checkpoint

    # Trainers switch the cache off for gradient checkpointing; scoring and generation want it back.
    model.config.use_cache = True
    save_checkpoint(model, tokenizer, out_dir, meta)


def write_json(path, data: dict) -> None:
    from llmcal.fsio import atomic_text

    atomic_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


# run identity ---------------------------------------------------------------------------------------------------

_CHUNK = 1 << 24


def fingerprint(paths) -> str:
    """sha256 over the bytes of the files at `paths` (files, or directories walked in sorted order).

    The relative name of each file is hashed with its contents, so a renamed file changes it too; names that
    start with "." (temporary files of an interrupted write) are left out. Contents, not paths or timestamps,
    decide: the same bytes at another path give the same fingerprint, other bytes at the same path do not.
    Large weights are read in 16 MiB chunks; there is no cache.
    """
    import hashlib

    h = hashlib.sha256()
    for root in [Path(p) for p in paths]:
        if root.is_file():
            files = [(root.name, root)]
        elif root.is_dir():
            files = sorted(
                (f.relative_to(root).as_posix(), f)
                for f in root.rglob("*")
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts)
            )
        else:
            raise FileNotFoundError(f"{root}: a training input is missing; produce it before training")
        h.update(f"input {len(files)}\0".encode())
        for name, f in files:
            h.update(f"{name}\0{f.stat().st_size}\0".encode())
            with open(f, "rb") as fh:
                for chunk in iter(lambda: fh.read(_CHUNK), b""):
                    h.update(chunk)
    return h.hexdigest()


def run_identity(stage: str, settings, inputs: dict) -> dict:
    """What a training state belongs to: the stage, its resolved settings and a fingerprint of each input."""
    return json.loads(
        json.dumps(
            {
                "stage": stage,
                "settings": settings.to_dict(),
                "inputs": {name: fingerprint([path]) for name, path in inputs.items()},
            },
            sort_keys=True,
            default=str,
        )
    )


def identity_hash(identity: dict) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _differences(previous: dict, identity: dict) -> list[str]:
    changed = []
    for key in sorted(set(previous) | set(identity)):
        a, b = previous.get(key), identity.get(key)
        if isinstance(a, dict) and isinstance(b, dict) and key == "inputs":
            changed += [f"{k} contents" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif key == "settings" and isinstance(a, dict) and isinstance(b, dict):
            changed += [f"settings.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            changed.append(key)
    return changed


def move_aside(path, why: str, log=print) -> Path:
    """Rename a stale directory to <path>.stale-<n> (never resumed, never published) and say why."""
    path = Path(path)
    n = 1
    while path.with_name(f"{path.name}.stale-{n}").exists():
        n += 1
    aside = path.with_name(f"{path.name}.stale-{n}")
    os.replace(path, aside)
    log(f"{path}: {why}; moved aside to {aside} (delete it when no longer wanted)")
    return aside


def claim_state_dir(state_dir, identity: dict, log=print) -> str:
    """Tie a state directory to the run `identity` names; returns the identity's hash.

    A state directory left by the same run (interrupted) is kept and resumed. One left by another run (other
    settings, base or data contents), or one whose run is not recorded, is moved aside before anything is
    read from it, so its checkpoints and staged epochs are never resumed or published; training starts over.
    """
    state_dir = Path(state_dir)
    record = state_dir / "run.json"
    if is_main_process() and state_dir.exists():
        previous = None
        if record.is_file():
            try:
                previous = json.loads(record.read_text())
            except ValueError:
                previous = None
        # The launcher's job file (written before a multi-process trainer starts) is not training state.
        launcher_only = all(f.name.endswith(("-launch.json", "-summary.json")) for f in state_dir.iterdir())
        if previous != identity and not (previous is None and launcher_only):
            if previous is None:
                why = "holds training state of an unrecorded run"
            else:
                why = f"holds the state of a different run ({', '.join(_differences(previous, identity))} changed)"
            move_aside(state_dir, f"{why}; training from scratch", log)
    wait_for_everyone()
    if is_main_process() and not record.is_file():
        write_json(record, identity)
    wait_for_everyone()
    return identity_hash(identity)


def checkpoint_run(model_dir) -> str | None:
    """The run hash a complete model directory was made by, or None (incomplete, or made before it was recorded)."""
    marker = Path(model_dir) / CHECKPOINT_MARKER
    try:
        return json.loads(marker.read_text()).get("run")
    except (OSError, ValueError, AttributeError):
        return None


def is_complete_for(model_dir, run_hash: str) -> bool:
    return is_complete(model_dir) and checkpoint_run(model_dir) == run_hash


def drop_foreign_outputs(dirs, run_hash: str, log=print) -> None:
    """Move aside model directories that a different run (or an unrecorded one) left where this run writes."""
    if is_main_process():
        for d in map(Path, dirs):
            if d.exists() and not is_complete_for(d, run_hash):
                why = "was made by a different run" if is_complete(d) else "is incomplete"
                move_aside(d, f"{why}; it will be trained again", log)
    wait_for_everyone()


def check_writable(paths, what: str) -> None:
    """Fail before any model is loaded if a path the job must write cannot be created or written."""
    for path in map(Path, paths):
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir() and probe != path:
            raise PermissionError(f"{path}: cannot write the {what}: {probe} is not a directory")
        target = probe if probe.is_dir() else probe.parent
        if not os.access(target, os.W_OK | os.X_OK):
            raise PermissionError(
                f"{path}: cannot write the {what}: {target} is not writable by this user; "
                f"fix its permissions or point the workflow elsewhere"
            )

"""Settings of the three alignment trainers, with the paper's hyper-parameters (Appendix A) as defaults.

Each settings class is a frozen dataclass built from a config mapping by ``from_dict(d, key)``; ``key`` is
where the mapping sits in the config (e.g. ``alignment.sft.lora``) so that every error names the key a
user has to edit. Values are coerced to the field's type because YAML reads ``3e-4`` as a string.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping

# LLaMA's attention projections, Alpaca-LoRA's targets; GPT-NeoX (the mini preset) fuses them into query_key_value.
PAPER_LORA_TARGETS = ("q_proj", "v_proj")
SCHEDULERS = ("cosine", "linear")
PPO_SCHEDULERS = ("constant", "cosine", "linear")


class _Settings:
    """from_dict, to_dict and error reporting shared by the settings dataclasses."""

    config_key: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, key: str):
        d = {} if d is None else d
        if not isinstance(d, Mapping):
            raise ValueError(f"{key}: expected a mapping of settings, got {type(d).__name__}")
        hints = typing.get_type_hints(cls)
        allowed = [f.name for f in fields(cls) if f.name != "config_key"]
        from llmcal.config import unknown_keys

        unknown = unknown_keys(d, allowed, key)
        if unknown:
            raise ValueError("\n".join(unknown))
        return cls(**{k: _coerce(v, hints[k], f"{key}.{k}") for k, v in d.items()}, config_key=key)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("config_key")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def _fail(self, name: str, message: str):
        raise ValueError(f"{self.config_key}.{name}: {message}")

    def _require(self, condition: bool, name: str, message: str):
        if not condition:
            self._fail(name, message)

    def _check_common(self):
        for name in ("epochs", "batch_size", "lora_r", "lora_alpha"):
            self._require(getattr(self, name) >= 1, name, f"must be at least 1, got {getattr(self, name)}")
        self._require(self.learning_rate > 0, "learning_rate", f"must be positive, got {self.learning_rate}")
        self._require(0 <= self.lora_dropout < 1, "lora_dropout", f"must be in [0, 1), got {self.lora_dropout}")
        self._require(len(self.lora_target_modules) > 0, "lora_target_modules", "must name at least one module")
        self._require(self.weight_decay >= 0, "weight_decay", f"must be >= 0, got {self.weight_decay}")

    def _warmup_value(self) -> float:
        """transformers 5 folds warmup_ratio into warmup_steps: a value below 1 is a fraction of the steps."""
        return float(self.warmup_ratio) if self.warmup_ratio else int(self.warmup_steps)

    def _check_warmup(self):
        self._require(0 <= self.warmup_ratio < 1, "warmup_ratio", f"must be in [0, 1), got {self.warmup_ratio}")
        self._require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        if self.warmup_ratio and self.warmup_steps:
            self._fail("warmup_steps", f"set either warmup_steps ({self.warmup_steps}) or warmup_ratio "
                                       f"({self.warmup_ratio}), not both")

    def _accumulation(self, per_device: int, world_size: int) -> int:
        per_step = per_device * world_size
        if self.batch_size % per_step:
            self._fail("batch_size", f"{self.batch_size} is not a multiple of per_device_batch_size x processes = "
                                     f"{per_device} x {world_size} = {per_step}, so no whole number of gradient "
                                     f"accumulation steps gives it")
        return self.batch_size // per_step


class _TrainerSettings(_Settings):
    """What the two Trainer-based recipes (instruction tuning, reward modelling) share."""

    def _check_trainer_fields(self):
        self._require(self.lr_scheduler in SCHEDULERS, "lr_scheduler",
                      f"must be one of {list(SCHEDULERS)}, got {self.lr_scheduler!r}")
        self._require(self.per_device_batch_size >= 1, "per_device_batch_size",
                      f"must be at least 1, got {self.per_device_batch_size}")
        self._require(self.max_length >= 2, "max_length", f"must be at least 2, got {self.max_length}")

    def gradient_accumulation(self, world_size: int = 1) -> int:
        return self._accumulation(self.per_device_batch_size, world_size)

    def warmup(self) -> float:
        return self._warmup_value()


def _coerce(value, hint, where: str):
    """The value as the field's type, or a ValueError naming the config key."""
    args = typing.get_args(hint)
    if type(None) in args:
        if value is None:
            return None
        hint = next(a for a in args if a is not type(None))
    converted = _convert(value, hint)
    if converted is None:
        raise ValueError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")
    return converted


def _convert(value, hint):
    if typing.get_origin(hint) is tuple:
        items = [value] if isinstance(value, str) else value
        return tuple(str(v) for v in items) if isinstance(items, (list, tuple)) else None
    if isinstance(value, bool) or hint is bool:  # bool is an int in Python; neither may stand for the other
        return value if hint is bool and isinstance(value, bool) else None
    if hint is str:
        return value if isinstance(value, str) else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if hint is int:
        return int(number) if number.is_integer() else None
    return number


# The two instruction-tuning recipes of Table 2: Stanford-Alpaca (full) and Alpaca-LoRA (lora).
_SFT_METHOD_DEFAULTS = {
    "full": {"learning_rate": 2e-5, "lr_scheduler": "cosine", "per_device_batch_size": 4,
             "warmup_ratio": 0.03, "warmup_steps": 0},
    "lora": {"learning_rate": 3e-4, "lr_scheduler": "linear", "per_device_batch_size": 16,
             "warmup_ratio": 0.0, "warmup_steps": 100},
}


@dataclass(frozen=True)
class SFTSettings(_TrainerSettings):
    """Instruction tuning (Table 2). Fields left as None take the chosen method's paper value.

    batch_size is the global batch; gradient accumulation is derived from it, per_device_batch_size and the
    number of processes, as the paper's 4 GPUs x 4 (or 16) x 8 (or 2) = 128.
    """

    method: str = "full"
    learning_rate: float | None = None
    lr_scheduler: str | None = None
    warmup_ratio: float | None = None
    warmup_steps: int | None = None
    epochs: int = 3
    batch_size: int = 128
    per_device_batch_size: int | None = None
    max_length: int = 2048
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] = PAPER_LORA_TARGETS
    weight_decay: float = 0.0
    gradient_checkpointing: bool = True
    seed: int = 1234
    config_key: str = field(default="sft", compare=False, repr=False)

    def __post_init__(self):
        self._require(self.method in _SFT_METHOD_DEFAULTS, "method",
                      f"must be one of {sorted(_SFT_METHOD_DEFAULTS)}, got {self.method!r}")
        defaults = dict(_SFT_METHOD_DEFAULTS[self.method])
        if self.warmup_ratio is not None or self.warmup_steps is not None:
            # Setting one warm-up form replaces the method's warm-up rather than adding to it.
            defaults["warmup_ratio"], defaults["warmup_steps"] = 0.0, 0
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        self._check_common()
        self._check_trainer_fields()
        self._check_warmup()


@dataclass(frozen=True)
class RewardSettings(_TrainerSettings):
    """Reward modelling (Table 3): a LoRA-tuned sequence classifier on the base model.

    heldout_fraction of the pairs (a seeded split) is kept out of training to measure pairwise accuracy.
    """

    learning_rate: float = 2e-5
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    warmup_steps: int = 0
    epochs: int = 2
    batch_size: int = 32
    per_device_batch_size: int = 8
    max_length: int = 2048
    lora_r: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_target_modules: tuple[str, ...] = PAPER_LORA_TARGETS
    heldout_fraction: float = 0.1
    weight_decay: float = 0.0
    gradient_checkpointing: bool = True
    seed: int = 1234
    config_key: str = field(default="reward", compare=False, repr=False)

    def __post_init__(self):
        self._check_common()
        self._check_trainer_fields()
        self._require(0 <= self.heldout_fraction < 1, "heldout_fraction",
                      f"must be in [0, 1), got {self.heldout_fraction}")
        self._check_warmup()


@dataclass(frozen=True)
class PPOSettings(_Settings):
    """PPO (Table 3), in the meaning the paper's TRL (0.4, stack-llama style) gave its numbers.

    batch_size is the number of prompts rolled out per PPO update on each process, and gradient_accumulation
    splits it into micro-batches of batch_size / gradient_accumulation (TRL 0.4's mini_batch_size); so one
    update consumes batch_size x processes prompts. kl_coef 0.2, temperature 1.0, num_ppo_epochs 4 and vf_coef
    0.1 are TRL 0.4's defaults (its adaptive KL controller started at 0.2; TRL 1.12 only has a fixed one).
    The value model starts from the reward model and, like the policy, trains a LoRA adapter.
    """

    learning_rate: float = 1.4e-5
    lr_scheduler: str = "constant"
    warmup_steps: int = 0
    epochs: int = 3
    batch_size: int = 8
    gradient_accumulation: int = 8
    response_length: int = 128
    max_prompt_length: int = 512
    num_ppo_epochs: int = 4
    kl_coef: float = 0.2
    temperature: float = 1.0
    cliprange: float = 0.2
    cliprange_value: float = 0.2
    vf_coef: float = 0.1
    gamma: float = 1.0
    lam: float = 0.95
    whiten_rewards: bool = False
    missing_eos_penalty: float | None = None
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = PAPER_LORA_TARGETS
    weight_decay: float = 0.0
    seed: int = 1234
    config_key: str = field(default="ppo", compare=False, repr=False)

    def __post_init__(self):
        self._check_common()
        for name in ("gradient_accumulation", "response_length", "max_prompt_length", "num_ppo_epochs"):
            self._require(getattr(self, name) >= 1, name, f"must be at least 1, got {getattr(self, name)}")
        self._require(self.lr_scheduler in PPO_SCHEDULERS, "lr_scheduler",
                      f"must be one of {list(PPO_SCHEDULERS)}, got {self.lr_scheduler!r}")
        self._require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        self._require(self.temperature > 0, "temperature", f"must be positive, got {self.temperature}")
        self._require(self.kl_coef >= 0, "kl_coef", f"must be >= 0, got {self.kl_coef}")
        if self.batch_size % self.gradient_accumulation:
            self._fail("batch_size", f"{self.batch_size} is not a multiple of gradient_accumulation "
                                     f"({self.gradient_accumulation})")
        # TRL asserts this deep inside training; say it here, with the key to change.
        self._require(not self.whiten_rewards or self.batch_size >= 8, "whiten_rewards",
                      f"needs batch_size >= 8 to whiten, got {self.batch_size}")

    @property
    def per_device_batch_size(self) -> int:
        return self.batch_size // self.gradient_accumulation

    def rollout_batch(self, world_size: int = 1) -> int:
        """Prompts one PPO update consumes across all processes: TRL's `batch_size`."""
        return self.batch_size * world_size

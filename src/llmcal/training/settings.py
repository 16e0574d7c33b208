"""Settings of the alignment trainers, with the paper's hyper-parameters (Appendix A) as defaults.

DPO is not in the paper; its defaults (DPOSettings) are ours, chosen to match the paper's RLHF where the two
share a notion (LoRA r 16, alpha 32, dropout 0.05, three epochs) and TRL's DPO defaults elsewhere.

Each settings class is a config section (llmcal.sections.Section) built from a config mapping by
``from_dict(d, key)``; ``key`` is where the mapping sits in the config (e.g. ``alignment.instruction_tuning.lora``)
so that every error names the key a user has to edit. Values are coerced to the field's type because YAML
reads ``3e-4`` as a string.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from llmcal.registry import ConfigError
from llmcal.sections import Section, setting

# LLaMA's attention projections, Alpaca-LoRA's targets; GPT-NeoX (the mini preset) fuses them into query_key_value.
PAPER_LORA_TARGETS = ("q_proj", "v_proj")
SCHEDULERS = ("cosine", "linear")
PPO_SCHEDULERS = ("constant", "cosine", "linear")
DPO_LOSSES = ("sigmoid", "ipo", "hinge", "robust")


class _Settings(Section):
    """Checks shared by the settings dataclasses; from_dict and to_dict come from llmcal.sections.Section.

    No training field is runtime-only: with the global batch fixed, per_device_batch_size and
    gradient_checkpointing still change the order of floating-point sums, and over many optimizer steps that
    gives other weights (as threads do in pretraining); so each of them reruns the training it belongs to.
    """

    config_key: str

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, key: str):
        """The settings at config key `key`, which every later error (a batch that does not split) names too."""
        return super().from_dict(d, key, config_key=key)

    def _fail(self, name: str, message: str):
        raise ConfigError(f"{self.config_key}.{name}: {message}")

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
            self._fail(
                "warmup_steps",
                f"set either warmup_steps ({self.warmup_steps}) or warmup_ratio ({self.warmup_ratio}), not both",
            )

    def _accumulation(self, per_device: int, world_size: int) -> int:
        per_step = per_device * world_size
        if self.batch_size % per_step:
            self._fail(
                "batch_size",
                f"{self.batch_size} is not a multiple of per_device_batch_size x processes = "
                f"{per_device} x {world_size} = {per_step}, so no whole number of gradient "
                f"accumulation steps gives it",
            )
        return self.batch_size // per_step


class _TrainerSettings(_Settings):
    """What the two Trainer-based recipes (instruction tuning, reward modelling) share."""

    def _check_trainer_fields(self):
        self._require(
            self.lr_scheduler in SCHEDULERS,
            "lr_scheduler",
            f"must be one of {list(SCHEDULERS)}, got {self.lr_scheduler!r}",
        )
        self._require(
            self.per_device_batch_size >= 1,
            "per_device_batch_size",
            f"must be at least 1, got {self.per_device_batch_size}",
        )
        self._require(self.max_length >= 2, "max_length", f"must be at least 2, got {self.max_length}")

    def gradient_accumulation(self, world_size: int = 1) -> int:
        return self._accumulation(self.per_device_batch_size, world_size)

    def warmup(self) -> float:
        return self._warmup_value()


# The two instruction-tuning recipes of Table 2: Stanford-Alpaca (full) and Alpaca-LoRA (lora).
_SFT_METHOD_DEFAULTS = {
    "full": {
        "learning_rate": 2e-5,
        "lr_scheduler": "cosine",
        "per_device_batch_size": 4,
        "warmup_ratio": 0.03,
        "warmup_steps": 0,
    },
    "lora": {
        "learning_rate": 3e-4,
        "lr_scheduler": "linear",
        "per_device_batch_size": 16,
        "warmup_ratio": 0.0,
        "warmup_steps": 100,
    },
}


@dataclass(frozen=True)
class SFTSettings(_TrainerSettings):
    """Instruction tuning (Table 2). Fields left as None take the chosen method's paper value.

    batch_size is the global batch; gradient accumulation is derived from it, per_device_batch_size and the
    number of processes, as the paper's 4 GPUs x 4 (or 16) x 8 (or 2) = 128.
    """

    method: str = setting("full", "full fine-tuning or lora; set by the section's key (full: or lora:)")
    learning_rate: float | None = setting(None, "peak learning rate (default: the method's, 2e-5 full, 3e-4 lora)")
    lr_scheduler: str | None = setting(None, "learning-rate schedule, cosine or linear (default: the method's)")
    warmup_ratio: float | None = setting(None, "warm-up as a fraction of the steps (default: 0.03 full)")
    warmup_steps: int | None = setting(None, "warm-up in steps (default: 100 lora); set either this or warmup_ratio")
    epochs: int = setting(3, "passes over the instruction set, one checkpoint each")
    batch_size: int = setting(128, "global batch: per-device batch x processes x gradient accumulation")
    per_device_batch_size: int | None = setting(None, "examples per device and step (default: 4 full, 16 lora)")
    max_length: int = setting(2048, "longest prompt plus response in tokens; longer examples are cut")
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA scaling alpha")
    lora_dropout: float = setting(0.1, "dropout on the LoRA adapters")
    lora_target_modules: tuple[str, ...] = setting(PAPER_LORA_TARGETS, "modules LoRA adapts (mini: query_key_value)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    gradient_checkpointing: bool = setting(True, "recompute activations in the backward pass to save memory")
    seed: int = setting(1234, "seed of initialisation, data order and dropout")
    config_key: str = setting(
        "sft", "the config key these settings were read from", internal=True, compare=False, repr=False
    )

    def __post_init__(self):
        self._require(
            self.method in _SFT_METHOD_DEFAULTS,
            "method",
            f"must be one of {sorted(_SFT_METHOD_DEFAULTS)}, got {self.method!r}",
        )
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

    learning_rate: float = setting(2e-5, "peak learning rate")
    lr_scheduler: str = setting("cosine", "learning-rate schedule, cosine or linear")
    warmup_ratio: float = setting(0.0, "warm-up as a fraction of the steps")
    warmup_steps: int = setting(0, "warm-up in steps; set either this or warmup_ratio")
    epochs: int = setting(2, "passes over the training pairs")
    batch_size: int = setting(32, "global batch of pairs: per-device batch x processes x gradient accumulation")
    per_device_batch_size: int = setting(8, "pairs per device and step")
    max_length: int = setting(2048, "longest prompt plus response in tokens; longer pairs are cut")
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA scaling alpha")
    lora_dropout: float = setting(0.1, "dropout on the LoRA adapters")
    lora_target_modules: tuple[str, ...] = setting(PAPER_LORA_TARGETS, "modules LoRA adapts (mini: query_key_value)")
    heldout_fraction: float = setting(0.1, "share of the pairs (a seeded split) held out to measure accuracy")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    gradient_checkpointing: bool = setting(True, "recompute activations in the backward pass to save memory")
    seed: int = setting(1234, "seed of initialisation, the held-out split, data order and dropout")
    config_key: str = setting(
        "reward", "the config key these settings were read from", internal=True, compare=False, repr=False
    )

    def __post_init__(self):
        self._check_common()
        self._check_trainer_fields()
        self._require(
            0 <= self.heldout_fraction < 1, "heldout_fraction", f"must be in [0, 1), got {self.heldout_fraction}"
        )
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

    learning_rate: float = setting(1.4e-5, "learning rate of policy and value adapters")
    lr_scheduler: str = setting("constant", "learning-rate schedule: constant, cosine or linear")
    warmup_steps: int = setting(0, "warm-up in PPO updates")
    epochs: int = setting(3, "passes over the prompts, one checkpoint each")
    batch_size: int = setting(8, "prompts rolled out per PPO update on each process")
    # In PPO this sets the micro-batch size, so the number of optimizer steps per update: it changes results.
    gradient_accumulation: int = setting(8, "micro-batches per update (TRL 0.4's batch_size / mini_batch_size)")
    response_length: int = setting(128, "tokens generated per response")
    max_prompt_length: int = setting(512, "longest prompt in tokens; longer prompts are dropped")
    num_ppo_epochs: int = setting(4, "optimisation passes over each rollout batch")
    kl_coef: float = setting(0.2, "coefficient of the KL penalty to the reference policy")
    temperature: float = setting(1.0, "sampling temperature of the rollouts")
    cliprange: float = setting(0.2, "policy ratio clipping")
    cliprange_value: float = setting(0.2, "value clipping")
    vf_coef: float = setting(0.1, "weight of the value loss")
    gamma: float = setting(1.0, "discount factor")
    lam: float = setting(0.95, "GAE lambda")
    whiten_rewards: bool = setting(False, "whiten rewards per batch (needs batch_size >= 8)")
    missing_eos_penalty: float | None = setting(None, "reward penalty of a response without end of text (null: none)")
    lora_r: int = setting(16, "LoRA rank")
    lora_alpha: int = setting(32, "LoRA scaling alpha")
    lora_dropout: float = setting(0.05, "dropout on the LoRA adapters")
    lora_target_modules: tuple[str, ...] = setting(PAPER_LORA_TARGETS, "modules LoRA adapts (mini: query_key_value)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    seed: int = setting(1234, "seed of the rollouts' sampling and of training")
    config_key: str = setting(
        "ppo", "the config key these settings were read from", internal=True, compare=False, repr=False
    )

    def __post_init__(self):
        self._check_common()
        for name in ("gradient_accumulation", "response_length", "max_prompt_length", "num_ppo_epochs"):
            self._require(getattr(self, name) >= 1, name, f"must be at least 1, got {getattr(self, name)}")
        self._require(
            self.lr_scheduler in PPO_SCHEDULERS,
            "lr_scheduler",
            f"must be one of {list(PPO_SCHEDULERS)}, got {self.lr_scheduler!r}",
        )
        self._require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        self._require(self.temperature > 0, "temperature", f"must be positive, got {self.temperature}")
        self._require(self.kl_coef >= 0, "kl_coef", f"must be >= 0, got {self.kl_coef}")
        if self.batch_size % self.gradient_accumulation:
            self._fail(
                "batch_size",
                f"{self.batch_size} is not a multiple of gradient_accumulation ({self.gradient_accumulation})",
            )
        # TRL asserts this deep inside training; say it here, with the key to change.
        self._require(
            not self.whiten_rewards or self.batch_size >= 8,
            "whiten_rewards",
            f"needs batch_size >= 8 to whiten, got {self.batch_size}",
        )

    @property
    def per_device_batch_size(self) -> int:
        return self.batch_size // self.gradient_accumulation

    def rollout_batch(self, world_size: int = 1) -> int:
        """Prompts one PPO update consumes across all processes: TRL's `batch_size`."""
        return self.batch_size * world_size


@dataclass(frozen=True)
class DPOSettings(_TrainerSettings):
    """Direct preference optimisation (not in the paper: these defaults are ours), a LoRA adapter on the
    instruction-tuned checkpoint PPO starts from, trained on the comparison pairs the reward model learns from.

    The reference policy is that checkpoint (TRL's adapter switched off). heldout_fraction and split_seed
    default to the reward model's, so DPO trains on exactly the reward model's training pairs; the held-out
    pairs measure each epoch's preference accuracy (implicit reward of chosen > rejected).
    """

    learning_rate: float = setting(5e-5, "peak learning rate (ours; LoRA DPO recipes use 5e-6 to 5e-4)")
    lr_scheduler: str = setting("cosine", "learning-rate schedule, cosine or linear")
    warmup_ratio: float = setting(0.1, "warm-up as a fraction of the steps")
    warmup_steps: int = setting(0, "warm-up in steps; set either this or warmup_ratio")
    epochs: int = setting(3, "passes over the training pairs, one checkpoint each")
    batch_size: int = setting(32, "global batch of pairs: per-device batch x processes x gradient accumulation")
    per_device_batch_size: int = setting(4, "pairs per device and step (each pair is two sequences)")
    max_length: int = setting(1024, "longest prompt plus response in tokens; longer pairs are left out, and logged")
    beta: float = setting(0.1, "DPO's beta: strength of the implicit KL constraint to the reference policy")
    loss_type: str = setting("sigmoid", "DPO loss: sigmoid (the DPO paper's), ipo, hinge or robust")
    label_smoothing: float = setting(0.0, "assumed share of flipped preference labels (cDPO / robust DPO)")
    lora_r: int = setting(16, "LoRA rank (as the paper's RLHF)")
    lora_alpha: int = setting(32, "LoRA scaling alpha (as the paper's RLHF)")
    lora_dropout: float = setting(0.05, "dropout on the LoRA adapters (as the paper's RLHF)")
    lora_target_modules: tuple[str, ...] = setting(PAPER_LORA_TARGETS, "modules LoRA adapts (mini: query_key_value)")
    heldout_fraction: float = setting(0.1, "share of the pairs held out (default: the reward model's)")
    split_seed: int = setting(1234, "seed of the held-out split (default: the reward model's seed)")
    weight_decay: float = setting(0.0, "AdamW weight decay")
    gradient_checkpointing: bool = setting(True, "recompute activations in the backward pass to save memory")
    seed: int = setting(1234, "seed of the adapter's initialisation, data order and dropout")
    config_key: str = setting(
        "dpo", "the config key these settings were read from", internal=True, compare=False, repr=False
    )

    def __post_init__(self):
        self._check_common()
        self._check_trainer_fields()
        self._check_warmup()
        self._require(self.beta > 0, "beta", f"must be positive, got {self.beta}")
        self._require(
            self.loss_type in DPO_LOSSES, "loss_type", f"must be one of {list(DPO_LOSSES)}, got {self.loss_type!r}"
        )
        self._require(
            0 <= self.label_smoothing < 0.5, "label_smoothing", f"must be in [0, 0.5), got {self.label_smoothing}"
        )
        self._require(
            0 <= self.heldout_fraction < 1, "heldout_fraction", f"must be in [0, 1), got {self.heldout_fraction}"
        )

    @property
    def method(self) -> str:
        """DPO always trains a LoRA adapter (exported merged, like instruction tuning's lora method)."""
        return "lora"

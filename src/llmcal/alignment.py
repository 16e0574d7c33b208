"""The alignment stage a config describes (section 6): instruction sets, training runs and the models they make.

The config's ``alignment`` section (see config.yaml for the paper and config/mini.yaml for the miniature)::

    alignment:
      base: llama-7b                     # a model of `models`: what instruction tuning starts from
      data:                              # where each set comes from: hub, url, local or mini
        alpaca: {source: hub, repo: tatsu-lab/alpaca}
        oasst: {source: hub, repo: OpenAssistant/oasst1}
        comparison: {source: url, url: https://.../comparison_data_v2.json}
        n: null                          # examples per instruction set; null: the smaller set's size
      instruction_tuning:
        runs: [{data: alpaca, method: full}, {data: oasst, method: lora}, ...]
        full: {...}                      # SFTSettings overrides for method full (Table 2)
        lora: {...}                      # ... and for method lora
      reward: {...}                      # RewardSettings (Table 3)
      rlhf: {from: alpaca-full, epoch: 3, ppo: {...}}   # PPO on that run's epoch (PPOSettings)
                                         # n_prompts: a seeded subset of the Alpaca prompts (default: all)
                                         # dpo: {...} adds DPO from the same epoch (DPOSettings; not in
                                         # the paper) on the reward model's training pairs
      launch: {num_processes: 1}         # >1 trains through `accelerate launch`; per stage, e.g.
                                         # full: {config_file: config/accelerate/fsdp_llama.yaml}
      embedder: {hub: sentence-transformers/all-mpnet-base-v2}   # or {package: ...}, {path: ...}
      diversity: {n: 2000, n_boot: 200}
      rlhf_margin: 0.01                  # F6's non-inferiority margin on ECE

Each run's epoch checkpoints become models of the study, named ``{base}-{data}-{method}-e{k}`` and
``{base}-ppo-e{k}`` (and ``{base}-dpo-e{k}``), scored with the instruction prompts of Table 1. This module is the one place that reads
the section; the Snakefile, the findings and the figures ask it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmcal.layout import Layout
from llmcal.registry import ConfigError, ModelSpec

INSTRUCTION_SETS = ("alpaca", "oasst")
DATA_SETS = INSTRUCTION_SETS + ("comparison",)
METHODS = ("full", "lora")
DATA_SOURCES = ("hub", "url", "local", "mini")
# The released file each set is read from, also the name the mini world writes.
RAW_FILES = {"alpaca": "alpaca_data.json", "oasst": "oasst.jsonl", "comparison": "comparison_data_v2.json"}
# What a hub snapshot of each set needs.
HUB_PATTERNS = {
    "alpaca": ["*.parquet", "data/*.parquet"],
    "oasst": ["*.parquet", "data/*.parquet"],
    "comparison": ["*.json"],
}
# Which sets are synthetic (self-instruct) rather than human-written, for finding F4.
SYNTHETIC = {"alpaca": True, "oasst": False}
SET_LABELS = {"alpaca": "Alpaca", "oasst": "OpenAssistant"}
LAUNCH_STAGES = ("full", "lora", "reward", "ppo", "dpo")
# The preference-optimisation methods that start from an instruction-tuned checkpoint (alignment.rlhf); PPO is
# the paper's, DPO is beyond it.
PREFERENCE_METHODS = {"ppo": "PPO", "dpo": "DPO"}


@dataclass(frozen=True)
class Run:
    """One training run of the stage; its epochs are models of the study."""

    name: str  # alpaca-full, oasst-lora, ppo, dpo
    stage: str  # sft, ppo or dpo
    data: str  # the instruction set it trains on (PPO: the set its prompts come from; DPO: comparison)
    method: str  # full, lora, ppo or dpo
    epochs: int
    models: tuple[str, ...]  # model names, epoch 1 first
    settings: dict = field(compare=False, hash=False)

    @property
    def label(self) -> str:
        if self.stage in PREFERENCE_METHODS:
            return PREFERENCE_METHODS[self.stage]
        return f"{SET_LABELS.get(self.data, self.data)} {self.method}"

    @property
    def synthetic(self) -> bool:
        return SYNTHETIC.get(self.data, False)


@dataclass(frozen=True)
class AlignmentPlan:
    base: str
    data: dict
    sft_runs: tuple[Run, ...]
    reward: dict
    ppo: Run | None
    ppo_from: tuple[str, int] | None  # (run name, epoch) PPO (and DPO) start from
    ppo_prompts: int | None  # how many Alpaca prompts PPO rolls out per epoch (None: all)
    launch: dict
    embedder: dict
    diversity: dict
    rlhf_margin: float
    dpo: Run | None = None

    @property
    def runs(self) -> tuple[Run, ...]:
        return self.sft_runs + self.preference_runs

    @property
    def preference_runs(self) -> tuple[Run, ...]:
        """PPO, then DPO: the runs that start from the instruction-tuned checkpoint `ppo_from` names."""
        return tuple(r for r in (self.ppo, self.dpo) if r is not None)

    @property
    def paper_runs(self) -> tuple[Run, ...]:
        """The runs of the paper's section 6 (instruction tuning and PPO): what findings F3-F8 are about."""
        return self.sft_runs + ((self.ppo,) if self.ppo else ())

    def run(self, name: str) -> Run:
        for r in self.runs:
            if r.name == name:
                return r
        raise ConfigError(f"alignment: no run named {name!r} (runs: {[r.name for r in self.runs]})")

    def launch_for(self, stage: str) -> dict:
        """How a stage (full, lora, reward, ppo) is launched: the section's defaults, then its own keys."""
        common = {k: v for k, v in self.launch.items() if k not in LAUNCH_STAGES}
        return {**common, **(self.launch.get(stage) or {})}

    def ppo_start_model(self) -> str:
        name, epoch = self.ppo_from
        return self.run(name).models[epoch - 1]


def plan_alignment(section: dict, models: dict[str, ModelSpec]) -> AlignmentPlan:
    """Check the section against the study's models and name every run and checkpoint."""
    from llmcal.training.settings import DPOSettings, PPOSettings, RewardSettings, SFTSettings

    base = section.get("base")
    if base not in models:
        raise ConfigError(f"alignment.base: {base!r} is not a model in `models`")
    if models[base].arch != "causal":
        raise ConfigError(f"alignment.base: {base!r} is {models[base].arch}; the alignment stage tunes causal LMs")
    data = _data_section(section.get("data") or {})
    launch = dict(section.get("launch") or {})
    processes = _launch_processes(launch)
    tuning = section.get("instruction_tuning") or {}
    runs_cfg = tuning.get("runs") or [{"data": d, "method": m} for d in INSTRUCTION_SETS for m in METHODS]
    sft_runs = []
    for i, r in enumerate(runs_cfg):
        key = f"alignment.instruction_tuning.runs[{i}]"
        if r.get("data") not in INSTRUCTION_SETS:
            raise ConfigError(f"{key}.data: {r.get('data')!r} is not one of {INSTRUCTION_SETS}")
        if r.get("method") not in METHODS:
            raise ConfigError(f"{key}.method: {r.get('method')!r} is not one of {METHODS}")
        method = r["method"]
        settings = _settings(
            SFTSettings, {**(tuning.get(method) or {}), "method": method}, f"alignment.instruction_tuning.{method}"
        )
        _check_batch(settings, processes[method])
        name = f"{r['data']}-{method}"
        if any(s.name == name for s in sft_runs):
            raise ConfigError(f"{key}: run {name!r} is listed twice")
        sft_runs.append(
            Run(
                name,
                "sft",
                r["data"],
                method,
                settings.epochs,
                tuple(f"{base}-{name}-e{k}" for k in range(1, settings.epochs + 1)),
                settings.to_dict(),
            )
        )
    reward_settings = _settings(RewardSettings, section.get("reward"), "alignment.reward")
    _check_batch(reward_settings, processes["reward"])
    reward = reward_settings.to_dict()
    ppo, ppo_from, ppo_prompts, dpo = None, None, None, None
    rlhf = section.get("rlhf")
    if rlhf:
        start = rlhf.get("from", "alpaca-full")
        source = next((r for r in sft_runs if r.name == start), None)
        if source is None:
            raise ConfigError(
                f"alignment.rlhf.from: {start!r} is not an instruction-tuning run ({[r.name for r in sft_runs]})"
            )
        epoch = int(rlhf.get("epoch", source.epochs))
        if not 1 <= epoch <= source.epochs:
            raise ConfigError(f"alignment.rlhf.epoch: {epoch} is outside run {start!r}'s epochs 1-{source.epochs}")
        settings = _settings(PPOSettings, rlhf.get("ppo"), "alignment.rlhf.ppo")
        ppo = Run(
            "ppo",
            "ppo",
            source.data,
            "ppo",
            settings.epochs,
            tuple(f"{base}-ppo-e{k}" for k in range(1, settings.epochs + 1)),
            settings.to_dict(),
        )
        ppo_from = (start, epoch)
        ppo_prompts = rlhf.get("n_prompts")
        if rlhf.get("dpo") is not None:
            # By default DPO trains on exactly the reward model's training pairs (its held-out split).
            given = dict(rlhf.get("dpo") or {})
            given.setdefault("heldout_fraction", reward_settings.heldout_fraction)
            given.setdefault("split_seed", reward_settings.seed)
            dpo_settings = _settings(DPOSettings, given, "alignment.rlhf.dpo")
            _check_batch(dpo_settings, processes["dpo"])
            dpo = Run(
                "dpo",
                "dpo",
                "comparison",
                "dpo",
                dpo_settings.epochs,
                tuple(f"{base}-dpo-e{k}" for k in range(1, dpo_settings.epochs + 1)),
                dpo_settings.to_dict(),
            )
    embedder = dict(section.get("embedder") or {"hub": "sentence-transformers/all-mpnet-base-v2"})
    if len([k for k in ("hub", "package", "path") if embedder.get(k)]) != 1:
        raise ConfigError(f"alignment.embedder: give exactly one of hub, package or path, got {embedder}")
    plan = AlignmentPlan(
        base,
        data,
        tuple(sft_runs),
        reward,
        ppo,
        ppo_from,
        ppo_prompts,
        launch,
        embedder,
        dict(section.get("diversity") or {}),
        float(section.get("rlhf_margin", 0.01)),
        dpo,
    )
    taken = [m for r in plan.runs for m in r.models if m in models]
    if taken:
        raise ConfigError(f"alignment: checkpoint name(s) {taken} clash with models of `models`")
    return plan


def _settings(cls, d, key):
    try:
        return cls.from_dict(d, key)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _launch_processes(launch: dict) -> dict[str, int]:
    """Processes per stage, checked: the section's num_processes unless a stage sets its own."""
    out = {}
    for stage in LAUNCH_STAGES:
        own = launch.get(stage) or {}
        n = int(own.get("num_processes", launch.get("num_processes", 1)))
        if n < 1:
            key = (
                f"alignment.launch.{stage}.num_processes"
                if "num_processes" in own
                else "alignment.launch.num_processes"
            )
            raise ConfigError(f"{key}: must be at least 1")
        out[stage] = n
    return out


def _check_batch(settings, processes: int) -> None:
    """The global batch must split into whole accumulation steps over the configured processes: say so now."""
    try:
        settings.gradient_accumulation(processes)
    except ValueError as e:
        raise ConfigError(f"{e} (alignment.launch.num_processes is {processes})") from None


def _data_section(d: dict) -> dict:
    out = {"n": d.get("n"), "allow_fewer": bool(d.get("allow_fewer", False))}
    for name in DATA_SETS:
        cfg = dict(d.get(name) or {"source": "mini"})
        key = f"alignment.data.{name}"
        src = cfg.get("source")
        if src not in DATA_SOURCES:
            raise ConfigError(f"{key}.source: {src!r} is not one of {DATA_SOURCES}")
        need = {"hub": "repo", "url": "url", "local": "local"}.get(src)
        if need and not cfg.get(need):
            raise ConfigError(f"{key}.{need}: source is {src!r} but no {need} is given")
        out[name] = cfg
    if out["n"] is not None and int(out["n"]) < 1:
        raise ConfigError("alignment.data.n: must be at least 1 (or null for the smaller set's size)")
    return out


def aligned_models(plan: AlignmentPlan, base: ModelSpec) -> dict[str, ModelSpec]:
    """The checkpoints of every run as study models: scored with instruction prompts, like the paper."""
    out = {}
    for run in plan.runs:
        for epoch, name in enumerate(run.models, start=1):
            out[name] = ModelSpec(
                name=name,
                family=f"{base.family}-aligned",
                size=f"{run.label} e{epoch}",
                arch="causal",
                entry=name,
                run=run.name,
                epoch=epoch,
                prompt="instruct",
                params=base.params,
            )
    return out


def raw_dir(layout: Layout, data_cfg: dict, name: str) -> Path:
    """Where a set lands before conversion (the mini sets are written together from the world)."""
    src = data_cfg[name]["source"]
    if src == "local":
        return Path(data_cfg[name]["local"])
    return Path(layout.raw_instructions_dir("mini" if src == "mini" else name))


def raw_path(layout: Layout, data_cfg: dict, name: str) -> Path:
    """What the reader of a set opens: the released file, or a hub snapshot folder."""
    src = data_cfg[name]["source"]
    where = raw_dir(layout, data_cfg, name)
    if src == "mini":
        return where / RAW_FILES[name]
    if src == "url":
        from llmcal.data.download import url_filename

        return where / url_filename(data_cfg[name]["url"])
    return where


def download_spec(data_cfg: dict, name: str) -> dict:
    cfg = data_cfg[name]
    if cfg["source"] == "hub":
        return {
            "source": "hub",
            "repo": cfg["repo"],
            "revision": cfg.get("revision"),
            "allow_patterns": cfg.get("allow_patterns", HUB_PATTERNS[name]),
        }
    if cfg["source"] == "url":
        return {"source": "url", "url": cfg["url"]}
    raise ConfigError(f"alignment.data.{name}.source: {cfg['source']!r} is not downloaded")

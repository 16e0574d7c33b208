"""The study a config describes: models, figures, data locations and file layout.

rules/common.smk is a thin layer over this module, so that the DAG's shape can
be checked by tests without Snakemake and every path has one definition.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from llmcal import alignment as al
from llmcal import resources as res
from llmcal.data.miniworld import WorldConfig
from llmcal.layout import Layout
from llmcal.metrics import MetricsConfig
from llmcal.models.pretrain import PretrainConfig
from llmcal.registry import ConfigError, ModelSpec, checkpoint_steps, expand_models
from llmcal.scoring.config import ScoringConfig

TASKS = ("clm", "facts", "mmlu")
FIGURE_KINDS = ("reliability", "scale", "steps", "confidence_hist", "alignment", "diversity")
ALIGNMENT_METRICS = ("ece", "accuracy")


@dataclass(frozen=True)
class Figure:
    name: str
    kind: str
    models: tuple[str, ...]
    task: str | None = None
    title: str | None = None
    metric: str | None = None


class Study:
    def __init__(self, config: dict):
        self.config = config
        self.results = Path(config["results"])
        self.layout = Layout(self.results)
        self.seed = int(config.get("seed", 1234))
        # Every section is built here, so that each of their errors stops the workflow before any job runs.
        self.scoring = ScoringConfig.from_dict(config.get("scoring"))
        self.metrics = MetricsConfig.from_dict(config.get("metrics"))
        self.pretrain = PretrainConfig.from_dict(config.get("pretrain"))
        self.world = WorldConfig.from_dict(config.get("world"))
        self.tasks = tuple(config.get("tasks", TASKS))
        for t in self.tasks:
            if t not in TASKS:
                raise ConfigError(f"tasks: {t!r} is not one of {TASKS}")
        pre = config.get("pretrain") or {}
        self.pretrain_steps = int(pre["steps"]) if "steps" in pre else None
        self.models: dict[str, ModelSpec] = expand_models(config["models"], self.pretrain_steps)
        if any(m.source == "mini" for m in self.models.values()) and self.pretrain_steps is None:
            raise ConfigError("pretrain.steps: the config has mini-suite models but no pretrain section")
        self._check_mini_steps()
        self.alignment: al.AlignmentPlan | None = None  # builds each training stage's settings
        if config.get("alignment"):
            self.alignment = al.plan_alignment(config["alignment"], self.models)
            self.models.update(al.aligned_models(self.alignment, self.models[self.alignment.base]))
        self.figures = [self._figure(i, f) for i, f in enumerate(config.get("figures", []))]
        self._check_settings()

    def results_config(self) -> dict:
        """The config less its runtime-only fields: the `params:` of a job that reads the whole config (findings),
        so that changing how jobs batch reruns nothing."""
        out = copy.deepcopy(self.config)
        for section in (ScoringConfig, MetricsConfig, PretrainConfig, WorldConfig):
            for name in section.runtime_only_fields():
                (out.get(section.section) or {}).pop(name, None)
        return out

    # settings that only make sense together, checked while the DAG is built ---------------------------------

    def _check_settings(self) -> None:
        """Cross-field rules: a config that would fail (or run silently wrong) hours in fails here instead."""
        max_length, min_context = self.scoring.max_length, self.scoring.min_context
        if max_length <= min_context:
            raise ConfigError(f"scoring.max_length: {max_length} leaves no room for min_context {min_context} plus "
                              f"the prompt; raise scoring.max_length or lower scoring.min_context")
        self._check_context_windows(max_length)
        world = self.world if self._uses_world() else None
        for m in self.models.values():
            if m.source == "mini":
                self._check_mini_arch(m)
                seq_len = self.pretrain.seq_len
                if max_length > seq_len:
                    raise ConfigError(f"scoring.max_length: {max_length} exceeds the context window of mini model "
                                      f"{m.name} (pretrain.seq_len {seq_len} positions); set scoring.max_length <= "
                                      f"{seq_len}")
        self._check_training_lengths()
        mmlu = (self.config.get("data") or {}).get("mmlu") or {}
        if world is not None and "mmlu" in self.tasks and mmlu.get("source") == "mini":
            shots = int(mmlu.get("n_shots", 5))
            if shots > world.mmlu_dev_per_subject:
                raise ConfigError(f"data.mmlu.n_shots: {shots} shots asked but the mini world writes "
                                  f"world.mmlu_dev_per_subject = {world.mmlu_dev_per_subject} dev examples per "
                                  f"subject; lower n_shots or raise world.mmlu_dev_per_subject")

    def _check_context_windows(self, max_length: int) -> None:
        """Models already on disk (a `path:`, a downloaded hub checkpoint): max_length within their window.

        Hub checkpoints not yet downloaded are checked by their scoring job, before it loads the weights.
        """
        from llmcal.models.load import check_max_length

        for m in self.models.values():
            if m.source in ("hub", "local") and (self.model_dir(m.name) / "config.json").is_file():
                try:
                    check_max_length(self.model_dir(m.name), max_length)
                except ValueError as e:
                    raise ConfigError(f"{e} (model {m.name})") from None

    def _check_training_lengths(self) -> None:
        """Tuning a mini base on sequences longer than it was pretrained on would train untrained positions."""
        plan = self.alignment
        if plan is None or self.models[plan.base].source != "mini":
            return
        seq_len = self.pretrain.seq_len
        stages = [(f"alignment.instruction_tuning.{r.method}", r.settings) for r in plan.sft_runs]
        stages.append(("alignment.reward", plan.reward))
        for key, settings in stages:
            length = int(settings.get("max_length", 0) or 0)
            if length > seq_len:
                raise ConfigError(f"{key}.max_length: {length} exceeds the context window of the base {plan.base} "
                                  f"(pretrain.seq_len {seq_len} positions); set it <= {seq_len}")
        if plan.ppo is not None:
            ppo = plan.ppo.settings
            length = int(ppo["max_prompt_length"]) + int(ppo["response_length"])
            if length > seq_len:
                raise ConfigError(f"alignment.rlhf.ppo.max_prompt_length: {ppo['max_prompt_length']} plus "
                                  f"response_length {ppo['response_length']} exceeds the context window of the base "
                                  f"{plan.base} (pretrain.seq_len {seq_len} positions); lower either")

    def _uses_world(self) -> bool:
        data = self.config.get("data") or {}
        return any((data.get(t) or {}).get("source") == "mini" for t in self.tasks) or bool(self.config.get("world"))

    @staticmethod
    def _check_mini_arch(m: ModelSpec) -> None:
        hidden, heads = int(m.mini["hidden_size"]), int(m.mini["num_heads"])
        if hidden % heads:
            raise ConfigError(f"models ({m.entry}).mini.hidden_size: {hidden} is not divisible by num_heads {heads}; "
                              f"each attention head needs a whole share of the hidden size")

    # models -------------------------------------------------------------------------------------------------

    def _check_mini_steps(self) -> None:
        saved = set(self.mini_save_steps())
        for m in self.models.values():
            if m.source == "mini" and m.step not in saved:
                raise ConfigError(
                    f"models ({m.entry}).steps: mini checkpoint step {m.step} is not saved; "
                    f"pretraining saves steps {sorted(saved)}"
                )

    def mini_save_steps(self) -> list[int]:
        return checkpoint_steps(self.pretrain_steps) if self.pretrain_steps else []

    def mini_entries(self) -> dict[str, dict]:
        """Mini architectures by config entry name: each is pretrained once, all checkpoints saved."""
        return {m.entry: m.mini for m in self.models.values() if m.source == "mini"}

    def hub_models(self) -> list[ModelSpec]:
        seen, out = set(), []
        for m in self.models.values():
            if m.source == "hub" and (m.hub, m.revision) not in seen:
                seen.add((m.hub, m.revision))
                out.append(m)
        return out

    def model_dir(self, name: str) -> Path:
        return Path(self.layout.model_dir(self.models[name]))

    def resolve_models(self, names, key: str) -> tuple[str, ...]:
        """Model names, where a config entry's name stands for all of its checkpoints."""
        out = []
        for n in names:
            if n in self.models:
                out.append(n)
                continue
            expanded = [m.name for m in self.models.values() if m.entry == n]
            if not expanded:
                raise ConfigError(f"{key}: {n!r} is neither a model nor a model entry in `models`")
            out.extend(sorted(expanded, key=lambda x: self.models[x].step or 0))
        return tuple(out)

    # figures ------------------------------------------------------------------------------------------------

    def _figure(self, i: int, f: dict) -> Figure:
        key = f"figures[{i}] ({f.get('name', '?')})"
        if f.get("kind") not in FIGURE_KINDS:
            raise ConfigError(f"{key}.kind: {f.get('kind')!r} is not one of {FIGURE_KINDS}")
        if f["kind"] in ("alignment", "diversity"):
            return self._alignment_figure(key, f)
        if not f.get("models"):
            raise ConfigError(f"{key}.models: a {f['kind']} figure needs a list of models")
        models = self.resolve_models(f["models"], f"{key}.models")
        if f["kind"] == "reliability" and len(models) != 1:
            raise ConfigError(f"{key}.models: a reliability figure shows exactly one model, got {len(models)}")
        if f["kind"] == "steps":
            no_step = [m for m in models if self.models[m].step is None]
            if no_step:
                raise ConfigError(f"{key}.models: {no_step} have no training step to plot against")
        task = f.get("task")
        if f["kind"] == "confidence_hist":
            task = task or "mmlu"
        if task is not None and task not in self.tasks:
            raise ConfigError(f"{key}.task: {task!r} is not among the run's tasks {self.tasks}")
        return Figure(name=f["name"], kind=f["kind"], models=models, task=task, title=f.get("title"))

    def _alignment_figure(self, key: str, f: dict) -> Figure:
        if self.alignment is None:
            raise ConfigError(f"{key}.kind: a {f['kind']} figure needs the config's `alignment` section")
        if f["kind"] == "diversity":
            return Figure(name=f["name"], kind="diversity", models=(), title=f.get("title"))
        metric = f.get("metric", "ece")
        if metric not in ALIGNMENT_METRICS:
            raise ConfigError(f"{key}.metric: {metric!r} is not one of {ALIGNMENT_METRICS}")
        models = (self.alignment.base,) + tuple(m for r in self.alignment.runs for m in r.models)
        return Figure(name=f["name"], kind="alignment", models=models, title=f.get("title"), metric=metric)

    def alignment_groups(self) -> list[dict]:
        """Figures 5 and 12's bar groups: the base model, then each run's epochs."""
        plan = self.alignment
        return [{"label": f"Base ({plan.base})", "models": [plan.base]}] + [
            {"label": r.label, "models": list(r.models)} for r in plan.runs]

    def figure(self, name: str) -> Figure:
        for f in self.figures:
            if f.name == name:
                return f
        raise ConfigError(f"figures: no figure named {name!r}")

    # paths --------------------------------------------------------------------------------------------------

    def data_file(self, task: str) -> str:
        return self.layout.data_file(task)

    def score_file(self, task: str, model: str) -> str:
        return self.layout.score_file(task, model)

    def all_scores(self) -> list[str]:
        return [self.score_file(t, m) for m in self.models for t in self.tasks]

    def score_rows(self) -> list[dict]:
        """Which model and task each file of all_scores() belongs to, in the same order."""
        return [{"model": m, "family": s.family, "size": s.size, "step": s.step, "run": s.run, "epoch": s.epoch,
                 "task": t} for m, s in self.models.items() for t in self.tasks]

    def figure_scores(self, name: str) -> dict[str, str]:
        """A figure's per-sample files, keyed "model|task" (Snakemake params must be plain data)."""
        fig = self.figure(name)
        if fig.kind in ("alignment", "diversity"):
            return {}  # drawn from the metrics table / the diversity files
        tasks = [fig.task] if fig.task else self.tasks
        return {f"{m}|{t}": self.score_file(t, m) for m in fig.models for t in tasks}

    def figure_groups(self, name: str) -> list[dict] | None:
        return self.alignment_groups() if self.figure(name).kind == "alignment" else None

    def figure_labels(self, name: str) -> dict[str, str]:
        return {m: self.models[m].size for m in self.figure(name).models}

    def figure_inputs(self, name: str) -> dict[str, object]:
        if self.figure(name).kind == "diversity":
            return {"diversity": self.diversity_files()}
        return {"metrics": self.metrics_file(), "scores": list(self.figure_scores(name).values())}

    def figure_file(self, name: str) -> str:
        return self.layout.figure_file(name)

    def metrics_file(self) -> str:
        return self.layout.metrics_file()

    # resources ----------------------------------------------------------------------------------------------

    def job_resources(self, rule: str, model: str | None = None, task: str | None = None,
                      run: str | None = None) -> dict:
        """What one job asks a cluster for: {gpu, mem_mb, cpus_per_task, runtime}; see llmcal.resources."""
        cfg = {"gpu": True, "gpu_mem_gb": 80.0, "precision": "bfloat16", **(self.config.get("resources") or {})}
        common = {"gpu": bool(cfg["gpu"]), "gpu_mem_gb": float(cfg["gpu_mem_gb"])}
        precision = cfg["precision"]
        if rule == "score":
            spec = self.models[model]
            return res.job_resources("score", spec.params or 0.0, precision, samples=self._samples(task), **common)
        if rule in ("sft", "reward", "ppo"):
            plan = self._plan()
            base = self.models[plan.base].params or 0.0
            examples = plan.data["n"] or 10_000

            def processes(stage: str) -> int:
                return int(plan.launch_for(stage).get("num_processes", 1))

            if rule == "sft":
                r = plan.run(run)
                return res.job_resources(r.method, base, precision, processes=processes(r.method), epochs=r.epochs,
                                         examples=examples, **common)
            if rule == "reward":
                return res.job_resources("reward", base, precision, processes=processes("reward"),
                                         epochs=plan.reward["epochs"], examples=examples, **common)
            return res.job_resources("ppo", base, precision, processes=processes("ppo"), epochs=plan.ppo.epochs,
                                     examples=plan.ppo_prompts or examples, **common)
        return res.job_resources("cpu", 0.0)

    def _samples(self, task: str) -> int:
        # MMLU's test split has 14,042 questions; the others are sampled to `n`.
        return int(self.data_config(task).get("n") or 14_042)

    # data ---------------------------------------------------------------------------------------------------

    def data_config(self, task: str) -> dict:
        try:
            return self.config["data"][task]
        except KeyError:
            raise ConfigError(f"data.{task}: missing; every task in `tasks` needs a data section") from None

    def raw_dir(self, task: str) -> str:
        """Where the data of a task lands before sampling (the mini world is shared by all tasks)."""
        if self.data_config(task)["source"] == "mini":
            return self.layout.world_dir()
        return self.layout.raw_dir(task)

    def raw_files(self, task: str) -> dict:
        """What the reader of a task opens, by source: {"inputs": [...] for Snakemake, "read": {...}}."""
        cfg = self.data_config(task)
        src = cfg["source"]
        key = f"data.{task}"
        if src == "mini":
            world = Path(self.raw_dir(task))
            read = {
                "clm": {"files": {"val": str(world / "pile" / "val.jsonl"), "test": str(world / "pile" / "test.jsonl")}},
                "facts": {"paths": [str(world / "trex")]},
                "mmlu": {"root": str(world / "mmlu" / "data"), "layout": "csv"},
            }[task]
            return {"inputs": [str(world)], "read": read}
        if src == "local":
            local = cfg.get("local")
            if not local:
                raise ConfigError(f"{key}.local: source is 'local' but no local path is given")
            if task == "clm":
                if not isinstance(local, dict):
                    raise ConfigError(f"{key}.local: give the Pile files by split, e.g. {{val: ..., test: ...}}")
                return {"inputs": list(local.values()), "read": {"files": dict(local)}}
            if task == "facts":
                return {"inputs": [local], "read": {"paths": [local]}}
            # Hendrycks' CSV folders or the cais/mmlu parquet: detected from the files present.
            return {"inputs": [local], "read": {"root": local, "layout": "auto"}}
        if src not in ("hub", "url"):
            raise ConfigError(f"{key}.source: {src!r} is not one of hub, url, local, mini")
        raw = Path(self.raw_dir(task))
        if task == "clm":
            if src != "hub" or "hub" not in cfg:
                raise ConfigError(f"{key}: the Pile comes from the hub (source: hub with hub.repo and hub.files)")
            files = {split: str(raw / name) for split, name in cfg["hub"]["files"].items()}
            return {"inputs": [str(raw)], "read": {"files": files}}
        if task == "facts":
            return {"inputs": [str(raw)], "read": {"paths": [str(raw)]}}
        layout = "hub" if src == "hub" else "auto"
        return {"inputs": [str(raw)], "read": {"root": str(raw), "layout": layout}}

    def download_spec(self, task: str) -> dict:
        """The argument of llmcal.data.download.download_dataset for a hub/url task."""
        cfg = self.data_config(task)
        src = cfg["source"]
        if src == "hub":
            hub = cfg.get("hub") or {}
            if "repo" not in hub:
                raise ConfigError(f"data.{task}.hub.repo: missing")
            spec = {"source": "hub", "repo": hub["repo"]}
            if "files" in hub:
                files = hub["files"]
                spec["files"] = list(files.values()) if isinstance(files, dict) else list(files)
            else:
                spec["allow_patterns"] = hub.get("allow_patterns")
            return spec
        if src == "url":
            if not cfg.get("url"):
                raise ConfigError(f"data.{task}.url: source is 'url' but no url is given")
            return {"source": "url", "url": cfg["url"], "unzip": bool(cfg.get("unzip", False))}
        raise ConfigError(f"data.{task}.source: {src!r} is not downloaded")

    def downloaded_tasks(self) -> list[str]:
        return [t for t in self.tasks if self.data_config(t)["source"] in ("hub", "url")]

    def download_targets(self) -> list[str]:
        """Everything that needs the internet: raw data of hub/url tasks and every hub checkpoint."""
        raw = [self.raw_dir(t) for t in self.downloaded_tasks()]
        hub = [self.layout.model_dir(m) for m in self.hub_models()]
        if self.alignment:
            plan = self.alignment
            raw += [str(al.raw_dir(self.layout, plan.data, n)) for n in al.DATA_SETS
                    if plan.data[n]["source"] in ("hub", "url")]
            hub += self.embedder_inputs()
        return raw + hub

    # alignment ----------------------------------------------------------------------------------------------

    def _plan(self) -> al.AlignmentPlan:
        if self.alignment is None:
            raise ConfigError("alignment: the config has no alignment section")
        return self.alignment

    def instruction_table(self, name: str) -> str:
        """alpaca, oasst (tuning sets), comparison (reward pairs) or ppo_prompts, canonical and seeded."""
        return self.layout.instruction_table(name)

    def instruction_tables(self) -> dict[str, str]:
        return {n: self.instruction_table(n) for n in al.INSTRUCTION_SETS + ("comparison", "ppo_prompts")}

    def instruction_raw(self) -> dict[str, str]:
        """What each set's reader opens."""
        plan = self._plan()
        return {n: str(al.raw_path(self.layout, plan.data, n)) for n in al.DATA_SETS}

    def instruction_raw_inputs(self) -> list[str]:
        plan = self._plan()
        return sorted({str(al.raw_dir(self.layout, plan.data, n)) for n in al.DATA_SETS})

    def instruction_download_spec(self, name: str) -> dict:
        return al.download_spec(self._plan().data, name)

    def mini_instructions_dir(self) -> str:
        return self.layout.raw_instructions_dir("mini")

    def run_epoch_dirs(self, run: str) -> list[str]:
        return [str(self.model_dir(m)) for m in self._plan().run(run).models]

    def run_state_dir(self, run: str) -> str:
        return self.layout.run_state_dir(run)

    def reward_dir(self) -> str:
        return self.layout.reward_dir()

    def reward_metrics_file(self) -> str:
        return self.layout.reward_metrics_file()

    def ppo_policy_dir(self) -> str:
        return str(self.model_dir(self._plan().ppo_start_model()))

    def embedder_spec(self) -> dict:
        """The sentence encoder as llmcal.diversity.embedder_dir takes it: hub models come from their download."""
        emb = self._plan().embedder
        if emb.get("hub"):
            return {"path": self.layout.model_dir(self._embedder_model())}
        return emb

    def _embedder_model(self) -> ModelSpec:
        return ModelSpec(name="embedder", family="embedder", size="", hub=self._plan().embedder["hub"],
                         revision=self._plan().embedder.get("revision"))

    def embedder_inputs(self) -> list[str]:
        return [self.embedder_spec()["path"]] if self._plan().embedder.get("hub") else []

    def diversity_files(self) -> list[str]:
        return list(self.layout.diversity_outputs().values())

    def alignment_summary_files(self) -> list[str]:
        """The reward model's held-out accuracy and the diversity numbers, reported beside the findings."""
        if self.alignment is None:
            return []
        return [self.reward_metrics_file(), self.layout.diversity_outputs()["summary"]]

    def findings_files(self) -> list[str]:
        return list(self.layout.findings_outputs().values())

    def all_targets(self) -> list[str]:
        extra = [self.reward_metrics_file()] + self.diversity_files() if self.alignment else []
        return [self.metrics_file()] + [self.figure_file(f.name) for f in self.figures] + extra + self.findings_files()

"""The study a config describes: models, figures, data locations and file layout.

rules/common.smk is a thin layer over this module, so that the DAG's shape can
be checked by tests without Snakemake and every path has one definition.
"""

from __future__ import annotations

import copy
from pathlib import Path

from llmcal import alignment as al
from llmcal import figure_kinds
from llmcal import resources as res
from llmcal import tasks as task_registry
from llmcal.data.miniworld import WorldConfig
from llmcal.figure_kinds import Figure
from llmcal.fsio import input_files
from llmcal.kshot import KShotConfig
from llmcal.layout import Layout
from llmcal.metrics import MetricsConfig
from llmcal.models.pretrain import PretrainConfig
from llmcal.registry import ConfigError, ModelSpec, checkpoint_steps, expand_models
from llmcal.scoring.config import ScoringConfig

FIGURE_KINDS = tuple(figure_kinds.KINDS)


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
        # The tasks the config can name (built-in and its `task_modules`'), and those it runs.
        self.task_names = task_registry.available(config.get("task_modules"))
        self.tasks = tuple(config.get("tasks", task_registry.builtin()))
        for t in self.tasks:
            if t not in self.task_names:
                raise ConfigError(
                    f"tasks: {t!r} is not one of {self.task_names} (a task of your own is a module "
                    f"named in `task_modules`)"
                )
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
        # The k-shot sweep's section is read before the figures (a kshot figure needs it), checked after them.
        self.kshot = KShotConfig.from_dict(config["kshot"]) if config.get("kshot") is not None else None
        self.kshot_models: tuple[str, ...] = ()
        self.figures = [self._figure(i, f) for i, f in enumerate(config.get("figures", []))]
        self._check_settings()
        if self.kshot is not None:
            self._plan_kshot()

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
            raise ConfigError(
                f"scoring.max_length: {max_length} leaves no room for min_context {min_context} plus "
                f"the prompt; raise scoring.max_length or lower scoring.min_context"
            )
        self._check_context_windows(max_length)
        world = self.world if self._uses_world() else None
        for m in self.models.values():
            if m.source == "mini":
                self._check_mini_arch(m)
                seq_len = self.pretrain.seq_len
                if max_length > seq_len:
                    raise ConfigError(
                        f"scoring.max_length: {max_length} exceeds the context window of mini model "
                        f"{m.name} (pretrain.seq_len {seq_len} positions); set scoring.max_length <= "
                        f"{seq_len}"
                    )
        self._check_training_lengths()
        data = self.config.get("data") or {}
        for t in self.tasks:
            if t in data:
                self.task(t).check(data[t], f"data.{t}", world)
        if self.alignment is not None:
            for t in self.tasks:
                if not self.task(t).instructable:
                    raise ConfigError(
                        f"tasks: {t!r} has no instruction for the instruction-tuned models of the "
                        f"alignment stage; give its Task an `instruction` (Table 1), or leave it out "
                        f"of `tasks`"
                    )

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
        if plan.dpo is not None:
            stages.append(("alignment.rlhf.dpo", plan.dpo.settings))
        for key, settings in stages:
            length = int(settings.get("max_length", 0) or 0)
            if length > seq_len:
                raise ConfigError(
                    f"{key}.max_length: {length} exceeds the context window of the base {plan.base} "
                    f"(pretrain.seq_len {seq_len} positions); set it <= {seq_len}"
                )
        if plan.ppo is not None:
            ppo = plan.ppo.settings
            length = int(ppo["max_prompt_length"]) + int(ppo["response_length"])
            if length > seq_len:
                raise ConfigError(
                    f"alignment.rlhf.ppo.max_prompt_length: {ppo['max_prompt_length']} plus "
                    f"response_length {ppo['response_length']} exceeds the context window of the base "
                    f"{plan.base} (pretrain.seq_len {seq_len} positions); lower either"
                )

    def _uses_world(self) -> bool:
        data = self.config.get("data") or {}
        return any((data.get(t) or {}).get("source") == "mini" for t in self.tasks) or bool(self.config.get("world"))

    @staticmethod
    def _check_mini_arch(m: ModelSpec) -> None:
        hidden, heads = int(m.mini["hidden_size"]), int(m.mini["num_heads"])
        if hidden % heads:
            raise ConfigError(
                f"models ({m.entry}).mini.hidden_size: {hidden} is not divisible by num_heads {heads}; "
                f"each attention head needs a whole share of the hidden size"
            )

    # the k-shot sweep ---------------------------------------------------------------------------------------

    def _plan_kshot(self) -> None:
        if "mmlu" not in self.tasks:
            raise ConfigError("kshot: the k-shot sweep rescores MMLU, and `tasks` has no mmlu")
        own = self.mmlu_shots()
        beyond = [k for k in self.kshot.shots if k > own]
        if beyond:
            raise ConfigError(
                f"kshot.shots: {beyond} exceed data.mmlu.n_shots {own}, the shots each MMLU prompt has; "
                f"raise data.mmlu.n_shots or lower kshot.shots"
            )
        self.kshot_models = self.resolve_models(self.kshot.models, "kshot.models")

    def mmlu_shots(self) -> int:
        """The in-context examples of each MMLU prompt of the sample (data.mmlu.n_shots; 5, as the paper)."""
        from llmcal.tasks.mmlu import DEFAULT_SHOTS

        return int(self.data_config("mmlu").get("n_shots", DEFAULT_SHOTS))

    def kshot_rescored(self) -> list[int]:
        """The sweep's k other than the sample's own, in the config's order: what its scoring jobs score."""
        return [k for k in self.kshot.shots if k != self.mmlu_shots()] if self.kshot else []

    def kshot_score_file(self, shots: int, model: str) -> str:
        """MMLU scores at k shots: the MMLU score file itself at the sample's own k."""
        if shots == self.mmlu_shots():
            return self.score_file("mmlu", model)
        return self.layout.kshot_score_file(shots, model)

    def kshot_model_scores(self, model: str) -> dict[str, str]:
        """What one model's k-shot job writes, by k (`model` may be Snakemake's "{model}")."""
        return {f"k{k}": self.layout.kshot_score_file(k, model) for k in self.kshot_rescored()}

    def kshot_rows(self) -> list[dict]:
        """Each row of kshot.csv: the model's metadata and k, in the order of kshot_files()."""
        return [
            {"model": m, "family": s.family, "size": s.size, "step": s.step, "run": s.run, "epoch": s.epoch, "shots": k}
            for m in self.kshot_models
            for s in [self.models[m]]
            for k in sorted(self.kshot.shots)
        ]

    def kshot_files(self) -> list[str]:
        return [self.kshot_score_file(r["shots"], r["model"]) for r in self.kshot_rows()]

    def kshot_file(self) -> str:
        return self.layout.kshot_file()

    def kshot_data_file(self) -> str:
        """The MMLU sample the sweep rebuilds its prompts from."""
        return self.data_file("mmlu")

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

    def model_files(self, name: str) -> list[str]:
        """The files of a local checkpoint (a `path:` entry), so that weights saved again into the same folder
        rescore it (fsio.input_files); none for checkpoints the workflow writes or downloads itself."""
        if self.models[name].source != "local":
            return []
        return input_files(self.model_dir(name))[1:]

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
        """A config entry of `figures`, checked by its kind (llmcal.figure_kinds)."""
        key = f"figures[{i}] ({f.get('name', '?')})"
        return figure_kinds.kind_of(f.get("kind"), f"{key}.kind").resolve(self, key, f)

    def alignment_groups(self) -> list[dict]:
        """Figures 5 and 12's bar groups: the base model, then each run's epochs."""
        plan = self.alignment
        return [{"label": f"Base ({plan.base})", "models": [plan.base]}] + [
            {"label": r.label, "models": list(r.models)} for r in plan.runs
        ]

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

    def model_scores(self, model: str) -> dict[str, str]:
        """The score file of every task of the run for one model, by task: what the model's one scoring job
        writes (`model` may be Snakemake's "{model}")."""
        return {t: self.score_file(t, model) for t in self.tasks}

    def data_files(self) -> list[str]:
        """Every task's sample, in the order of `tasks` (the inputs of each scoring job)."""
        return [self.data_file(t) for t in self.tasks]

    def task_code(self, tasks=None) -> list[str]:
        """The source files of the study's own task modules among `tasks` (default: all it scores): inputs of the
        jobs that sample and score them, so an edit reruns them (llmcal.tasks.code_files)."""
        return task_registry.code_files(self.tasks if tasks is None else tasks)

    def all_scores(self) -> list[str]:
        return [self.score_file(t, m) for m in self.models for t in self.tasks]

    def score_rows(self) -> list[dict]:
        """Which model and task each file of all_scores() belongs to, in the same order."""
        return [
            {"model": m, "family": s.family, "size": s.size, "step": s.step, "run": s.run, "epoch": s.epoch, "task": t}
            for m, s in self.models.items()
            for t in self.tasks
        ]

    def figure_scores(self, fig: Figure) -> dict[str, str]:
        """The per-sample files of a figure's models on its task (or every task), keyed "model|task"."""
        tasks = [fig.task] if fig.task else self.tasks
        return {f"{m}|{t}": self.score_file(t, m) for m in fig.models for t in tasks}

    def figure_replicas(self, fig: Figure) -> dict[str, list[str]]:
        """Each model of a figure that other seeds' runs replicate (config `replicates`), with those runs."""
        out = {}
        for m in fig.models:
            runs = [r.name for r in self.models.values() if r.replica_of == m]
            if runs:
                out[m] = runs
        return out

    def figure_labels(self, fig: Figure) -> dict[str, str]:
        """Each model of a figure by its size."""
        return {m: self.models[m].size for m in fig.models}

    def figure_inputs(self, name: str) -> dict[str, object]:
        """The figure rule's named inputs, as the figure's kind says."""
        fig = self.figure(name)
        return figure_kinds.KINDS[fig.kind].inputs(self, fig)

    def figure_params(self, name: str) -> dict:
        """What the figure's drawing needs beside its inputs (Snakemake params must be plain data)."""
        fig = self.figure(name)
        return figure_kinds.KINDS[fig.kind].params(self, fig)

    def figure_file(self, name: str) -> str:
        return self.layout.figure_file(name)

    def metrics_file(self) -> str:
        return self.layout.metrics_file()

    def per_subject_file(self) -> str:
        """MMLU accuracy and ECE per (model, subject): the aggregate job's second table."""
        return self.layout.per_subject_file()

    # resources ----------------------------------------------------------------------------------------------

    def job_resources(
        self, rule: str, model: str | None = None, task: str | None = None, run: str | None = None
    ) -> dict:
        """What one job asks a cluster for: {gpu, mem_mb, cpus_per_task, runtime}; see llmcal.resources.

        A scoring job scores every task of the run with one model load: its runtime counts the samples of all
        of them (or of `task` alone, when given).
        """
        cfg = {"gpu": True, "gpu_mem_gb": 80.0, "precision": "bfloat16", **(self.config.get("resources") or {})}
        common = {"gpu": bool(cfg["gpu"]), "gpu_mem_gb": float(cfg["gpu_mem_gb"])}
        precision = cfg["precision"]
        if rule == "score":
            spec = self.models[model]
            samples = self.score_samples(task)
            return res.job_resources("score", spec.params or 0.0, precision, samples=samples, **common)
        if rule == "score_kshot":
            spec = self.models[model]
            samples = self.score_samples("mmlu") * len(self.kshot_rescored())
            return res.job_resources("score", spec.params or 0.0, precision, samples=samples, **common)
        if rule in ("sft", "reward", "ppo", "dpo"):
            plan = self._plan()
            base = self.models[plan.base].params or 0.0
            examples = plan.data["n"] or 10_000

            def processes(stage: str) -> int:
                return int(plan.launch_for(stage).get("num_processes", 1))

            if rule == "sft":
                r = plan.run(run)
                return res.job_resources(
                    r.method,
                    base,
                    precision,
                    processes=processes(r.method),
                    epochs=r.epochs,
                    examples=examples,
                    **common,
                )
            # The reward model and DPO learn from the comparison pairs, PPO from its prompts.
            stage = {"reward": ("reward", plan.reward["epochs"], examples)}
            if plan.dpo is not None:
                stage["dpo"] = ("dpo", plan.dpo.epochs, examples)
            if plan.ppo is not None:
                stage["ppo"] = ("ppo", plan.ppo.epochs, plan.ppo_prompts or examples)
            kind, epochs, n = stage[rule]
            return res.job_resources(
                kind, base, precision, processes=processes(kind), epochs=epochs, examples=n, **common
            )
        if rule == "aggregate":
            samples = sum(self.score_samples(row["task"]) for row in self.score_rows())
            return res.job_resources("aggregate", 0.0, samples=samples, replicates=self.metrics.n_boot)
        return res.job_resources("cpu", 0.0)

    def score_samples(self, task: str | None = None) -> int:
        """The samples a scoring job scores: those of every task of the run (or of `task` alone)."""
        return sum(self.task(t).expected_samples(self.data_config(t)) for t in ([task] if task else self.tasks))

    # data ---------------------------------------------------------------------------------------------------

    def task(self, name: str) -> task_registry.Task:
        """The task object (llmcal.tasks) of a task the config can name."""
        if name not in self.task_names:
            raise ConfigError(f"tasks: {name!r} is not one of {self.task_names}")
        return task_registry.get(name)

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
        if src == "local" and not cfg.get("local"):
            raise ConfigError(f"{key}.local: source is 'local' but no local path is given")
        if src not in ("hub", "url", "local", "mini"):
            raise ConfigError(f"{key}.source: {src!r} is not one of hub, url, local, mini")
        files = self.task(task).raw_files(src, cfg, Path(self.raw_dir(task)), key)
        if src == "local":  # the user's own folder: every file in it is an input (fsio.input_files)
            files = {**files, "inputs": [f for p in files["inputs"] for f in input_files(p)]}
        return files

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
            raw += [
                str(al.raw_dir(self.layout, plan.data, n))
                for n in al.DATA_SETS
                if plan.data[n]["source"] in ("hub", "url")
            ]
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
        """The instruction sets' raw inputs; a set of source local is its file, or its folder and every file in it
        (fsio.input_files)."""
        plan = self._plan()
        dirs = {str(al.raw_dir(self.layout, plan.data, n)): plan.data[n]["source"] for n in al.DATA_SETS}
        return sorted({f for d, src in dirs.items() for f in (input_files(d) if src == "local" else [d])})

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

    def rlhf_start_dir(self) -> str:
        """The instruction-tuned checkpoint PPO and DPO start from (alignment.rlhf.from, .epoch)."""
        return str(self.model_dir(self._plan().ppo_start_model()))

    def embedder_spec(self) -> dict:
        """The sentence encoder as llmcal.diversity.embedder_dir takes it: hub models come from their download."""
        emb = self._plan().embedder
        if emb.get("hub"):
            return {"path": self.layout.model_dir(self._embedder_model())}
        return emb

    def _embedder_model(self) -> ModelSpec:
        return ModelSpec(
            name="embedder",
            family="embedder",
            size="",
            hub=self._plan().embedder["hub"],
            revision=self._plan().embedder.get("revision"),
        )

    def embedder_inputs(self) -> list[str]:
        """The downloaded encoder's folder, or a local one's folder and files (fsio.input_files); none for a
        package's encoder."""
        emb = self._plan().embedder
        if emb.get("hub"):
            return [self.embedder_spec()["path"]]
        return input_files(emb["path"]) if emb.get("path") else []

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
        tables = [self.metrics_file(), self.per_subject_file()] + ([self.kshot_file()] if self.kshot else [])
        return tables + [self.figure_file(f.name) for f in self.figures] + extra + self.findings_files()

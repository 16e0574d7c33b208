"""Where every output of a run lives under its results directory: each path defined once, here.

Each method gives a concrete path for concrete arguments, and the rule's wildcard pattern when the arguments
are wildcards: ``layout.score_file("mmlu", "opt-125m")`` is a file of the run, ``layout.score_file("{task}",
"{model}")`` the output pattern of the score rule. Rules with several outputs take them by name
(``output: **layout.findings_outputs()``). A leaf module: it imports nothing of llmcal.
"""

from __future__ import annotations

from pathlib import Path


class Layout:
    def __init__(self, results: str | Path):
        self.root = Path(results)

    def path(self, *parts) -> str:
        return str(self.root.joinpath(*map(str, parts)))

    def log(self, *parts) -> str:
        """A job's log: logs/<parts>.log (the last part gets the suffix)."""
        *folders, name = parts
        return self.path("logs", *folders, f"{name}.log")

    def benchmark(self, *parts) -> str:
        """A heavy job's measured wall time and peak memory (Snakemake's `benchmark:` table): benchmarks/<parts>.tsv,
        to set beside what llmcal.resources asks a cluster for."""
        *folders, name = parts
        return self.path("benchmarks", *folders, f"{name}.tsv")

    # raw inputs ------------------------------------------------------------------------------------------------

    def world_dir(self) -> str:
        """The generated mini world, shared by every task whose source is mini."""
        return self.path("raw", "world")

    def raw_dir(self, task: str) -> str:
        """A downloaded dataset (hub or url) before sampling."""
        return self.path("raw", task)

    def raw_instructions_dir(self, name: str) -> str:
        """A downloaded instruction set; "mini" holds the sets written from the mini world."""
        return self.path("raw", "instructions", name)

    def data_file(self, task: str) -> str:
        """A task's canonical seeded sample."""
        return self.path("data", f"{task}.parquet")

    # models ----------------------------------------------------------------------------------------------------

    def hub_dir(self, repo_dir: str, revision: str) -> str:
        """A hub checkpoint, repo_dir being the repo id with / written as -- (one folder per repo@revision)."""
        return self.path("models", "hub", repo_dir, revision)

    def hub_model_dir(self, repo: str, revision: str | None) -> str:
        return self.hub_dir(repo.replace("/", "--"), revision or "main")

    def tokenizer_dir(self) -> str:
        """The mini suite's tokenizer."""
        return self.path("models", "mini", "tokenizer")

    def mini_dir(self, entry: str, step) -> str:
        return self.path("models", "mini", entry, f"step{step}")

    def aligned_dir(self, run: str, epoch) -> str:
        return self.path("models", "aligned", run, f"epoch{epoch}")

    def run_state_dir(self, run: str) -> str:
        """A training run's resumable state, outside its outputs (Snakemake deletes a failed job's outputs)."""
        return self.path("models", "aligned", ".state", run)

    def reward_dir(self) -> str:
        return self.path("models", "aligned", "reward")

    def model_dir(self, spec) -> str:
        """Where a model of the registry (llmcal.registry.ModelSpec) is on disk, by its source."""
        if spec.source == "aligned":
            return self.aligned_dir(spec.run, spec.epoch)
        if spec.source == "hub":
            return self.hub_model_dir(spec.hub, spec.revision)
        if spec.source == "local":
            return str(spec.path)
        return self.mini_dir(spec.entry, spec.step)

    # scores, tables, figures, report ---------------------------------------------------------------------------

    def score_file(self, task: str, model: str) -> str:
        return self.path("scores", task, f"{model}.parquet")

    def kshot_score_file(self, shots: int, model: str) -> str:
        """MMLU rescored at `shots` in-context examples (the k-shot sweep; the sample's own k is the MMLU file)."""
        return self.path("scores", f"mmlu-{shots}shot", f"{model}.parquet")

    def kshot_file(self) -> str:
        return self.path("kshot.csv")

    def metrics_file(self) -> str:
        return self.path("metrics.csv")

    def per_subject_file(self) -> str:
        return self.path("per_subject.csv")

    def figure_file(self, name: str) -> str:
        return self.path("figures", f"{name}.pdf")

    def findings_outputs(self) -> dict[str, str]:
        """The findings report, its HTML and the selective-prediction curves, by output name."""
        return {
            "md": self.path("report", "findings.md"),
            "html": self.path("report", "findings.html"),
            "selective": self.path("report", "selective.pdf"),
        }

    # alignment -------------------------------------------------------------------------------------------------

    def instruction_table(self, name: str) -> str:
        """alpaca, oasst (tuning sets), comparison (reward pairs) or ppo_prompts, canonical and seeded."""
        return self.path("alignment", "data", f"{name}.parquet")

    def reward_metrics_file(self) -> str:
        return self.path("alignment", "reward.json")

    def diversity_outputs(self) -> dict[str, str]:
        """Figure 6's numbers and its t-SNE points, by output name."""
        return {
            "summary": self.path("alignment", "diversity.json"),
            "points": self.path("alignment", "diversity_points.parquet"),
        }

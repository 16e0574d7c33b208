"""Scoring throughput, one invocation, one thread, model load included: the proof bench of issue 11.

MMLU 5-shot, the same model and the same questions four ways:
  llmcal prefix   the engine with shared-prefix key/value reuse (scoring.prefix_cache: true, the default)
  llmcal plain    the engine without it (scoring.prefix_cache: false; the engine before issue 11)
  plain loop      one sample at a time over full logits (`reference_last_logits`)
  lm-eval         lm-evaluation-harness 0.4.13 (`make bench` installs it into .venv-bench only), offline, on a
                  task YAML written here whose prompt text is llmcal's (checked string for string)
and asserts that the four give the same option probabilities (renormalised over A-D) to 1e-4. Then instructed
CLM and facts (the Alpaca template and Table 1 instruction before each context), prefix reuse against plain,
asserting the same confidences to 1e-6. Each llmcal row also reports the FLOP rate of its forward passes
(2 x non-embedding parameters x tokens run, plus the LM head at each scored position) per CPU second of scoring,
as a fraction of this machine's measured float32 matmul rate per CPU second on the same thread count (CPU seconds,
so that both hold where other jobs share the machine).

The model is Pythia-shaped (GPT-NeoX, 50k vocabulary) with random weights, saved to a temporary folder with a
byte-level BPE trained on the bench's own text: its predictions mean nothing, its speed does. The MMLU items are
real-format Hendrycks CSVs (dev/ and test/ folders) the bench writes, or a folder passed with --mmlu.

    make bench                                     # .venv-bench, then this with the defaults
    .venv-bench/bin/python bench/scoring_speed.py --shape 160m --subjects 4 --questions 16
    .venv/bin/python bench/scoring_speed.py --no-lm-eval   # without lm-evaluation-harness
    .venv/bin/python bench/scoring_speed.py --no-lm-eval --baseline /tmp/old/src   # beside an older checkout

--baseline times another checkout's engine (its plain path, the only one every version has) in a subprocess on
the same model and samples, e.g. `git archive 6852b9d src | tar -x -C /tmp/old` (the commit before prefix reuse),
and checks its scores against llmcal's as the other scorers are checked.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from llmcal.data.mmlu_prompt import LETTERS, format_subject  # noqa: E402
from llmcal.data.sources import build_mmlu, read_mmlu_csv  # noqa: E402
from llmcal.models.load import load_model  # noqa: E402
from llmcal.models.pretrain import train_tokenizer  # noqa: E402
from llmcal.scoring.config import ScoringConfig  # noqa: E402
from llmcal.scoring.engine import group_by_prefix, reference_last_logits  # noqa: E402
from llmcal.tasks import build_requests, score_task  # noqa: E402
from llmcal.tasks.mmlu import letter_token_ids  # noqa: E402

# GPT-NeoX shapes of the Pythia suite (hidden, layers, heads); "tiny" is for the test that the bench runs.
SHAPES = {"tiny": (64, 2, 2), "70m": (512, 6, 8), "160m": (768, 12, 12), "410m": (1024, 24, 16)}
PROB_TOL = 1e-4  # option probabilities, any two of the four MMLU scorers
CONF_TOL = 1e-6  # confidences, prefix reuse against plain (the score files' promise)
WORDS = (
    "the of and to in is was for on that with as by at from his her an were which are this be first "
    "river city salt iron trade north south king council law court star planet orbit energy mass cell "
    "gene acid market price tax war treaty army ship island mountain winter year century empire church "
    "theory proof number function graph value matrix force wave light heat water stone bridge road "
    "school book poem song voice people family village harbour valley forest desert field garden"
).split()


# --- inputs the bench writes ------------------------------------------------------------------------------------


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def write_mmlu(root: Path, subjects: int, questions: int, seed: int = 0) -> Path:
    """Hendrycks' layout: dev/<subject>_dev.csv (5 rows) and test/<subject>_test.csv, no header row."""
    rng = random.Random(seed)
    names = [
        "astronomy",
        "college_physics",
        "world_religions",
        "high_school_geography",
        "econometrics",
        "virology",
        "philosophy",
        "anatomy",
    ]
    for split in ("dev", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
    for s in range(subjects):
        subject = names[s % len(names)] + ("" if s < len(names) else f"_{s}")
        for split, n in (("dev", 5), ("test", questions)):
            with open(root / split / f"{subject}_{split}.csv", "w", newline="") as fh:
                out = csv.writer(fh)
                for _ in range(n):  # about MMLU's lengths: 5-shot prompts of 400-600 tokens
                    out.writerow(
                        [_words(rng, rng.randint(35, 60)) + "?"]
                        + [_words(rng, rng.randint(2, 7)) for _ in LETTERS]
                        + [rng.choice(LETTERS)]
                    )
    return root


def write_corpus(path: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = [json.dumps({"text": _words(rng, 200)}) for _ in range(300)]
    # The template's and the prompts' own words, so that the tokenizer knows them.
    lines += [
        json.dumps({"text": t})
        for t in (
            "Below is an instruction that describes a task. Write a response "
            "that appropriately completes the request. ### Instruction: "
            "### Response: Finish this sentence: Finish this Wikipedia "
            "description: The following are multiple choice questions (with "
            "answers) about A. B. C. D. Answer: A Answer: B Answer: C "
            "Answer: D",
        )
        * 20
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def pythia_config(hidden: int, layers: int, heads: int, pad: int, eos: int, vocab: int = 50304):
    """A GPT-NeoX config in the Pythia suite's shape (4x MLP, 25% rotary, 2048 positions): both benches use it."""
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=2048,
        rotary_pct=0.25,
        eos_token_id=eos,
        bos_token_id=eos,
        pad_token_id=pad,
    )


def save_pythia_shape(shape: str, tokenizer_dir: Path, out: Path) -> Path:
    from transformers import AutoTokenizer, GPTNeoXForCausalLM

    hidden, layers, heads = SHAPES[shape]
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    cfg = pythia_config(hidden, layers, heads, pad=tok.pad_token_id, eos=tok.eos_token_id)
    GPTNeoXForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def instructed_samples(task: str, n: int, seed: int = 0) -> pd.DataFrame:
    """Pile-like texts (clm) or text-before-an-entity pairs (facts), as the canonical sample files have them."""
    rng = random.Random(seed + (task == "facts"))
    ids = [f"{task}-{i}" for i in range(n)]
    if task == "clm":
        return pd.DataFrame({"id": ids, "text": [_words(rng, rng.randint(40, 160)) for _ in range(n)]})
    return pd.DataFrame(
        {
            "id": ids,
            "context": [_words(rng, rng.randint(10, 80)) + " " for _ in range(n)],
            "entity": [rng.choice(WORDS).capitalize() for _ in range(n)],
        }
    )


# --- measurement ------------------------------------------------------------------------------------------------


def matmul_rate(hidden: int, seconds: float = 2.0) -> float:
    """FLOP/s of this machine's float32 matmul at the model's MLP shape (512 tokens), best of three, per CPU second
    (process time: at one thread that is the rate of the thread, whatever else shares the machine)."""
    a, b = torch.randn(512, hidden), torch.randn(hidden, 4 * hidden)
    best = 0.0
    for _ in range(3):
        a @ b
        t0, n = time.process_time(), 0
        while time.process_time() - t0 < seconds / 3:
            a @ b
            n += 1
        best = max(best, 2 * 512 * hidden * 4 * hidden * n / (time.process_time() - t0))
    return best


def forward_flops(model, contexts: list[list[int]], prefix_cache: bool) -> tuple[int, float]:
    """Tokens the engine runs through the model, and 2 x params x those tokens (+ the head once per context)."""
    if prefix_cache:
        groups, plain = group_by_prefix(contexts)
        tokens = sum(len(contexts[i]) for i in plain) + sum(
            g.prefix_len + sum(len(contexts[i]) - g.prefix_len for i in g.members) for g in groups
        )
    else:
        tokens = sum(len(c) for c in contexts)
    head = model.get_output_embeddings().weight.numel()
    body = sum(p.numel() for p in model.parameters()) - head - model.get_input_embeddings().weight.numel()
    return tokens, 2.0 * body * tokens + 2.0 * head * len(contexts)


REPEAT = [1]  # --repeat: each timing is the best of this many runs (the machine may be shared)


def timed(fn):
    """fn's result, its wall seconds and its CPU seconds (process time: steadier than wall time where the machine
    is shared, and equal to it on an idle machine at one thread); the best of --repeat runs."""
    best = None
    for _ in range(REPEAT[0]):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        took = (time.perf_counter() - t0, time.process_time() - c0)
        best = took if best is None or took[0] < best[0] else best
    return out, best


def warm_up(model_dir: Path) -> None:
    """Import the model code and run each path once, so that no timed run pays a once-per-process cost."""
    lm = load_model(model_dir, "causal", device="cpu")
    from llmcal.scoring.engine import score_contexts

    contexts = [[5] * 300 + [6, 7], [5] * 300 + [8], [9, 10]]
    for prefix_cache in (True, False):
        score_contexts(lm, contexts, lambda logits, idx: {"x": logits[:, 0]}, prefix_cache=prefix_cache)
    reference_last_logits(lm, contexts[-1])


def llmcal_run(model_dir: Path, task: str, df: pd.DataFrame, cfg: ScoringConfig, instruct: bool) -> dict:
    def run():
        t0, c0 = time.perf_counter(), time.process_time()
        lm = load_model(model_dir, "causal", device="cpu")
        load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
        return lm, score_task(lm, task, df, cfg, seed=1234, instruct=instruct), load_s, load_cpu

    (lm, scores, load_s, load_cpu), (seconds, cpu_s) = timed(run)
    score_s = seconds - load_s
    req = build_requests(task, df, lm.tokenizer, "causal", cfg, seed=1234, instruct=instruct)
    tokens, flops = forward_flops(lm.model, req.contexts, cfg.prefix_cache)
    return {
        "scores": scores,
        "load_s": load_s,
        "score_s": score_s,
        "cpu_s": cpu_s,
        "score_cpu_s": cpu_s - load_cpu,
        "tokens": tokens,
        "flops": flops,
        "context_tokens": sum(len(c) for c in req.contexts),
        "contexts": req.contexts,
    }


def plain_loop(model_dir: Path, df: pd.DataFrame, cfg: ScoringConfig) -> dict:
    def run():
        lm = load_model(model_dir, "causal", device="cpu")
        req = build_requests("mmlu", df, lm.tokenizer, "causal", cfg, seed=1234)
        letters = letter_token_ids(lm.tokenizer)
        return np.stack(
            [torch.softmax(reference_last_logits(lm, c)[letters], -1).double().numpy() for c in req.contexts]
        )

    probs, (seconds, cpu_s) = timed(run)
    return {"probs": probs, "load_s": 0.0, "score_s": seconds, "cpu_s": cpu_s}


# Run in a subprocess on another checkout's src/ (--baseline): load the model and score the task there, timed the
# way `llmcal_run` times it, after one warm-up score of a few samples. Only the API every llmcal engine has had.
BASELINE = """
import json, sys, time
import pandas as pd, torch
src, model_dir, task, df_path, cfg_json, instruct, threads, repeat, out = sys.argv[1:]
torch.set_num_threads(int(threads)); torch.set_num_interop_threads(int(threads))
from llmcal.models.load import load_model
from llmcal.scoring.tasks import ScoringConfig, score_task
assert __import__("llmcal").__file__.startswith(src), "the baseline is not the given checkout"
df, cfg = pd.read_pickle(df_path), ScoringConfig(**json.loads(cfg_json))
score_task(load_model(model_dir, "causal", device="cpu"), task, df.head(3), cfg, seed=1234, instruct=instruct == "1")
best = None
for _ in range(int(repeat)):
    t0, c0 = time.perf_counter(), time.process_time()
    lm = load_model(model_dir, "causal", device="cpu")
    load_s = time.perf_counter() - t0
    scores = score_task(lm, task, df, cfg, seed=1234, instruct=instruct == "1")
    took = (time.perf_counter() - t0, time.process_time() - c0, load_s)
    best = took if best is None or took[0] < best[0] else best
scores.to_pickle(out + ".scores")
json.dump({"load_s": best[2], "score_s": best[0] - best[2], "cpu_s": best[1]}, open(out, "w"))
"""


def baseline_run(src: Path, model_dir: Path, task: str, df: pd.DataFrame, cfg: dict, instruct: bool, tmp: Path) -> dict:
    """Another llmcal checkout's engine (e.g. the commit before prefix reuse) on the same model and samples."""
    import subprocess

    df_path, out = tmp / f"baseline-{task}.pkl", tmp / f"baseline-{task}.json"
    df.to_pickle(df_path)
    env = dict(os.environ, PYTHONPATH=str(src.resolve()))
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            BASELINE,
            str(src.resolve()),
            str(model_dir),
            task,
            str(df_path),
            json.dumps(cfg),
            "1" if instruct else "0",
            str(torch.get_num_threads()),
            str(REPEAT[0]),
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"the baseline at {src} failed on {task}:\n{proc.stderr[-3000:]}")
    run = json.loads(out.read_text())
    run["scores"] = pd.read_pickle(str(out) + ".scores")
    return run


def write_lm_eval_tasks(mmlu_dir: Path, out: Path, subjects: list[str]) -> list[str]:
    """One lm-eval task per subject: the CSVs as they are, lm-eval 0.4's MMLU template (= llmcal's prompt)."""
    import yaml

    out.mkdir(parents=True, exist_ok=True)
    names = []
    for subject in subjects:
        name = f"llmcal_bench_{subject}"
        task = {
            "task": name,
            "dataset_path": "csv",
            "dataset_kwargs": {
                "data_files": {
                    "test": str(mmlu_dir / "test" / f"{subject}_test.csv"),
                    "dev": str(mmlu_dir / "dev" / f"{subject}_dev.csv"),
                },
                "column_names": ["question", *LETTERS, "answer"],
            },
            "test_split": "test",
            "fewshot_split": "dev",
            "fewshot_config": {"sampler": "first_n"},
            "num_fewshot": 5,
            "output_type": "multiple_choice",
            "description": f"The following are multiple choice questions (with answers) about "
            f"{format_subject(subject)}.\n\n",
            "doc_to_text": "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\nAnswer:",
            "doc_to_choice": list(LETTERS),
            "doc_to_target": "answer",
            "target_delimiter": " ",
            "fewshot_delimiter": "\n\n",
            "metric_list": [{"metric": "acc"}],
        }
        (out / f"{name}.yaml").write_text(yaml.safe_dump(task, sort_keys=False))
        names.append(name)
    return names


def _context_of(sample: dict) -> str:
    args = sample["arguments"]
    first = args[0] if isinstance(args, (list, tuple)) else next(iter(args.values()))
    return first[0] if isinstance(first, (list, tuple)) else next(iter(first.values()))


def lm_eval_run(model_dir: Path, mmlu_dir: Path, df: pd.DataFrame, tmp: Path, batch_size: int) -> dict:
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    subjects = list(dict.fromkeys(df["subject"]))
    names = write_lm_eval_tasks(mmlu_dir, tmp / "lm_eval_tasks", subjects)
    manager, (index_s, _) = timed(lambda: TaskManager(include_path=str(tmp / "lm_eval_tasks")))

    def run():
        model = HFLM(pretrained=str(model_dir), backend="causal", device="cpu", dtype="float32", batch_size=batch_size)
        return lm_eval.simple_evaluate(
            model=model, tasks=names, task_manager=manager, log_samples=True, bootstrap_iters=0
        )

    result, (seconds, cpu_s) = timed(run)
    probs, prompts = {}, {}
    for name, subject in zip(names, subjects):
        for sample in result["samples"][name]:
            ll = np.array([float(r[0][0]) for r in sample["resps"]])
            key = f"{subject}-{sample['doc_id']}"
            probs[key] = np.exp(ll - ll.max()) / np.exp(ll - ll.max()).sum()
            prompts[key] = _context_of(sample)
    missing = [i for i in df["id"] if i not in probs]
    if missing:
        raise SystemExit(f"lm-eval did not score {len(missing)} of the questions (first {missing[0]})")
    differ = [i for i, p in zip(df["id"], df["prompt"]) if prompts[i] != p]
    if differ:
        raise SystemExit(
            f"lm-eval's prompt for {differ[0]} is not llmcal's:\n{prompts[differ[0]]!r}\n"
            f"{df.set_index('id').loc[differ[0], 'prompt']!r}"
        )
    return {
        "probs": np.stack([probs[i] for i in df["id"]]),
        "load_s": 0.0,
        "score_s": seconds,
        "cpu_s": cpu_s,
        "index_s": index_s,
    }


# --- the bench --------------------------------------------------------------------------------------------------


def _row(name, n, run, peak, base):
    total = run["load_s"] + run["score_s"]
    rate = run["flops"] / run["score_cpu_s"] if "flops" in run else None  # per CPU second, as the matmul rate
    return (
        f"{name:<16}{total:9.2f} {n / total:9.2f} {base[0] / total:8.2f}x {run['cpu_s']:8.2f} "
        f"{base[1] / run['cpu_s']:8.2f}x "
        + (f"{run['tokens']:8d} {rate / 1e9:8.2f} {rate / peak:6.1%}" if rate else "")
    )


def _base(run) -> tuple[float, float]:
    return run["load_s"] + run["score_s"], run["cpu_s"]


HEAD = (
    f"{'':<16}{'wall s':>9} {'items/s':>9} {'vs plain':>9} {'cpu s':>8} {'vs plain':>9} {'tokens':>8} "
    f"{'GFLOP/s':>8} {'of mm':>6}"
)


def bench_mmlu(model_dir: Path, mmlu_dir: Path, tmp: Path, args, peak: float) -> list[str]:
    dev, test = read_mmlu_csv(mmlu_dir)
    df = build_mmlu(dev, test, n_shots=5, prompt_style="lm_eval_harness").to_pandas()
    if args.questions_max:
        df = df.groupby("subject", sort=False).head(args.questions_max).reset_index(drop=True)
    cfg = ScoringConfig(max_length=2048)
    runs = {
        "llmcal prefix": llmcal_run(model_dir, "mmlu", df, cfg, instruct=False),
        "llmcal plain": llmcal_run(
            model_dir, "mmlu", df, ScoringConfig(max_length=2048, prefix_cache=False), instruct=False
        ),
    }
    if args.baseline:
        runs["baseline plain"] = baseline_run(args.baseline, model_dir, "mmlu", df, {"max_length": 2048}, False, tmp)
    if not args.no_plain_loop:
        runs["plain loop"] = plain_loop(model_dir, df, cfg)
    if not args.no_lm_eval:
        runs["lm-eval 0.4.13"] = lm_eval_run(model_dir, mmlu_dir, df, tmp, args.lm_eval_batch_size)
    probs = {}
    for name, run in runs.items():
        probs[name] = run["probs"] if "probs" in run else run["scores"][[f"p_{x}" for x in LETTERS]].to_numpy()
    names = list(probs)
    worst = max((float(np.abs(probs[a] - probs[b]).max()), a, b) for i, a in enumerate(names) for b in names[i + 1 :])
    ctx = runs["llmcal plain"]["context_tokens"]
    groups, _ = group_by_prefix(runs["llmcal prefix"]["contexts"])
    base = _base(runs["llmcal plain"])
    lines = [
        f"MMLU 5-shot: {len(df)} questions, {df['subject'].nunique()} subjects, {ctx} context tokens "
        f"({ctx / len(df):.0f} per question); {len(groups)} prefix groups sharing "
        f"{1 - runs['llmcal prefix']['tokens'] / ctx:.0%} of the tokens",
        HEAD,
    ]
    lines += [_row(name, len(df), run, peak, base) for name, run in runs.items()]
    if "lm-eval 0.4.13" in runs:
        lm = runs["lm-eval 0.4.13"]
        lines.append(
            f"(lm-eval's task index, built once before its timing: {lm['index_s']:.1f} s; batch size "
            f"{args.lm_eval_batch_size})"
        )
        prefix = _base(runs["llmcal prefix"])
        lines.append(
            f"llmcal prefix vs lm-eval: {lm['score_s'] / prefix[0]:.2f}x wall, {lm['cpu_s'] / prefix[1]:.2f}x cpu"
        )
    if args.baseline:
        lines.append(_vs_baseline(runs, args.baseline))
    lines.append(f"max |dp| over the {len(names)} scorers: {worst[0]:.2e} ({worst[1]} vs {worst[2]})")
    if worst[0] > PROB_TOL:
        raise SystemExit("\n".join(lines) + f"\nFAILED: option probabilities differ by more than {PROB_TOL}")
    return lines


def _vs_baseline(runs: dict, src: Path) -> str:
    prefix, old = _base(runs["llmcal prefix"]), _base(runs["baseline plain"])
    return f"llmcal prefix vs baseline plain ({src}): {old[0] / prefix[0]:.2f}x wall, {old[1] / prefix[1]:.2f}x cpu"


def bench_instructed(model_dir: Path, task: str, n: int, peak: float, tmp: Path, baseline: Path | None) -> list[str]:
    df = instructed_samples(task, n)
    mini = {"max_length": 256, "min_context": 16}  # the mini preset's
    runs = {
        "llmcal prefix": llmcal_run(model_dir, task, df, ScoringConfig(**mini), instruct=True),
        "llmcal plain": llmcal_run(model_dir, task, df, ScoringConfig(**mini, prefix_cache=False), instruct=True),
    }
    if baseline:
        runs["baseline plain"] = baseline_run(baseline, model_dir, task, df, mini, True, tmp)
    a = runs["llmcal prefix"]["scores"]
    others = [(name, run["scores"]) for name, run in runs.items() if name != "llmcal prefix"]
    dconf = max(float(np.abs(a["confidence"] - b["confidence"]).max()) for _, b in others)
    same = all((a["pred_id"] == b["pred_id"]).all() for _, b in others)
    ctx = runs["llmcal plain"]["context_tokens"]
    base = _base(runs["llmcal plain"])
    lines = [
        f"instructed {task}: {n} samples, {ctx} context tokens, {1 - runs['llmcal prefix']['tokens'] / ctx:.0%} "
        f"of them in shared prefixes",
        HEAD,
    ]
    lines += [_row(name, n, run, peak, base) for name, run in runs.items()]
    if baseline:
        lines.append(_vs_baseline(runs, baseline))
    lines.append(f"max |d confidence| vs llmcal prefix: {dconf:.2e}; same predictions: {same}")
    if dconf > CONF_TOL:
        raise SystemExit("\n".join(lines) + f"\nFAILED: confidences differ by more than {CONF_TOL}")
    return lines


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="70m", choices=sorted(SHAPES), help="Pythia shape of the random model")
    ap.add_argument("--mmlu", type=Path, help="a folder of Hendrycks' MMLU CSVs (dev/, test/); default: written")
    ap.add_argument("--subjects", type=int, default=3, help="subjects the bench writes")
    ap.add_argument("--questions", type=int, default=8, help="test questions per subject the bench writes")
    ap.add_argument("--questions-max", type=int, default=0, help="with --mmlu: at most this many per subject")
    ap.add_argument("--instructed", type=int, default=64, help="instructed CLM and facts samples (0: skip)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--lm-eval-batch-size", type=int, default=8)
    ap.add_argument("--no-lm-eval", action="store_true", help="leave lm-evaluation-harness out")
    ap.add_argument("--no-plain-loop", action="store_true", help="leave the per-sample loop out")
    ap.add_argument("--repeat", type=int, default=1, help="time each scorer this many times, keep the best")
    ap.add_argument(
        "--baseline",
        type=Path,
        help="the src/ folder of another llmcal checkout (e.g. the commit "
        "before prefix reuse): its engine's plain path timed and checked beside llmcal's",
    )
    args = ap.parse_args(argv)
    REPEAT[0] = max(1, args.repeat)
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        train_tokenizer(write_corpus(tmp / "corpus.jsonl"), 4000, tmp / "tokenizer")
        model_dir = save_pythia_shape(args.shape, tmp / "tokenizer", tmp / f"pythia-{args.shape}-random")
        mmlu_dir = args.mmlu or write_mmlu(tmp / "mmlu", args.subjects, args.questions)
        hidden = SHAPES[args.shape][0]
        peak = matmul_rate(hidden)
        warm_up(model_dir)
        print(
            f"random Pythia-{args.shape} shape (GPT-NeoX, hidden {hidden}, {SHAPES[args.shape][1]} layers, "
            f"vocabulary 50304), float32, {args.threads} thread(s), torch {torch.__version__}; "
            f"matmul {peak / 1e9:.1f} GFLOP/s (512x{hidden} @ {hidden}x{4 * hidden}); times include model load"
        )
        sys.stdout.flush()
        for line in bench_mmlu(model_dir, mmlu_dir, tmp, args, peak):
            print(line)
        sys.stdout.flush()
        for task in ("clm", "facts") if args.instructed else ():
            print()
            for line in bench_instructed(model_dir, task, args.instructed, peak, tmp, args.baseline):
                print(line)
            sys.stdout.flush()


if __name__ == "__main__":
    main()

"""What each job asks a cluster for: GPUs, host memory, CPUs and run time, from the model's size.

One function, `job_resources`, serves every rule, so the SLURM profile, the README's table
(`python -m llmcal.resources_table config.yaml`) and the tests agree; a leaf module, it imports nothing of
llmcal. The estimates are deliberately simple and a little generous (a job killed for memory after an
hour in the queue costs more than a slightly larger request):

    weights       = P x bytes per parameter (bf16/fp16: 2, fp32: 4)                  P = parameters
    score         GPU memory = 1.2 x weights + 4 GB (activations, the CUDA context)
    full (SFT)    GPU memory = 16 B x P / processes + 8 GB     (bf16 weights and grads, fp32 master weights
                                                                and two Adam moments, sharded by FSDP)
    lora (SFT, reward)  GPU memory = 1.2 x weights + 8 GB       (frozen base, small adapters)
    ppo           GPU memory = 3 x 1.2 x weights + 12 GB        (policy with its reference as the adapter off,
                                                                value and reward models)
    dpo           GPU memory = 1.2 x weights + 12 GB            (LoRA policy, its reference as the adapter off,
                                                                two sequences per pair)
    gpus          = max(processes, ceil(GPU memory / gpu_mem_gb))          (0 on a CPU-only job)
    mem_mb        = 1.5 x weights + 8 GB (host memory: loading the checkpoint), per process
    cpus_per_task = 4 per GPU (data loading, tokenisation), 2 for CPU-only jobs
    runtime (min) = scoring: 10 + 6 x P in billions x samples / 100k   (samples: every task of the model's job);
                    training: 30 + 40 x P in billions x epochs x examples / 10k (x 0.5 for LoRA;
                    x 1.5 for DPO: a pair is two sequences, each also read by the reference)

                    metrics tables (aggregate): 30 + 2.4e-7 s x samples of all score files x bootstrap replicates
                    (ECE, accuracy and smECE intervals; 1.2e-7 s measured on one core, doubled)

Any other job with no model (sampling, figures, the report) asks for no GPU, 4 GB and 30 minutes.
"""

from __future__ import annotations

import math
import re

BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "auto": 2}
KINDS = ("score", "full", "lora", "reward", "ppo", "dpo", "cpu", "aggregate")
# The metrics tables' bootstrap (ECE, accuracy and smECE intervals), seconds per (sample x replicate): 1.2e-7
# measured on one core at 100k samples and 1000 replicates (11.8 s a row), doubled for slower cluster cores.
AGGREGATE_S_PER_SAMPLE_REPLICATE = 2.4e-7
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmbt])$", re.IGNORECASE)
_SCALE = {"k": 1e3, "m": 1e6, "b": 1e9, "t": 1e12}
GB = 1024


def parameters(size: str) -> float:
    """Parameters from a size label such as "70m", "1.4b" or "7B"; mini models (no such label) count as 0."""
    m = _SIZE.match(str(size).strip())
    return float(m.group(1)) * _SCALE[m.group(2).lower()] if m else 0.0


def job_resources(
    kind: str,
    params: float,
    precision: str = "bfloat16",
    *,
    gpu_mem_gb: float = 80.0,
    processes: int = 1,
    samples: int = 100_000,
    replicates: int = 1000,
    epochs: int = 3,
    examples: int = 10_000,
    gpu: bool = True,
) -> dict:
    """Resources of one job: {"gpu", "mem_mb", "cpus_per_task", "runtime"} (runtime in minutes).

    `gpu=False` (the mini preset, a CPU-only run) asks for no GPU whatever the model.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; kinds are {KINDS}")
    if kind == "aggregate":
        # One CPU job reads every score file; `samples` is their total, each resampled `replicates` times.
        runtime = 30 + AGGREGATE_S_PER_SAMPLE_REPLICATE * samples * replicates / 60
        return {"gpu": 0, "mem_mb": 4 * GB, "cpus_per_task": 2, "runtime": int(math.ceil(runtime))}
    if kind == "cpu" or params <= 0 and not gpu:
        return {"gpu": 0, "mem_mb": 4 * GB, "cpus_per_task": 2, "runtime": 30}
    weights_gb = params * BYTES.get(precision, 2) / 1e9
    billions = params / 1e9
    if kind == "score":
        need = 1.2 * weights_gb + 4
        runtime = 10 + 6 * billions * samples / 100_000
    elif kind == "full":
        need = 16 * params / 1e9 / processes + 8
        runtime = 30 + 40 * billions * epochs * examples / 10_000
    elif kind in ("lora", "reward"):
        need = 1.2 * weights_gb + 8
        runtime = 30 + 20 * billions * epochs * examples / 10_000
    elif kind == "dpo":
        need = 1.2 * weights_gb + 12
        runtime = 30 + 60 * billions * epochs * examples / 10_000
    else:  # ppo
        need = 3 * 1.2 * weights_gb + 12
        runtime = 30 + 40 * billions * epochs * examples / 10_000
    gpus = max(processes, math.ceil(need / gpu_mem_gb)) if gpu else 0
    return {
        "gpu": gpus,
        "mem_mb": int(math.ceil((1.5 * weights_gb + 8) * max(1, processes))) * GB,
        "cpus_per_task": 4 * gpus if gpus else 2,
        "runtime": int(math.ceil(runtime)),
    }

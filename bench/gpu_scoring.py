"""The scoring bench on a GPU: bf16 Pythia shapes with random weights, shared-prefix reuse against the plain path.

For each shape (160m, 1.4b, 6.9b by default) and two workloads shaped like the study's (MMLU 5-shot: subjects
whose questions share a 448-token header and shots, each with a 64-128 token question; instructed CLM: a
40-token template before contexts of 16-200 tokens), prints context tokens/s of the engine with and without
prefix reuse, the achieved FLOP rate of the forward passes (2 x non-embedding parameters x tokens run, plus the
LM head at each scored position) and its fraction of the GPU's bf16 peak (nominal, from the device name or
--peak-tflops) and of a measured bf16 matmul rate; checks that both paths pick the same tokens. Attention is
FlashAttention 2 where the flash_attn package is installed, else PyTorch SDPA (`attn_implementation`).

    python bench/gpu_scoring.py                        # on a GPU (about 2 minutes on an H100-class card)
    python bench/gpu_scoring.py --shapes 1.4b --groups 16
    python bench/gpu_scoring.py --tiny                 # CPU, float32, a tiny shape: checks that the bench runs
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from types import SimpleNamespace

import numpy as np
import torch
from scoring_speed import forward_flops, pythia_config  # shared with the CPU bench (bench/ is on sys.path)

from llmcal.models.load import LoadedModel
from llmcal.scoring.engine import score_contexts

SHAPES = {"tiny": (64, 2, 2), "160m": (768, 12, 12), "1.4b": (2048, 24, 16), "6.9b": (4096, 32, 32)}
# Dense bf16 tensor-core peaks (no sparsity), TFLOP/s, by a substring of torch.cuda.get_device_name().
BF16_PEAK_TFLOPS = {
    "H200": 989.0,
    "H100": 989.0,
    "GH200": 989.0,
    "A100": 312.0,
    "L40S": 362.0,
    "L4": 121.0,
    "A10": 125.0,
    "V100": 125.0,
    "RTX 4090": 165.0,
}
VOCAB = 50304


def peak_tflops(device: str, override: float | None) -> float | None:
    if override:
        return override
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    hits = [tflops for key, tflops in BF16_PEAK_TFLOPS.items() if key in name]
    return max(hits) if hits else None


def matmul_rate(device: str, dtype, n: int) -> float:
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = 0.0
    for _ in range(3):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(10):
            a @ b
        _sync(device)
        best = max(best, 20 * n**3 / (time.perf_counter() - t0))
    return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def attention_implementation(device: str) -> str:
    if device.startswith("cuda") and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def random_model(shape: str, device: str, dtype, attn: str):
    from transformers import GPTNeoXForCausalLM

    hidden, layers, heads = SHAPES[shape]
    cfg = pythia_config(hidden, layers, heads, pad=1, eos=0, vocab=VOCAB)
    torch.manual_seed(0)
    with torch.device(device):
        model = GPTNeoXForCausalLM._from_config(cfg, dtype=dtype, attn_implementation=attn)
    model.eval()
    # The engine needs only a pad id from the tokenizer.
    return LoadedModel(
        model=model,
        tokenizer=SimpleNamespace(pad_token_id=1, eos_token_id=0),
        arch="causal",
        device=device,
        dtype=dtype,
    )


def workload(kind: str, groups: int, per_group: int, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)

    def toks(n):
        return [int(t) for t in rng.integers(2, VOCAB, size=n)]

    contexts = []
    if kind == "mmlu":
        for _ in range(groups):
            head = toks(448)
            contexts += [head + toks(int(rng.integers(64, 129))) for _ in range(per_group)]
    else:
        head = toks(40)
        contexts += [head + toks(int(rng.integers(16, 201))) for _ in range(groups * per_group)]
    return [contexts[i] for i in rng.permutation(len(contexts))]


def run(lm, contexts, prefix_cache: bool, batch_tokens: int, max_batch: int):
    def top1(logits, idx):
        return {"pred": logits.argmax(-1)}

    score_contexts(lm, contexts[:4], top1, batch_tokens, max_batch, prefix_cache)  # warm-up
    _sync(lm.device)
    t0 = time.perf_counter()
    out = score_contexts(lm, contexts, top1, batch_tokens, max_batch, prefix_cache)
    _sync(lm.device)
    return out["pred"], time.perf_counter() - t0


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["160m", "1.4b", "6.9b"], choices=sorted(SHAPES))
    ap.add_argument("--groups", type=int, default=8, help="MMLU subjects (instructed CLM: groups x per-group)")
    ap.add_argument("--per-group", type=int, default=64, help="questions per subject")
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--peak-tflops", type=float, help="the GPU's bf16 peak, if its name is not in the table")
    ap.add_argument("--tiny", action="store_true", help="CPU, float32, the tiny shape, a small workload")
    args = ap.parse_args(argv)
    if args.tiny:
        device, dtype, shapes, groups, per_group = "cpu", torch.float32, ["tiny"], 2, 6
    else:
        if not torch.cuda.is_available():
            raise SystemExit("no GPU here (torch.cuda.is_available() is False); --tiny runs the bench on the CPU")
        device, dtype, shapes, groups, per_group = "cuda", torch.bfloat16, args.shapes, args.groups, args.per_group
    attn = attention_implementation(device)
    peak = peak_tflops(device, args.peak_tflops)
    measured = matmul_rate(device, dtype, 256 if args.tiny else 8192)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"{name}, {str(dtype).removeprefix('torch.')}, attention {attn}, torch {torch.__version__}; matmul "
        f"{measured / 1e12:.1f} TFLOP/s measured" + (f", {peak:.0f} TFLOP/s nominal peak" if peak else "")
    )
    print(
        f"{'shape':<6} {'workload':<10} {'path':<7} {'s':>7} {'tokens/s':>10} {'speed-up':>8} {'TFLOP/s':>8} "
        f"{'of peak':>7} {'of mm':>6}"
    )
    for shape in shapes:
        lm = random_model(shape, device, dtype, attn)
        for kind in ("mmlu", "clm"):
            contexts = workload(kind, groups, per_group)
            n_tokens = sum(len(c) for c in contexts)
            results = {}
            for prefix_cache in (False, True):
                pred, seconds = run(lm, contexts, prefix_cache, args.batch_tokens, args.max_batch)
                _, flops = forward_flops(lm.model, contexts, prefix_cache)
                results[prefix_cache] = (pred, seconds, flops / seconds)
            base = results[False][1]
            for prefix_cache, (_pred, seconds, rate) in results.items():
                frac = f"{rate / (peak * 1e12):7.1%}" if peak else f"{'-':>7}"
                print(
                    f"{shape:<6} {kind:<10} {'prefix' if prefix_cache else 'plain':<7} {seconds:7.2f} "
                    f"{n_tokens / seconds:10.0f} {base / seconds:7.2f}x {rate / 1e12:8.2f} {frac} "
                    f"{rate / measured:6.1%}"
                )
            same = float((results[True][0] == results[False][0]).mean())
            print(f"{'':<6} {kind:<10} same top-1 token on {same:.1%} of {len(contexts)} contexts")
        del lm
        if device == "cuda":
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()

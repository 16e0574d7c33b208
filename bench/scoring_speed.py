"""Scoring throughput: the batched engine against a plain per-sample loop over full logits.

Same model, same samples, same (context, target) pairs; prints tokens/s of each and their ratio.
Default: the mini preset's largest model on its causal-LM samples (run `make mini` first), e.g.
    python bench/scoring_speed.py --n 400
    python bench/scoring_speed.py --model results/models/hub/EleutherAI--pythia-70m/step143000 \
        --data results/data/clm.parquet --max-length 2048
Offline, `--pythia-70m-shape` times a randomly initialised model of Pythia-70m's shape (50k vocabulary,
where the LM head is most of the work) on the mini samples; its predictions mean nothing, its speed does.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from llmcal.models.load import load_model  # noqa: E402
from llmcal.scoring.engine import reference_last_logits, score_contexts, top1_reducer  # noqa: E402
from llmcal.scoring.tasks import ScoringConfig, build_requests  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="results/mini/models/mini/mini-l/step512")
    ap.add_argument("--data", default="results/mini/data/clm.parquet")
    ap.add_argument("--task", default="clm", choices=["clm", "facts"])
    ap.add_argument("--arch", default="causal", choices=["causal", "seq2seq"])
    ap.add_argument("--n", type=int, default=400, help="samples to score")
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--batch-tokens", type=int, default=16384)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pythia-70m-shape", action="store_true", help="random weights in Pythia-70m's shape")
    args = ap.parse_args()
    if not os.path.isdir(args.model) or not os.path.exists(args.data):
        raise SystemExit(f"need a model dir and a sample file ({args.model}, {args.data}): run `make mini` first")

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = _pythia_70m_shape(args.model, tmp) if args.pythia_70m_shape else args.model
        lm = load_model(model_dir, args.arch)
        run(lm, args)


def _pythia_70m_shape(tokenizer_dir: str, out: str) -> str:
    from transformers import AutoTokenizer, GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    cfg = GPTNeoXConfig(vocab_size=50304, hidden_size=512, num_hidden_layers=6, num_attention_heads=8,
                        intermediate_size=2048, max_position_embeddings=2048, rotary_pct=0.25)
    GPTNeoXForCausalLM(cfg).save_pretrained(out)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(out)
    return out


def run(lm, args) -> None:
    df = pd.read_parquet(args.data).head(args.n)
    cfg = ScoringConfig(max_length=args.max_length, min_context=16, batch_tokens=args.batch_tokens)
    req = build_requests(args.task, df, lm.tokenizer, args.arch, cfg, seed=1234)
    tokens = sum(len(c) for c in req.contexts)

    score_contexts(lm, req.contexts[:8], top1_reducer(req.targets[:8]))  # warm-up
    t0 = time.perf_counter()
    res = score_contexts(lm, req.contexts, top1_reducer(req.targets), cfg.batch_tokens, cfg.max_batch)
    engine_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    plain = [int(reference_last_logits(lm, c).argmax()) for c in req.contexts]
    plain_s = time.perf_counter() - t0

    agree = float(np.mean(np.array(plain) == res["pred_id"]))
    name = "random Pythia-70m shape" if args.pythia_70m_shape else args.model
    print(f"model {name} on {lm.device} ({lm.dtype}), {len(req.contexts)} samples, {tokens} context tokens")
    print(f"engine      {tokens / engine_s:12.0f} tokens/s  ({engine_s:.2f} s)")
    print(f"plain loop  {tokens / plain_s:12.0f} tokens/s  ({plain_s:.2f} s)")
    print(f"ratio       {plain_s / engine_s:12.2f}x   (same predictions: {agree:.1%})")


if __name__ == "__main__":
    main()

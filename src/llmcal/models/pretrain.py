"""Pretraining the mini suite: a Pythia-style family of tiny GPT-NeoX models.

As with Pythia, every scale sees the same token stream in the same order and
saves checkpoints at log-spaced steps, so scale and training time are the only
things that differ between models.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from llmcal.fsio import atomic_dir
from llmcal.sections import Section, setting

PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<|unk|>"


@dataclass(frozen=True)
class PretrainConfig(Section):
    """The `pretrain:` section: how the mini suite is pretrained on the world's corpus."""

    section: ClassVar[str] = "pretrain"

    vocab_size: int = setting(2048, "BPE vocabulary size of the mini suite's tokenizer")
    seq_len: int = setting(256, "training sequence length, also the mini models' context window")
    batch_size: int = setting(8, "sequences per optimizer step (no accumulation: it changes the training)")
    steps: int = setting(512, "optimizer steps of every scale; checkpoints at powers of two and the last")
    lr: float = setting(3e-3, "peak learning rate (linear warm-up, cosine decay)")
    warmup: int = setting(32, "linear warm-up steps")
    weight_decay: float = setting(0.01, "AdamW weight decay")
    seed: int = setting(1234, "seed of initialisation and of the token stream")
    # Not runtime-only: torch splits its sums by thread, and 8 steps on 2 threads gave other weights than on 1.
    threads: int = setting(1, "CPU threads of a pretraining job (also the rule's threads)")


def read_corpus(path: str | Path) -> list[str]:
    texts = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                texts.append(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                raise ValueError(f"{path}, line {i}: not a Pile record with a 'text' field ({e})") from None
    if not texts:
        raise ValueError(f"{path}: the pretraining corpus is empty")
    return texts


def train_tokenizer(corpus: str | Path, vocab_size: int, out_dir: str | Path) -> None:
    """A byte-level BPE like GPT-NeoX's, with distinct pad and end-of-text tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    texts = read_corpus(corpus)
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=PAD, unk_token=None)
    with atomic_dir(out_dir) as tmp:
        fast.save_pretrained(tmp)


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def token_stream(tokenizer, texts: list[str]) -> np.ndarray:
    """All documents as one stream, each followed by end-of-text, as in GPT-NeoX pretraining."""
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return np.fromiter((t for doc in ids for t in (*doc, eos)), dtype=np.int64)


def batches(stream: np.ndarray, cfg: PretrainConfig):
    """The fixed data order: seeded, independent of the model, so every scale sees the same batches."""
    n_seq = len(stream) // cfg.seq_len
    if n_seq < cfg.batch_size:
        raise ValueError(
            f"pretrain: the corpus has {len(stream)} tokens, fewer than one batch "
            f"({cfg.batch_size} x {cfg.seq_len}); enlarge the world or lower pretrain.batch_size"
        )
    seqs = stream[: n_seq * cfg.seq_len].reshape(n_seq, cfg.seq_len)
    rng = np.random.default_rng(cfg.seed)
    n_epochs = math.ceil(cfg.steps * cfg.batch_size / n_seq)
    order = np.concatenate([rng.permutation(n_seq) for _ in range(n_epochs)])
    for step in range(cfg.steps):
        yield seqs[order[step * cfg.batch_size : (step + 1) * cfg.batch_size]]


def model_config(arch: dict, tokenizer, seq_len: int):
    from transformers import GPTNeoXConfig

    allowed = {"hidden_size", "num_layers", "num_heads", "intermediate_size"}
    unknown = set(arch) - allowed
    if unknown:
        raise ValueError(f"mini architecture: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
    hidden = int(arch["hidden_size"])
    heads = int(arch["num_heads"])
    if hidden % heads:
        raise ValueError(f"mini architecture: hidden_size {hidden} is not divisible by num_heads {heads}")
    return GPTNeoXConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=int(arch["num_layers"]),
        num_attention_heads=heads,
        intermediate_size=int(arch.get("intermediate_size", 4 * hidden)),
        max_position_embeddings=seq_len,
        rotary_pct=0.25,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up then cosine decay to 10%, Pythia's schedule."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(
    tokenizer_dir: str | Path,
    corpus: str | Path,
    arch: dict,
    cfg: PretrainConfig,
    save_steps: list[int],
    out_dirs: list[str | Path],
    log=print,
) -> list[float]:
    """Train one scale; save a checkpoint (model + tokenizer) after each step in save_steps.

    Returns the training loss per step.
    """
    import torch
    from transformers import GPTNeoXForCausalLM

    if len(save_steps) != len(out_dirs):
        raise ValueError("pretrain: one output directory per saved step")
    bad = [s for s in save_steps if not 1 <= s <= cfg.steps]
    if bad:
        raise ValueError(f"pretrain: save steps {bad} outside 1..{cfg.steps}")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    stream = token_stream(tokenizer, read_corpus(corpus))
    model = GPTNeoXForCausalLM(model_config(arch, tokenizer, cfg.seq_len))
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )
    to_save = dict(zip(save_steps, out_dirs))
    losses = []
    n_params = sum(p.numel() for p in model.parameters())
    log(f"pretraining {n_params} parameters on {len(stream)} tokens for {cfg.steps} steps")
    for step, batch in enumerate(batches(stream, cfg), start=1):
        for group in opt.param_groups:
            group["lr"] = lr_at(step - 1, cfg)
        x = torch.from_numpy(batch)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss))
        if step % 64 == 0 or step == cfg.steps:
            log(f"step {step}/{cfg.steps} loss {np.mean(losses[-64:]):.4f}")
        if step in to_save:
            save_checkpoint(model, tokenizer, to_save[step], {"step": step, "arch": arch, "pretrain": cfg.to_dict()})
    return losses


def save_checkpoint(model, tokenizer, out_dir: str | Path, meta: dict) -> None:
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (Path(tmp) / "llmcal_checkpoint.json").write_text(json.dumps(meta, indent=1, sort_keys=True))

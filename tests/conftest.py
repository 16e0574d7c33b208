"""Shared fixtures: a tiny tokenizer and tiny random models of each architecture family.

Everything is built here, offline, in seconds; no test reaches the hub.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest

WORDS = (
    "the river city of Valdoria lies north of Kenro and its people trade salt and iron "
    "Answer: A B C D . , ? the capital founded by Tash in the year of the long winter"
).split()


def _corpus_lines(n: int = 400) -> list[str]:
    import random

    rnd = random.Random(0)
    return [
        json.dumps({"text": " ".join(rnd.choice(WORDS) for _ in range(40)), "meta": {"pile_set_name": "T"}})
        for _ in range(n)
    ]


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "train.jsonl"
    path.write_text("\n".join(_corpus_lines()) + "\n")
    return path


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, corpus_file):
    from llmcal.models.pretrain import train_tokenizer

    out = tmp_path_factory.mktemp("tok") / "tokenizer"
    train_tokenizer(corpus_file, 600, out)
    return out


def _save(model, tokenizer_dir, out):
    from transformers import AutoTokenizer

    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(str(tokenizer_dir)).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory, tokenizer_dir):
    """{family: (path, arch)} for a random GPT-NeoX, LLaMA, OPT and T5 sharing one tokenizer."""
    import torch
    from transformers import (
        AutoTokenizer,
        GPTNeoXConfig,
        GPTNeoXForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
        OPTConfig,
        OPTForCausalLM,
        T5Config,
        T5ForConditionalGeneration,
    )

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    v, pad, eos = len(tok), tok.pad_token_id, tok.eos_token_id
    root = tmp_path_factory.mktemp("models")
    specs = {
        "neox": (
            GPTNeoXForCausalLM(
                GPTNeoXConfig(
                    vocab_size=v,
                    hidden_size=32,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    intermediate_size=64,
                    max_position_embeddings=512,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    bos_token_id=eos,
                )
            ),
            "causal",
        ),
        "llama": (
            LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=v,
                    hidden_size=32,
                    num_hidden_layers=2,
                    num_attention_heads=2,
                    num_key_value_heads=2,
                    intermediate_size=64,
                    max_position_embeddings=512,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    bos_token_id=eos,
                )
            ),
            "causal",
        ),
        "opt": (
            OPTForCausalLM(
                OPTConfig(
                    vocab_size=v,
                    hidden_size=32,
                    num_hidden_layers=2,
                    ffn_dim=64,
                    num_attention_heads=2,
                    max_position_embeddings=512,
                    word_embed_proj_dim=32,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    bos_token_id=eos,
                )
            ),
            "causal",
        ),
        "t5": (
            T5ForConditionalGeneration(
                T5Config(
                    vocab_size=v,
                    d_model=32,
                    d_kv=16,
                    d_ff=64,
                    num_layers=2,
                    num_heads=2,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    decoder_start_token_id=pad,
                )
            ),
            "seq2seq",
        ),
    }
    return {name: (_save(m, tokenizer_dir, root / name), arch) for name, (m, arch) in specs.items()}

"""Loading a scored model from disk: one interface for causal and encoder-decoder models.

Scoring never reaches the hub: `download_model` (a login-node rule) or the
mini-suite rules put every checkpoint in a directory first.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Where a config.json states the longest input its position embeddings cover, in the order looked up.
CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx", "max_seq_len")
# Relative position buckets (T5 and its kin): no position table, so no hard limit. Their configs still
# carry ``n_positions: 512`` (a default of T5Config, what they were pretrained on), which is not one.
RELATIVE_POSITION_TYPES = ("t5", "mt5", "umt5", "longt5", "switch_transformers")
# A tokenizer's vocabulary: one of these must be in a model directory (tokenizer_config.json alone is not).
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.json",
    "vocab.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    arch: str
    device: str
    dtype: object


def pick_device(device: str | None = None) -> str:
    import torch

    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str, dtype: str | None = None):
    """bf16 where the GPU supports it, float32 on CPU (bf16 matmuls there are slow and less exact)."""
    import torch

    if dtype and dtype != "auto":
        return getattr(torch, dtype)
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count()


def context_key(config: Mapping) -> tuple[str, int] | None:
    """The key and value of a model config that bound its input length; None if it has none.

    A pure function of the parsed config.json. Models with relative positions (T5) have no bound.
    """
    if str(config.get("model_type", "")) in RELATIVE_POSITION_TYPES:
        return None
    for key in CONTEXT_KEYS:
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config.json: {key} is {value!r}, not a positive integer")
        return key, value
    text = config.get("text_config")
    return context_key(text) if isinstance(text, Mapping) else None


def context_window(config: Mapping) -> int | None:
    """The longest input (in tokens) a model with this config.json takes; None if unbounded."""
    found = context_key(config)
    return None if found is None else found[1]


def _model_dir_missing(path: Path, what: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"{path}: {what}. A model entry with `hub:` is fetched here by the download_model rule "
        f"(`snakemake download`, on a machine with internet access); a model entry with `path:` must "
        f"point at a directory written by save_pretrained (config.json, weights and tokenizer files)."
    )


def read_config(path: str | Path) -> dict:
    """A model directory's config.json, read without loading anything else."""
    path = Path(path)
    if not path.is_dir():
        raise _model_dir_missing(path, "no such model directory (config.json missing)")
    file = path / "config.json"
    if not file.exists():
        raise _model_dir_missing(path, "no model here (config.json missing)")
    try:
        config = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{file}: not a readable JSON config ({e}); re-download or re-save the model") from None
    if not isinstance(config, dict):
        raise ValueError(f"{file}: not a JSON object; re-download or re-save the model")
    return config


def check_max_length(path: str | Path, max_length: int) -> int | None:
    """Refuse a scoring.max_length beyond the model's context window; the window (None: unbounded)."""
    path = Path(path)
    config = read_config(path)
    try:
        found = context_key(config)
    except ValueError as e:
        raise ValueError(f"{path}/{e}") from None
    if found is not None and max_length > found[1]:
        key, window = found
        raise ValueError(
            f"{path}/config.json: {key} is {window} but scoring.max_length is {max_length}; "
            f"set scoring.max_length <= {window}"
        )
    return None if found is None else found[1]


def check_tokenizer_files(path: str | Path) -> None:
    path = Path(path)
    if not any((path / name).is_file() for name in TOKENIZER_FILES) and not any(path.glob("*.tiktoken")):
        raise FileNotFoundError(
            f"{path}: no tokenizer files (none of {', '.join(TOKENIZER_FILES)}); a scored model directory "
            f"must hold its tokenizer: save it there with tokenizer.save_pretrained, or re-download the model"
        )


def check_safetensors(file: str | Path) -> None:
    """A truncated or corrupt safetensors file, named; reads its header only."""
    file = Path(file)
    size = file.stat().st_size
    advice = "re-download the model (delete the file first) or re-save it"
    with open(file, "rb") as fh:
        raw = fh.read(8)
        if len(raw) < 8:
            raise ValueError(f"{file}: truncated safetensors file ({size} bytes, no header); {advice}")
        (n,) = struct.unpack("<Q", raw)
        if 8 + n > size:
            raise ValueError(
                f"{file}: truncated or corrupt safetensors file (its header says {n} header bytes, "
                f"the file has {size} bytes); {advice}"
            )
        try:
            meta = json.loads(fh.read(n))
            end = max((int(v["data_offsets"][1]) for k, v in meta.items() if k != "__metadata__"), default=0)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            raise ValueError(f"{file}: corrupt safetensors header ({type(e).__name__}); {advice}") from None
    if 8 + n + end != size:
        raise ValueError(
            f"{file}: truncated or corrupt safetensors file (the header lists {8 + n + end} bytes, "
            f"the file has {size}); {advice}"
        )


def check_model_dir(path: str | Path) -> None:
    """What can be checked before loading: config.json, the tokenizer files, the safetensors weights."""
    path = Path(path)
    read_config(path)
    check_tokenizer_files(path)
    for file in sorted(path.glob("*.safetensors")):
        check_safetensors(file)


def load_model(
    path: str | Path, arch: str = "causal", device: str | None = None, dtype: str | None = None
) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = Path(path)
    check_model_dir(path)
    device = pick_device(device)
    torch_dtype = pick_dtype(device, dtype)
    cls = AutoModelForSeq2SeqLM if arch == "seq2seq" else AutoModelForCausalLM
    if device == "cuda" and _cuda_devices() > 1:
        # A model larger than one GPU (LLaMA-65B, OPT-66B in bf16) is split across the job's GPUs layer by
        # layer; inputs go to the first, where the embeddings are.
        model = cls.from_pretrained(str(path), dtype=torch_dtype, local_files_only=True, device_map="auto")
        device = str(model.get_input_embeddings().weight.device)
    else:
        model = cls.from_pretrained(str(path), dtype=torch_dtype, local_files_only=True)
        model.to(device)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    if not tokenizer("hello world", add_special_tokens=False)["input_ids"]:
        raise ValueError(
            f"{path}: its tokenizer turns text into no tokens; the directory's tokenizer files are "
            f"incomplete: save the tokenizer there with tokenizer.save_pretrained"
        )
    return LoadedModel(model=model, tokenizer=tokenizer, arch=arch, device=device, dtype=torch_dtype)

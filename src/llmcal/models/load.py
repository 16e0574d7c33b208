"""Loading a scored model from disk: one interface for causal and encoder-decoder models.

Scoring never reaches the hub: `download_model` (a login-node rule) or the
mini-suite rules put every checkpoint in a directory first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


def load_model(path: str | Path, arch: str = "causal", device: str | None = None, dtype: str | None = None) -> LoadedModel:
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    path = Path(path)
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"{path}: no model here (config.json missing). Hub models are fetched by the "
            f"download_model rule (`snakemake download`); a local model must be a directory "
            f"written by save_pretrained."
        )
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
    return LoadedModel(model=model, tokenizer=tokenizer, arch=arch, device=device, dtype=torch_dtype)

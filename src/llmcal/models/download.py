"""Fetching hub checkpoints to disk (a login-node job; scoring only ever loads from disk)."""

from __future__ import annotations

import shutil
from pathlib import Path

from llmcal.data.download import OFFLINE_ENV, DownloadError, download_error, hub_network_errors, offline_requested
from llmcal.fsio import atomic_dir

# Configuration and tokenizer files of every family in the study (T5 and LLaMA ship a sentencepiece *.model).
_SIDE_FILES = ["*.json", "*.model", "*.txt", "*.tiktoken", "*.py"]


MODEL_ON_DISK = (
    "put the checkpoint on disk by hand (a directory written by save_pretrained: config.json, "
    "weights and tokenizer files) and point the model's entry in the config at it with "
    "`path: <directory>` instead of `hub:`"
)


def model_download_error(what: str, dest: Path, reason: str) -> DownloadError:
    """Why a checkpoint cannot be fetched, and the config key that points at one already on disk."""
    return download_error(what, dest, reason, MODEL_ON_DISK)


def weight_patterns(files: list[str]) -> list[str]:
    """Safetensors when the revision has them, else the pickled .bin weights (older Pythia steps, LLaMA v1)."""
    weights = ["*.safetensors"] if any(f.endswith(".safetensors") for f in files) else ["*.bin"]
    return _SIDE_FILES + weights


def download_model(repo: str, revision: str | None, dest: str | Path) -> Path:
    from huggingface_hub import HfApi, snapshot_download

    dest = Path(dest)
    what = f"model {repo}@{revision or 'main'}"
    if offline_requested():
        raise model_download_error(what, dest, f"{OFFLINE_ENV} is set, so no network access is tried")
    try:
        with atomic_dir(dest) as tmp:
            files = HfApi().list_repo_files(repo, revision=revision)
            snapshot_download(repo_id=repo, revision=revision, local_dir=tmp, allow_patterns=weight_patterns(files))
            shutil.rmtree(Path(tmp) / ".cache", ignore_errors=True)
    except hub_network_errors() as e:
        raise model_download_error(what, dest, f"the hub could not be reached ({type(e).__name__})") from e
    return dest

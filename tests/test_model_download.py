"""Hub checkpoints: which files are fetched, and a clear refusal while offline."""

from __future__ import annotations

import pytest

from llmcal.data.download import DownloadError
from llmcal.models.download import download_model, weight_patterns


def test_weight_patterns_prefer_safetensors():
    assert "*.safetensors" in weight_patterns(["config.json", "model.safetensors", "pytorch_model.bin"])
    assert "*.bin" not in weight_patterns(["config.json", "model.safetensors", "pytorch_model.bin"])
    # Old Pythia step branches and LLaMA v1 conversions only have pickled weights.
    pats = weight_patterns(["config.json", "pytorch_model.bin", "tokenizer.json"])
    assert "*.bin" in pats and "*.safetensors" not in pats
    # Tokenizers of every family come along: T5/LLaMA sentencepiece models, GPT-NeoX json.
    assert {"*.json", "*.model"} <= set(pats)


def test_download_model_offline_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dest = tmp_path / "models" / "EleutherAI--pythia-70m" / "step143000"
    with pytest.raises(DownloadError) as err:
        download_model("EleutherAI/pythia-70m", "step143000", dest)
    msg = str(err.value)
    assert "EleutherAI/pythia-70m@step143000" in msg and str(dest) in msg
    assert "source: local" in msg or "by hand" in msg
    assert not dest.exists()

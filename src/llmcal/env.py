"""Process set-up for workflow jobs, run before anything imports the Hugging Face stack."""

from __future__ import annotations

import os


def prepare(offline: bool) -> None:
    """Compute jobs load from disk only: HF_HUB_OFFLINE makes a missing file an error, not a hang.

    Download jobs keep the user's HF_HUB_OFFLINE, so that setting it forbids them the network too.
    """
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if offline:
        os.environ["HF_HUB_OFFLINE"] = "1"

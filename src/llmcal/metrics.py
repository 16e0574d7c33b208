"""The `metrics:` section: how the metrics table computes ECE and its bootstrap intervals (llmcal.calibration)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from llmcal.sections import Section, setting


@dataclass(frozen=True)
class MetricsConfig(Section):
    section: ClassVar[str] = "metrics"

    n_bins: int = setting(10, "equal-width confidence bins of ECE and the reliability diagrams (10 in the paper)")
    n_boot: int = setting(1000, "bootstrap replicates of each 95% interval")

    def __post_init__(self):
        for name in ("n_bins", "n_boot"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")

"""llmcal: the calibration study of Zhu et al. (2023) as a reproducible workflow."""

__version__ = "0.1.0"

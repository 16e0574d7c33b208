"""Running a trainer in this process, or across several through `accelerate launch`.

A Snakemake job is one process; a run configured for more than one process (the paper used 4 GPUs per
run) re-enters this module under `accelerate launch --module`, which starts one copy per process with the
environment (RANK, WORLD_SIZE, ...) the trainers read. The job's arguments travel as a JSON file.
Every trainer finishes by writing its epochs into the run's state directory; `publish` then links them
into the job's outputs, so a failed job whose outputs Snakemake deletes keeps what it trained.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("llmcal")

STAGES = ("sft", "reward", "ppo", "dpo")


def run_stage(stage: str, args: dict, launch: dict, work_dir) -> dict:
    """Train `stage` with `args` (plain data), in-process or under accelerate per `launch`."""
    if stage not in STAGES:
        raise ValueError(f"unknown training stage {stage!r}; stages are {STAGES}")
    processes = int(launch.get("num_processes", 1))
    if processes == 1:
        return _train(stage, args)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    job = work_dir / f"{stage}-launch.json"
    job.write_text(json.dumps({"stage": stage, "args": args}, indent=1))
    command = accelerate_command(launch, job)
    log.info("launching: %s", " ".join(command))
    subprocess.run(command, check=True)
    summary = work_dir / f"{stage}-summary.json"
    return json.loads(summary.read_text()) if summary.is_file() else {}


def accelerate_command(launch: dict, job: Path) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(launch["num_processes"])]
    if launch.get("config_file"):
        if not Path(launch["config_file"]).is_file():
            raise ValueError(
                f"alignment.launch: config_file {launch['config_file']} does not exist (relative "
                f"paths are read from the directory Snakemake runs in, {Path.cwd()})"
            )
        # The file chooses the distribution (FSDP, DeepSpeed, DDP); a --multi_gpu flag would override it.
        command += ["--config_file", str(launch["config_file"])]
    else:
        # torchrun's data-parallel launcher; without CUDA the processes use gloo on the CPU (how the tests run it).
        command += ["--multi_gpu"]
    if launch.get("main_process_port"):
        command += ["--main_process_port", str(launch["main_process_port"])]
    return command + ["--module", __name__, str(job)]


def _train(stage: str, args: dict) -> dict:
    from llmcal.training import DPOSettings, PPOSettings, RewardSettings, SFTSettings

    if stage == "sft":
        from llmcal.training.sft import train_sft

        settings = SFTSettings.from_dict(args["settings"], args["key"])
        return train_sft(args["base_dir"], args["data"], settings, args["epoch_dirs"], args["state_dir"], log=log.info)
    if stage == "reward":
        from llmcal.training.reward import train_reward

        settings = RewardSettings.from_dict(args["settings"], args["key"])
        return train_reward(args["base_dir"], args["pairs"], settings, args["out_dir"], args["metrics"], log=log.info)
    if stage == "dpo":
        from llmcal.training.dpo import train_dpo

        settings = DPOSettings.from_dict(args["settings"], args["key"])
        return train_dpo(
            args["policy_dir"], args["pairs"], settings, args["epoch_dirs"], args["state_dir"], log=log.info
        )
    from llmcal.training.ppo import train_ppo

    settings = PPOSettings.from_dict(args["settings"], args["key"])
    return train_ppo(
        args["policy_dir"],
        args["reward_dir"],
        args["prompts"],
        settings,
        args["epoch_dirs"],
        args["state_dir"],
        log=log.info,
    )


def publish(src, dest) -> None:
    """A complete copy of src at dest, hard-linked where the filesystem allows (model weights are large)."""
    from llmcal.fsio import atomic_dir

    def link(a, b):
        try:
            os.link(a, b)
        except OSError:
            shutil.copy2(a, b)

    if Path(dest).exists():
        shutil.rmtree(dest)
    with atomic_dir(dest) as tmp:
        os.rmdir(tmp)
        shutil.copytree(src, tmp, copy_function=link)


def main(job_path: str) -> None:
    from llmcal.training import is_main_process, write_json

    logging.basicConfig(level=logging.INFO, format="%(asctime)s [rank %(process)d] %(message)s")
    job = json.loads(Path(job_path).read_text())
    summary = _train(job["stage"], job["args"])
    if is_main_process():
        write_json(Path(job_path).with_name(f"{job['stage']}-summary.json"), summary)


if __name__ == "__main__":
    main(sys.argv[1])

"""A real single-node SLURM on this machine, for tests/test_slurm.py.

Debian's slurm-wlm and munge, installed on first use when the tests run as root with apt; the controller
and the node daemon run from a config written here for localhost. Facts of such machines that shaped
this: srun inside a job reads /etc/slurm/slurm.conf (SLURM_CONF alone is not passed on), so the config is
written there (and any previous one restored afterwards); without cgroups, proctrack/linuxproc and
task/none work; with no accounting storage the executor must ask squeue, so MinJobAge is kept long.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "llmcal-ci"
DAEMONS = ("/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd")


def unavailable() -> str | None:
    """Why SLURM cannot be brought up here, or None once it is installed."""
    if all(Path(d).exists() for d in DAEMONS) and shutil.which("sbatch"):
        return None
    if os.geteuid() != 0:
        return "SLURM is not installed and the tests are not root, so they cannot install it"
    if not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it with"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(
        ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"], capture_output=True, text=True, env=env, timeout=900
    )
    if proc.returncode != 0:
        update = subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600)
        proc = subprocess.run(
            ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"],
            capture_output=True,
            text=True,
            env=env,
            timeout=900,
        )
        if proc.returncode != 0:
            return f"apt-get could not install slurm-wlm and munge: {(update.stderr + proc.stderr)[-500:]}"
    return None


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - 1024
    return 4096


def slurm_conf(state: Path, host: str, cpus: int, memory_mb: int) -> str:
    return "\n".join(
        [
            "ClusterName=llmcaltest",
            f"SlurmctldHost={host}",
            "SlurmUser=root",
            "AuthType=auth/munge",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            f"StateSaveLocation={state / 'ctld'}",
            f"SlurmdSpoolDir={state / 'spool'}",
            f"SlurmctldPidFile={state / 'slurmctld.pid'}",
            f"SlurmdPidFile={state / 'slurmd.pid'}",
            f"SlurmctldLogFile={state / 'slurmctld.log'}",
            f"SlurmdLogFile={state / 'slurmd.log'}",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            "MpiDefault=none",
            # squeue must still see a job some minutes after it ended, or the executor loses its status.
            "MinJobAge=3600",
            "ReturnToService=2",
            "SlurmctldTimeout=30",
            f"NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
            "",
        ]
    )


class Cluster:
    """Start with `start()`; `stop()` kills the daemons it started by their pids and restores the config."""

    def __init__(self, state: Path):
        self.state = Path(state)
        self.pids: list[int] = []
        self.backup: str | None = None

    def start(self) -> None:
        host = socket.gethostname().split(".")[0]
        for sub in ("ctld", "spool"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        if CONF.exists():
            self.backup = CONF.read_text()
        CONF.parent.mkdir(parents=True, exist_ok=True)
        CONF.write_text(slurm_conf(self.state, host, os.cpu_count() or 1, _memory_mb()))
        self._start_munge()
        subprocess.run(["/usr/sbin/slurmctld"], check=True, timeout=60)
        self._wait_pid(self.state / "slurmctld.pid")
        subprocess.run(["/usr/sbin/slurmd"], check=True, timeout=60)
        self._wait_pid(self.state / "slurmd.pid")
        self._wait_idle()

    def _start_munge(self) -> None:
        if subprocess.run(["pgrep", "-x", "munged"], capture_output=True).returncode == 0:
            return  # the machine's own munge serves us as well
        run = Path("/run/munge")
        run.mkdir(parents=True, exist_ok=True)
        shutil.chown(run, "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True, timeout=60)
        self._wait_pid(run / "munged.pid")

    def _wait_pid(self, pidfile: Path, timeout: float = 30) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if pidfile.is_file() and pidfile.read_text().strip():
                self.pids.append(int(pidfile.read_text().split()[0]))
                return
            time.sleep(0.2)
        raise RuntimeError(f"{pidfile} did not appear; see the logs in {self.state}")

    def _wait_idle(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.split()
            if out and out[0] in ("idle", "mix", "alloc"):
                return
            if out and out[0].startswith(("down", "drain")):
                subprocess.run(
                    ["scontrol", "update", f"nodename={socket.gethostname().split('.')[0]}", "state=resume"],
                    capture_output=True,
                )
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node never became idle (sinfo: {out}); see {self.state}")

    def job_state(self, job_id: str) -> str:
        out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True).stdout
        for field in out.split():
            if field.startswith("JobState="):
                return field.split("=", 1)[1]
        return "UNKNOWN"

    def stop(self) -> None:
        for pid in reversed(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in self.pids:
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
        if self.backup is not None:
            CONF.write_text(self.backup)
        elif CONF.exists():
            CONF.unlink()

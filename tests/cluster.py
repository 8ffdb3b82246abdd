"""Real engines for the executor tests: a local Ray head and a single-node Slurm (with
munge), each started by the tests themselves and stopped afterwards, and the helpers
that find the process running a given training run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

RAY_ENV = {
    # No token: a ~/.ray/auth_token left by another local Ray would otherwise switch the
    # head to token authentication and refuse this driver.
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_DISABLE_DOCKER_CPU_WARNING": "1",
    "RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO": "0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def ray_head(env: dict[str, str], cpus: int = 2) -> Iterator[str]:
    """`ray start --head` on 127.0.0.1 with `cpus` CPUs; yields its address. `--block`
    keeps the head in the foreground (in its own process group), so stopping it stops
    exactly this cluster, not other Ray instances on the machine as `ray stop` would."""
    port = free_port()
    ray = Path(sys.executable).with_name("ray")
    cmd = [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
           "--port", str(port), "--num-cpus", str(cpus), "--include-dashboard", "false",
           "--disable-usage-stats"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_for_port(port, proc, 120)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()  # `ray start --block` drains and stops the processes it started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"ray start exited with {proc.returncode}"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"the Ray head did not listen on port {port} within {timeout}s")


SLURM_TOOLS = ("slurmctld", "slurmd", "munged", "mungekey", "sbatch", "scontrol")


def slurm_missing() -> str | None:
    """Why a real Slurm cannot be started here, or None."""
    if os.geteuid() != 0:
        return "a single-node Slurm needs root to start slurmd"
    missing = [t for t in SLURM_TOOLS if not shutil.which(t, path="/usr/sbin:/usr/bin:/sbin")]
    return (
        f"not installed: {', '.join(missing)} (apt-get install slurm-wlm munge)"
        if missing
        else None
    )


SLURM_CONF = """\
ClusterName=advland-test
SlurmctldHost={host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge.sock,cred_expire=10
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
SlurmctldPort={ctld}
SlurmdPort={slurmd}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=10
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@contextmanager
def slurm_cluster(folder: Path) -> Iterator[dict[str, str]]:
    """A private munged (own key and socket), slurmctld and slurmd on 127.0.0.1, all
    configured in `folder` (mode 0700); yields the environment (SLURM_CONF, PATH) of the
    Slurm client commands. Nothing outside `folder` is written or started."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)  # munged refuses a key or socket in a folder others may write
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, d=folder, ctld=free_port(), slurmd=free_port(),
                                      cpus=os.cpu_count() or 1))  # fmt: skip
    env = dict(os.environ, SLURM_CONF=str(conf), PATH=f"{os.environ['PATH']}:/usr/sbin:/sbin")
    try:
        subprocess.run(["mungekey", "-c", "-k", str(folder / "munge.key")], env=env, check=True)
        subprocess.run(["munged", "--force", f"--socket={folder}/munge.sock",
                        f"--key-file={folder}/munge.key", f"--pid-file={folder}/munged.pid",
                        f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
                       env=env, check=True)  # fmt: skip
        subprocess.run(["slurmctld", "-f", str(conf)], env=env, check=True)
        subprocess.run(["slurmd", "-f", str(conf), "-N", host], env=env, check=True)
        _wait_idle(env, 60)
        yield env
    finally:
        for name in ("slurmd", "slurmctld", "munged"):
            _kill_pidfile(folder / f"{name}.pid")


def _wait_idle(env: dict[str, str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        state = proc.stdout.strip()
        if state == "idle":
            return
        time.sleep(0.5)
    raise AssertionError(f"the Slurm node is '{state}', not idle, after {timeout}s")


def _kill_pidfile(path: Path) -> None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def trainer_of(run_dir: Path) -> int | None:
    """The pid of the `advland train` process training `run_dir`, if one runs."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"advland" in argv and b"train" in argv and str(run_dir).encode() in argv:
            return int(proc.name)
    return None


def parent_of(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"

"""How many CPU threads PyTorch may use: the cores this process may really run on.

PyTorch sizes its thread pools from the CPUs it sees, which respects CPU affinity (taskset,
cpusets) but not a container's CPU quota: under `docker --cpus=2` on a 64-core host it starts 64
threads that share two cores' worth of time, and its spinning OpenMP threads then wait on each
other far longer than the work takes. Likewise N worker processes of a batch must share the
cores, not each take all of them. So the command line sets the thread count itself:

    usable cores = min(CPU affinity, cgroup CPU quota (v2 cpu.max, v1 cfs_quota_us/cfs_period_us))
    threads      = max(1, usable cores // workers), or 1 where the machine is already saturated
                   (1-minute load average at least the usable cores)

`$REGEN_CODEC_THREADS` (a whole number, 1 or more) overrides it: that many threads per process.
The quota is read along the process's own cgroup path and its parents (the tightest wins), as
well as at the cgroup mount's root, which is the process's own cgroup inside a container with a
cgroup namespace; a quota of a fraction of a core counts as one core, 2.5 cores as two.

The saturated case: on a 2-core machine running 10-20 other processes, one default encode took
27 s with one thread and 330-1000 s with two (bench/results/load-speed.json): PyTorch's OpenMP
threads wait for each other at every parallel step, and on a full machine one of them is
usually descheduled. The load average lags by about a minute, so a run started just after heavy
work ends may take one thread on a machine that has become idle: at most the cores' factor slower,
against the tens lost the other way.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

from ..utils.env import whole_number

ENV = "REGEN_CODEC_THREADS"
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def affinity_cores() -> int:
    """CPUs this process may be scheduled on (its affinity mask; all CPUs where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS, Windows: no affinity call
        return max(1, os.cpu_count() or 1)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _dirs(mount: Path, rel: str) -> list[Path]:
    """`mount`/`rel` and its parents up to `mount` (those that exist), and `mount` itself."""
    parts = [p for p in rel.strip("/").split("/") if p and p not in (".", "..")]
    out = [mount.joinpath(*parts[:k]) for k in range(len(parts), 0, -1)]
    return [d for d in out if d.is_dir()] + [mount]


def _quota_v2(d: Path) -> float | None:
    """Cores allowed by `d`/cpu.max ("max 100000" or "QUOTA PERIOD"), None for no limit."""
    text = _read(d / "cpu.max")
    if not text:
        return None
    fields = text.split()
    try:
        if fields[0] == "max":
            return None
        period = float(fields[1]) if len(fields) > 1 else 100_000.0
        quota = float(fields[0])
    except (ValueError, IndexError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def _quota_v1(d: Path) -> float | None:
    """Cores allowed by `d`/cpu.cfs_quota_us and cpu.cfs_period_us (-1: no limit)."""
    q, p = _read(d / "cpu.cfs_quota_us"), _read(d / "cpu.cfs_period_us")
    try:
        quota, period = float(q), float(p)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def cgroup_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """Cores' worth of CPU time the process's cgroup quota allows (may be fractional), or None
    where no quota applies or none can be read (not Linux, no cgroup file system)."""
    text = _read(proc_cgroup)
    if text is None:
        return None
    limits: list[float] = []
    for line in text.splitlines():
        hier, _, rest = line.partition(":")
        controllers, _, rel = rest.partition(":")
        if hier == "0" and controllers == "":  # cgroup v2 (unified)
            mounts = [root] + ([root / "unified"] if (root / "unified").is_dir() else [])
            for mount in mounts:
                limits += [c for d in _dirs(mount, rel) if (c := _quota_v2(d)) is not None]
        elif "cpu" in controllers.split(","):  # cgroup v1's cpu controller
            for name in (controllers, "cpu", "cpu,cpuacct", "cpuacct,cpu"):
                mount = root / name
                if mount.is_dir():
                    limits += [c for d in _dirs(mount, rel) if (c := _quota_v1(d)) is not None]
                    break
    return min(limits) if limits else None


def usable_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """Whole cores this process may really use: its affinity, capped by its cgroup quota."""
    cores = affinity_cores()
    quota = cgroup_cores(root, proc_cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return cores


def load_average() -> float:
    """The 1-minute load average (0 where the system does not report one)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def threads_for(workers: int = 1, env: Mapping[str, str] | None = None, *,
                root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP,
                load: float | None = None) -> int:
    """PyTorch threads for each of `workers` processes sharing this machine's usable cores:
    $REGEN_CODEC_THREADS when set; else 1 where the machine is saturated (`load`, the 1-minute
    load average by default, at least the usable cores); else usable_cores() // workers (at
    least 1)."""
    n = whole_number(ENV, 1, "threads", env)
    if n is not None:
        return n
    cores = usable_cores(root, proc_cgroup)
    if (load_average() if load is None else load) >= cores:
        return 1
    return max(1, cores // max(1, workers))


def set_threads(threads: int) -> None:
    """Use `threads` intra-op and inter-op threads in this process's PyTorch. The inter-op pool
    can only be sized before its first parallel work; where it already runs it stays as it is."""
    import torch  # the CLI imports this module for every command; only this needs PyTorch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # "cannot set number of interop threads after parallel work has started"
        pass


def configure(workers: int = 1) -> int:
    """set_threads(threads_for(workers)); the count chosen."""
    n = threads_for(workers)
    set_threads(n)
    return n

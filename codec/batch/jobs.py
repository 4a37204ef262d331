"""Many files at once: collect inputs (files, folders, globs), mirror the tree into an output
folder, run a local process pool with a progress bar, skip what is already done, and report
failures at the end instead of stopping on the first one.
"""

from __future__ import annotations

import glob
import os
import signal
import warnings
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ..errors import CodecError
from ..format.container import has_meta
from ..format.pack import as_jpeg, is_jxl
from ..utils.stopsignal import Stopped
from .fileops import show_warning
from .threads import set_threads, threads_for
from .workers import WorkerDied, imap_unordered

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp", ".ppm", ".gif"}
CODED_SUFFIXES = {".jpg", ".jpeg", ".jxl"}


@dataclass
class Job:
    src: Path
    dst: Path


@dataclass
class BatchResult:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    bytes_in: int = 0
    bytes_out: int = 0


def collect(paths: list[str], suffixes: set[str],
            out_dir: Path | None = None) -> list[tuple[Path, Path]]:
    """(file, path relative to the output folder) for every input: files as named, folders
    searched recursively for `suffixes`, and glob patterns (`**` allowed). A searched folder's
    subfolder `out_dir` is left out: a run's own outputs are not inputs of the next run."""
    found: list[tuple[Path, Path]] = []
    out = out_dir.resolve() if out_dir is not None else None
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            inner = out if out is not None and p.resolve() in out.parents else None
            for f in sorted(p.rglob("*")):
                if inner is not None and inner in f.resolve().parents:
                    continue
                if f.is_file() and f.suffix.lower() in suffixes and not f.name.startswith("."):
                    found.append((f, f.relative_to(p)))
        elif p.is_file():
            found.append((p, Path(p.name)))
        elif any(ch in raw for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(raw, recursive=True))
            found += [(m, Path(m.name)) for m in matches if m.is_file()]
            if not matches:
                raise CodecError(f"{raw}: no file matches")
        else:
            raise CodecError(f"{raw}: no such file or directory")
    return found


_HEAD = 1 << 20  # enough for the header segments of almost any JPEG (EXIF, ICC, ours)


def is_regen_file(path: Path) -> bool:
    """Whether `path` is a regen-codec file: a JPEG (or packed JPEG XL) whose header carries the
    regen-codec segment, whatever its name. Reads the header only, unless the file is packed
    or its header is longer than a megabyte; anything unreadable counts as not one."""
    try:
        with open(path, "rb") as f:
            data = f.read(16)
            if data[:2] != b"\xff\xd8" and not is_jxl(data):
                return False  # a PNG, a TIFF, ...: no more to read
            data += f.read(_HEAD - len(data))
            if is_jxl(data):
                data = as_jpeg(data + f.read())
        for _ in range(2):
            try:
                return has_meta(data)
            except CodecError:
                if len(data) < _HEAD:
                    return False
                data = Path(path).read_bytes()  # a header longer than the first read
    except (OSError, CodecError):
        return False
    return False


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def plan(inputs: list[tuple[Path, Path]], out_dir: Path, suffix: str) -> list[Job]:
    """Jobs writing `out_dir/<relative path>` with `suffix`; two inputs may not share an output
    (one file named twice is done once)."""
    jobs, seen = [], {}
    for src, rel in inputs:
        dst = out_dir / rel.with_suffix(suffix)
        if dst in seen:
            if _same(seen[dst], src):  # one file named twice (`a.png *.png`): once is enough
                continue
            raise CodecError(f"{seen[dst]} and {src} would both be written to {dst}")
        seen[dst] = src
        jobs.append(Job(src, dst))
    return jobs


def _init_worker(threads: int) -> None:
    set_threads(threads)
    warnings.showwarning = show_warning


def cluster_map(fn: Callable, items: list, scheduler: str):
    """Yield (item, result or exception) of `fn(item)` run on a Dask cluster, as they finish.

    Workers must see the same file paths (shared storage); each picks its GPU when it has one.
    """
    try:
        from distributed import Client  # optional dependency (regen-codec[cluster])
        from distributed import as_completed as dask_completed
    except ImportError:
        raise CodecError("--scheduler needs dask.distributed: pip install 'regen-codec[cluster]'") from None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise CodecError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
    with client:
        futures = {client.submit(fn, it, pure=False): k for k, it in enumerate(items)}
        for fut in dask_completed(futures):
            try:
                yield items[futures[fut]], fut.result()
            except Exception as exc:  # the worker's exception, re-raised here
                yield items[futures[fut]], exc


def _work_job(job: Job, work):
    """Make the job's output folder, then run `work` on it (in a worker too, so that a folder
    that cannot be made is that file's failure)."""
    job.dst.parent.mkdir(parents=True, exist_ok=True)
    return work(job.src, job.dst)


def _remove_partial(job: Job) -> None:
    """The temporary file a worker killed while writing `job` left beside its output."""
    for stale in job.dst.parent.glob(f".{job.dst.name}.*.part"):
        stale.unlink(missing_ok=True)


def run(jobs: list[Job], work: Callable[[Path, Path], int], n_jobs: int = 1,
        desc: str = "files", progress: bool = True, scheduler: str | None = None,
        force: bool = False) -> BatchResult:
    """Run `work(src, dst) -> bytes written` for every job whose output does not exist yet
    (every job with `force`, as --force promises: `work` still never overwrites an input):
    in this process, in a local pool of `n_jobs` processes, or on a Dask `scheduler`."""
    res = BatchResult()
    todo = []
    for j in jobs:
        if j.dst.exists() and not force:
            res.skipped.append(j.src)
        else:
            todo.append(j)
            for stale in j.dst.parent.glob(f".{j.dst.name}.*.part"):  # left by a killed run
                stale.unlink(missing_ok=True)
    bar = tqdm(total=len(todo), desc=desc, unit="file", disable=not progress, dynamic_ncols=True)

    def record(job: Job, outcome) -> None:
        if isinstance(outcome, BaseException):
            res.failed.append((job.src, str(outcome) if isinstance(outcome, CodecError)
                               else f"{outcome.__class__.__name__}: {outcome}"))
        else:
            res.done.append(job.src)
            res.bytes_in += job.src.stat().st_size
            res.bytes_out += outcome
        bar.update(1)
        bar.set_postfix(failed=len(res.failed), refresh=False)

    if scheduler:
        for job, outcome in cluster_map(partial(_work_job, work=work), todo, scheduler):
            record(job, outcome)
    elif n_jobs <= 1:
        for job in todo:
            try:  # an output folder that cannot be made fails this file, not the batch
                record(job, _work_job(job, work))
            except (CodecError, OSError) as exc:
                record(job, exc)
    else:
        def clean(held: list[int]) -> None:
            for k in held:
                _remove_partial(todo[k])

        threads = threads_for(n_jobs)  # the usable cores (affinity, cgroup quota) shared out
        try:
            for k, outcome in imap_unordered(partial(_work_job, work=work), todo, n_jobs,
                                             _init_worker, (threads,), on_stop=clean):
                if isinstance(outcome, WorkerDied):  # killed mid-write: no debris
                    _remove_partial(todo[k])
                record(todo[k], outcome)
        except Stopped as exc:
            bar.close()
            left = len(todo) - len(res.done) - len(res.failed)
            raise Stopped(exc.signum, res, f"stopped by {signal.Signals(exc.signum).name}: "
                          f"{len(res.done)} done, {len(res.failed)} failed, {left} not done "
                          f"(run the same command again to resume)") from None
    bar.close()
    return res

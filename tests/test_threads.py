"""codec.batch.threads: PyTorch's thread count from affinity, cgroup quotas and --jobs (faked files)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from codec.batch import threads
from codec.errors import CodecError


def _proc(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "proc-self-cgroup"
    p.write_text(text)
    return p


def _write(path: Path, **files: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (path / name).write_text(text)


@pytest.fixture
def cores(monkeypatch):
    """Pretend the affinity mask holds `n` CPUs."""
    def set_(n: int) -> None:
        monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: set(range(n)), raising=False)
    return set_


def test_v2_quota_in_namespace_root(tmp_path, cores):
    cores(64)
    root = tmp_path / "cg"
    _write(root, **{"cpu.max": "200000 100000\n"})
    proc = _proc(tmp_path, "0::/\n")
    assert threads.cgroup_cores(root, proc) == 2.0
    assert threads.usable_cores(root, proc) == 2
    assert threads.threads_for(1, {}, root=root, proc_cgroup=proc, load=0) == 2


def test_v2_quota_on_a_parent_of_the_process_cgroup(tmp_path, cores):
    cores(16)
    root = tmp_path / "cg"
    _write(root / "user.slice", **{"cpu.max": "350000 100000"})
    _write(root / "user.slice" / "job.scope", **{"cpu.max": "max 100000"})
    proc = _proc(tmp_path, "0::/user.slice/job.scope\n")
    assert threads.cgroup_cores(root, proc) == 3.5
    assert threads.usable_cores(root, proc) == 3  # 3.5 cores' time: 3 threads, not 4


def test_v2_no_limit_and_fraction(tmp_path, cores):
    cores(8)
    root = tmp_path / "cg"
    _write(root, **{"cpu.max": "max 100000"})
    proc = _proc(tmp_path, "0::/\n")
    assert threads.cgroup_cores(root, proc) is None
    assert threads.usable_cores(root, proc) == 8
    (root / "cpu.max").write_text("50000 100000")  # half a core: still one thread
    assert threads.usable_cores(root, proc) == 1


def test_v1_quota(tmp_path, cores):
    cores(32)
    root = tmp_path / "cg"
    _write(root / "cpu,cpuacct", **{"cpu.cfs_quota_us": "400000", "cpu.cfs_period_us": "100000"})
    proc = _proc(tmp_path, "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    # the host's path /docker/abc is not visible inside the container: its mount root is
    assert threads.cgroup_cores(root, proc) == 4.0
    assert threads.threads_for(2, {}, root=root, proc_cgroup=proc, load=0) == 2


def test_v1_unlimited_like_this_machine(tmp_path, cores):
    cores(2)
    root = tmp_path / "cg"
    _write(root / "cpu", **{"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"})
    proc = _proc(tmp_path, "1:cpu:/\n2:cpuacct:/\n0::/\n")
    assert threads.cgroup_cores(root, proc) is None
    assert threads.usable_cores(root, proc) == 2


def test_affinity_caps_and_jobs_divide(tmp_path, cores):
    cores(3)
    root = tmp_path / "cg"
    _write(root, **{"cpu.max": "800000 100000"})
    proc = _proc(tmp_path, "0::/\n")
    assert threads.usable_cores(root, proc) == 3
    assert threads.threads_for(1, {}, root=root, proc_cgroup=proc, load=0) == 3
    assert threads.threads_for(2, {}, root=root, proc_cgroup=proc, load=0) == 1
    assert threads.threads_for(8, {}, root=root, proc_cgroup=proc, load=0) == 1  # never 0


def test_no_cgroup_files(tmp_path, cores):
    cores(4)
    assert threads.cgroup_cores(tmp_path / "none", tmp_path / "missing") is None
    assert threads.usable_cores(tmp_path / "none", tmp_path / "missing") == 4
    bad = tmp_path / "cg"
    _write(bad, **{"cpu.max": "garbage"})
    assert threads.cgroup_cores(bad, _proc(tmp_path, "0::/\n")) is None


def test_override(tmp_path, cores):
    cores(64)
    none = tmp_path / "none"
    assert threads.threads_for(4, {"REGEN_CODEC_THREADS": "3"}, root=none, proc_cgroup=none, load=0) == 3
    assert threads.threads_for(4, {"REGEN_CODEC_THREADS": " "}, root=none, proc_cgroup=none, load=0) == 16
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(CodecError, match="REGEN_CODEC_THREADS"):
            threads.threads_for(1, {"REGEN_CODEC_THREADS": bad}, root=none, proc_cgroup=none, load=0)


@pytest.mark.slow  # a new Python process imports torch: about 5 s
def test_set_threads_in_a_fresh_process():
    """Both pools take the count in a new process (the inter-op pool only before parallel work)."""
    code = ("import torch; from codec.batch.threads import set_threads; set_threads(1); "
            "print(torch.get_num_threads(), torch.get_num_interop_threads()); "
            "torch.ones(4).sum(); set_threads(1)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.split() == ["1", "1"]


def _threads_in_worker(src: Path, dst: Path) -> int:
    """A batch job that reports the worker's PyTorch thread count as its 'bytes written'."""
    import torch

    return torch.get_num_threads()


def test_batch_workers_take_the_shared_out_count(tmp_path, monkeypatch):
    from codec.batch import jobs as batch

    monkeypatch.setenv("REGEN_CODEC_THREADS", "3")
    jobs = [batch.Job(tmp_path / f"{k}.png", tmp_path / "out" / f"{k}.jpg") for k in range(2)]
    for j in jobs:
        j.src.write_bytes(b"x")
    res = batch.run(jobs, _threads_in_worker, n_jobs=2, progress=False)
    assert not res.failed and res.bytes_out == 3 * 2


def test_cli_sizes_threads_and_refuses_a_bad_override(cli, monkeypatch, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("REGEN_CODEC_THREADS", "1")
        cli("decode", tmp_path / "missing.jpg")
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("REGEN_CODEC_THREADS", "lots")
        r = cli("decode", tmp_path / "missing.jpg")
        assert r.exit_code == 2
        assert r.stderr.strip() == ("regen-codec: error: REGEN_CODEC_THREADS must be a whole "
                                    "number of threads, 1 or more, got 'lots'")
        r = cli("info", tmp_path / "missing.jpg")  # no network: no thread setting, no error
        assert "REGEN_CODEC_THREADS" not in r.stderr
    finally:
        torch.set_num_threads(before)


def test_a_saturated_machine_gets_one_thread(tmp_path, cores):
    """Load at or above the usable cores: one thread (two took 12-37 times as long there)."""
    cores(8)
    none = tmp_path / "none"
    assert threads.threads_for(1, {}, root=none, proc_cgroup=none, load=7.9) == 8
    assert threads.threads_for(1, {}, root=none, proc_cgroup=none, load=8.0) == 1
    assert threads.threads_for(2, {}, root=none, proc_cgroup=none, load=3.0) == 4
    root = tmp_path / "cg"
    _write(root, **{"cpu.max": "200000 100000"})  # the quota's 2 cores are what count
    proc = _proc(tmp_path, "0::/\n")
    assert threads.threads_for(1, {}, root=root, proc_cgroup=proc, load=2.5) == 1
    assert threads.threads_for(1, {"REGEN_CODEC_THREADS": "4"}, root=root, proc_cgroup=proc,
                               load=50) == 4  # the override wins
    assert threads.load_average() >= 0  # this machine's own figure reads

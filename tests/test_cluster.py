"""Batch and estimate on a Dask LocalCluster over loopback (worker processes)."""

import json

import pytest
from PIL import Image

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_batch_encode_decode_on_cluster(cli, tmp_path, photo, scheduler):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    Image.fromarray(photo).save(src / "a.png")
    Image.fromarray(photo[:80, :96]).save(src / "d" / "b.png")
    (src / "bad.png").write_bytes(b"nope")
    r = cli("encode", src, "-o", tmp_path / "enc", "--scheduler", scheduler)
    assert r.exit_code == 1 and "2 done" in r.stdout and "bad.png" in r.stderr
    assert (tmp_path / "enc" / "d" / "b.jpg").is_file()
    r = cli("decode", tmp_path / "enc", "-o", tmp_path / "dec", "--scheduler", scheduler)
    assert r.exit_code == 0, r.output
    assert Image.open(tmp_path / "dec" / "d" / "b.png").size == (96, 80)


def test_estimate_on_cluster_matches_local(cli, tmp_path, photo, scheduler):
    for i in range(3):
        Image.fromarray(photo[:, i * 12:i * 12 + 140]).save(tmp_path / f"p{i}.png")
    args = ["estimate", tmp_path, "--target-psnr", 29, "--json"]
    local = json.loads(cli(*args).stdout)
    remote = cli(*args, "--scheduler", scheduler)
    assert remote.exit_code == 0, remote.output
    remote = json.loads(remote.stdout)
    assert remote["saving_pct"] == pytest.approx(local["saving_pct"])
    assert remote["saving_ci95"] == pytest.approx(local["saving_ci95"])


def test_unreachable_scheduler(cli, tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "a.png")
    r = cli("encode", tmp_path, "-o", tmp_path / "o", "--scheduler", "tcp://127.0.0.1:9")
    assert r.exit_code == 2 and "cannot reach the Dask scheduler" in r.stderr

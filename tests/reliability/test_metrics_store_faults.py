"""The metrics store never takes the service down: real faults under real traffic.

Each test runs `folio api --workers 3` (store_faults_server) under background traffic
(store_faults_traffic.Traffic: GETs of /api/health and of missing projects, about 80 a second,
and a scrape every 0.25 s checked for absurd values by store_faults_scrapes), damages the
shared metrics directory the way disks, operators and other programs do, and checks that

- every request gets its normal answer and /api/metrics its 200, throughout and after;
- no worker dies of it (only the ones the test kills), and never the supervisor;
- no counter is ever exported negative, NaN, infinite, or above the requests sent;
- the fault is counted in folio_metrics_errors_total{hook="metrics_store",reason=...};
- a bad file goes to <dir>/quarantine/, and counts come back where the data still exists.

Each fault is checked to have happened (the file really is shorter, the bytes are there, the
directory really refuses a write, the disk really is full).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from folio_metrics.multiprocess.checks import REASONS
from folio_metrics.multiprocess.store import HEADER

from tests.ports import free_port
from tests.processes import stop_process
from tests.reliability.store_faults_scrapes import (
    assert_sane,
    eventually,
    fill_tails,
    http_total,
    overwrite,
    quarantined,
    requests_counted_in,
    samples_of,
    scrape,
    settled_total,
    store_error_series,
    store_errors,
    total_between,
    truncate,
    used_bytes,
    value,
    wait_for_error,
    wait_for_quarantine,
    worker_files,
)
from tests.reliability.store_faults_server import (
    WITHOUT_DAC_OVERRIDE,
    Server,
    alive,
    assert_supervisor_alive,
    create_in,
    dac_overrides,
    full_tmpfs,
    listening,
    require,
    running_server,
    start_server,
    wait_for_workers,
    worker_pids,
)
from tests.reliability.store_faults_traffic import (
    NEW_PAIRS,
    Tally,
    Traffic,
    pair_counts_problems,
    send,
    wait_for_exact_total,
)

WARM_UP = 1.0  # seconds of background traffic before a fault


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path) as started:
        yield started


def test_store_error_series_start_at_zero(server: Server) -> None:
    """Every reason's series is there at 0 before any fault; scrapes count no request."""
    for _ in range(5):
        text = scrape(server)
    assert store_error_series(text) == dict.fromkeys(REASONS, 0.0)
    # /api/metrics is left out of http_*, so what the tests count as sent leaves scrapes out.
    assert http_total(text) == 0
    assert not [s for s in samples_of(text) if s.labels.get("endpoint") == "/api/metrics"]


def test_a_worker_killed_with_its_file_half_truncated(server: Server) -> None:
    """Truncate a worker's file to half its used bytes and SIGKILL that worker at once, so
    that a truncated file is what is left to fold (by the supervisor, or first met by a
    worker's merge): the supervisor survives and replaces the worker; the file goes to
    quarantine/; the other workers' counts stay."""
    tally = Tally()
    pids = worker_pids(server)
    with Traffic(server, tally) as traffic:
        time.sleep(WARM_UP)
        traffic.pause()
        wait_for_exact_total(server, tally)
        files = worker_files(server.metrics_dir)
        assert pids <= set(files), (pids, files)
        held = {pid: sum(requests_counted_in(path) for path in files[pid]) for pid in pids}
        assert sum(held.values()) == tally.sent, f"reading the files gives {held}: a test bug"
        victim = max(pids, key=lambda pid: held[pid])  # the most counts to lose
        target = files[victim][0]
        # A sound lower bound for the total once the victim is gone: what the other two held
        # before the fault (their files are not touched; the victim's may be quarantined and
        # left out of merges before its owner could republish it, since it is killed at
        # once), plus every request begun after the victim was gone (only intact workers
        # can have answered those).
        others = sum(held[pid] for pid in pids - {victim})
        traffic.resume()
        time.sleep(0.3)

        used = used_bytes(target)
        truncate(target, used // 2)
        traffic.kill(victim, signal.SIGKILL)
        after_death = tally.mark()

        replaced = wait_for_workers(server)
        assert victim not in replaced
        assert pids - {victim} <= replaced, "a worker other than the killed one died"
        wait_for_error(server, ["truncated"])
        wait_for_quarantine(server.metrics_dir, target)
        time.sleep(WARM_UP)
        traffic.pause()
        lower = others + tally.answered_after(after_death)
        print(f"held before the fault {held}, victim {victim}: at least {lower} of {tally.sent}")
        eventually(
            lambda: total_between(scrape(server), lower, tally.sent),
            timeout=5,
            what="the surviving counts",
        )
        assert_sane(scrape(server), tally.sent)
    traffic.check()


def test_a_worker_file_truncated_to_zero(server: Server) -> None:
    """`: > file` on a live worker's file: nobody dies, the owner included; the file goes to
    quarantine/; afterwards every new request is counted, exactly."""
    tally = Tally()
    pids = worker_pids(server)
    with Traffic(server, tally) as traffic:
        time.sleep(WARM_UP)
        assert store_errors(scrape(server), "truncated") == 0
        victim = min(pids)
        target = worker_files(server.metrics_dir)[victim][0]
        truncate(target, 0)
        wait_for_error(server, ["truncated"])
        wait_for_quarantine(server.metrics_dir, target)
        time.sleep(2.5)  # the owner republishes within ~2 s; traffic goes on meanwhile

        # A window of exactly N requests, with nothing else sent: the totals rise by N.
        traffic.pause()
        before = settled_total(server)
        health_before = value(scrape(server), "http_requests_total", endpoint="/api/health")
        n = 60
        assert send(server, tally, [("GET", "/api/health")] * n) == {
            (("GET", "/api/health"), 200): n
        }

        def risen_by_n() -> list[str]:
            text = scrape(server)
            total = http_total(text)
            health = value(text, "http_requests_total", endpoint="/api/health")
            if (total, health) == (before + n, health_before + n):
                return []
            return [f"total {before} -> {total}, /api/health {health_before} -> {health}, +{n}"]

        eventually(risen_by_n, timeout=5, what=f"a rise of exactly {n}", times=3)
        assert_sane(scrape(server), tally.sent)
        traffic.resume()
        time.sleep(0.5)
        assert worker_pids(server) == pids, "a worker died"
    traffic.check()
    assert all(alive(pid) for pid in pids)


def test_random_bytes_in_a_used_region_then_workers_stop(server: Server) -> None:
    """4 KiB of noise over a file's entries: counted as corrupt or bad_value, never exported
    as counts; then its owner is SIGTERMed and another worker SIGKILLed, and the fresh
    workers serve /api/metrics."""
    tally = Tally()
    pids = worker_pids(server)
    with Traffic(server, tally) as traffic:
        send(server, tally, NEW_PAIRS)  # more series in every file: used regions past 4 KiB
        time.sleep(WARM_UP)
        files = worker_files(server.metrics_dir)
        used, victim = max((used_bytes(files[pid][0]), pid) for pid in pids)
        target = files[victim][0]
        assert used >= HEADER.size + 4096 + 8, f"{target.name} uses only {used} bytes"
        offset = (HEADER.size + (used - HEADER.size - 4096) // 2) // 8 * 8  # mid-file
        noise = random.Random(20261130).randbytes(4096)  # noqa: S311 (noise, not secrets)
        back = overwrite(target, offset, noise)[: len(noise)]
        # The owner may already have rewritten a few of its hot cells in the region.
        assert sum(a == b for a, b in zip(back, noise, strict=True)) > 3 * 4096 // 4
        wait_for_error(server, ["corrupt", "bad_value"])
        wait_for_quarantine(server.metrics_dir, target)
        time.sleep(WARM_UP)  # scrapes meanwhile must show nothing absurd

        traffic.kill(victim, signal.SIGTERM)
        survivors = wait_for_workers(server)
        assert pids - {victim} <= survivors, "a worker other than the stopped one died"
        second = min(pids - {victim})
        traffic.kill(second, signal.SIGKILL)
        # Each worker, the two fresh ones included, answers GET /api/metrics with a 200.
        final = wait_for_workers(server)
        assert len(final - pids) == 2, (pids, final)
        assert pids - {victim, second} <= final, (pids, final)
        time.sleep(0.5)
        traffic.pause()
        assert_sane(scrape(server), tally.sent)
    traffic.check()


def test_random_bytes_in_the_unused_tail_under_new_series(server: Server) -> None:
    """Noise past `used` in every file, where new entries go: the series then created count
    exactly what was sent, never what the file held there."""
    tally = Tally()
    pids = worker_pids(server)
    with Traffic(server, tally) as traffic:
        time.sleep(WARM_UP)
        traffic.pause()  # no new series while the tails are written
        used = fill_tails(server.metrics_dir)
        traffic.resume()
        repeats = 3
        statuses = send(server, tally, NEW_PAIRS * repeats)
        assert sorted(request for request, _ in statuses) == sorted(NEW_PAIRS), statuses
        traffic.pause()
        eventually(
            lambda: pair_counts_problems(scrape(server), repeats),
            timeout=5,
            what="exact counts for the new series",
            times=3,
        )
        wait_for_exact_total(server, tally)
        assert_sane(scrape(server), tally.sent)
        # The fault bit: new entries went where the noise was (unless a file was set aside).
        grown = [p for p in used if p.exists() and used_bytes(p) > used[p]]
        print(f"noise past {used}; files that grew over it: {grown}")
        assert grown or any(quarantined(server.metrics_dir, p) for p in used)
        assert worker_pids(server) == pids, "a worker died"
    traffic.check()


def test_the_directory_emptied_under_live_workers(server: Server) -> None:
    """`rm -rf dir/*`: counted as missing, and since no worker died, the totals are exact
    again within seconds (the workers republish what they hold)."""
    tally = Tally()
    pids = worker_pids(server)
    with Traffic(server, tally) as traffic:
        time.sleep(WARM_UP)
        assert store_errors(scrape(server), "missing") == 0
        # As the shell's glob: everything but dot files (the lock stays).
        doomed = {p: p.stat().st_ino for p in server.metrics_dir.iterdir() if p.name[0] != "."}
        assert pids <= set(worker_files(server.metrics_dir)), doomed
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        assert not [p for p, inode in doomed.items() if p.exists() and p.stat().st_ino == inode]
        wait_for_error(server, ["missing"])
        time.sleep(WARM_UP)
        traffic.pause()
        wait_for_exact_total(server, tally)
        assert pids <= set(worker_files(server.metrics_dir)), "a worker did not republish"
        assert_sane(scrape(server), tally.sent)
        traffic.resume()
        time.sleep(0.3)
        assert worker_pids(server) == pids, "a worker died"
    traffic.check()


def test_a_read_only_directory_and_a_killed_worker(tmp_path: Path) -> None:
    """chmod 0555 under a server without root's permission override, then SIGKILL a worker:
    the supervisor cannot archive, the replacement cannot create its file; both go on, the
    replacement serves, and it is counted as unwritable."""
    require(shutil.which("setpriv") is not None, "setpriv not found (util-linux)")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    probe = create_in(metrics_dir)
    require(probe.returncode == 0, f"setpriv cannot run the server here: {probe.stderr.strip()}")
    with running_server(tmp_path, prefix=WITHOUT_DAC_OVERRIDE) as server:
        tally = Tally()
        pids = worker_pids(server)
        for pid in {server.pid, *pids}:
            assert not dac_overrides(pid), f"{pid} overrides permissions: {dac_overrides(pid)}"
        with Traffic(server, tally) as traffic:
            time.sleep(WARM_UP)
            metrics_dir.chmod(0o555)
            try:
                probe = create_in(metrics_dir)  # the fault bites a process like the server
                assert probe.returncode == 13, f"the directory still takes files: {probe}"
                victim = min(pids)
                traffic.kill(victim, signal.SIGKILL)
                replaced = wait_for_workers(server)  # each answered GET /api/metrics 200
                fresh = replaced - pids
                assert len(fresh) == 1, (pids, replaced)
                assert pids - {victim} <= replaced, (pids, replaced)
                wait_for_error(server, ["unwritable"])
                time.sleep(WARM_UP)
                traffic.pause()
                assert_sane(scrape(server), tally.sent)
            finally:
                metrics_dir.chmod(0o755)
        traffic.check()


def test_a_full_disk(tmp_path: Path) -> None:
    """The metrics directory on a full 2 MiB tmpfs: no worker dies (the old failure was
    SIGBUS on touching a page with no room), every request is answered, disk_full is
    counted; once there is room again, the series made meanwhile appear with exact counts.

    The disk is filled before the server starts: the store claims space ahead of use (64 KiB
    a file at the time of writing), and folio-api's whole set of route series fits in that,
    so a disk filled later would never refuse this test a write.
    """
    metrics_dir = tmp_path / "metrics"
    with (
        full_tmpfs(metrics_dir) as filler,
        running_server(tmp_path, metrics_dir=metrics_dir) as server,
    ):
        tally = Tally()
        pids = worker_pids(server)
        with Traffic(server, tally) as traffic:
            time.sleep(WARM_UP)
            repeats = 2
            send(server, tally, NEW_PAIRS * repeats)
            wait_for_error(server, ["disk_full"])
            assert worker_pids(server) == pids, "a worker died"
            filler.unlink()
            traffic.pause()
            eventually(
                lambda: pair_counts_problems(scrape(server), repeats),
                timeout=6,
                what="the new series republished with exact counts",
                times=3,
            )
            wait_for_exact_total(server, tally)
            assert_sane(scrape(server), tally.sent)
        traffic.check()
        assert worker_pids(server) == pids, "a worker died"


def test_a_killed_supervisor_frees_the_port_at_once(tmp_path: Path) -> None:
    """SIGKILL of the supervisor alone: its workers get SIGTERM (PR_SET_PDEATHSIG), nothing
    listens on the port within 2 s, and a new server starts on it right away.

    tests/test_serve.py has the gist (workers gone, port bindable) with a 30 s bound; this
    holds it to 2 s and restarts for real."""
    port = free_port()
    first = start_server(tmp_path, port=port)
    second: Server | None = None
    pids: set[int] = set()
    try:
        pids = wait_for_workers(first)
        first.process.kill()
        first.process.wait()
        killed_at = time.monotonic()
        while listening(port) or any(alive(pid) for pid in pids):
            assert time.monotonic() - killed_at < 2, "a worker still holds the port after 2 s"
            time.sleep(0.05)
        print(f"port free {time.monotonic() - killed_at:.2f} s after the supervisor's SIGKILL")
        second = start_server(tmp_path, port=port)
        wait_for_workers(second)
        assert httpx.get(f"{second.url}/api/health", timeout=10).status_code == 200
        assert_supervisor_alive(second)
    finally:
        stop_process(first.process, timeout=15)
        for pid in pids:
            if alive(pid):  # orphaned workers of ours, should the test have failed
                os.kill(pid, signal.SIGKILL)
        if second is not None:
            stop_process(second.process, timeout=15)

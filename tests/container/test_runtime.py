"""What runs inside: a non-root user, the image's healthcheck, supervisor restarting a killed
Hypercorn (issue 5, test 6)."""

from __future__ import annotations

import contextlib
import time

import httpx

from tests.container.podman import SERVICE_UID, Container, Pod, podman


def test_runs_as_non_root(pod: Pod) -> None:
    container = pod.start()
    container.wait_healthy()
    processes = container.processes()
    assert any("supervisord" in cmd for _, _, cmd in processes)
    assert any("hypercorn" in cmd for _, _, cmd in processes)
    assert {uid for _, uid, _ in processes} == {SERVICE_UID}, processes


def test_started_as_root_drops_to_the_service_user(pod: Pod) -> None:
    container = pod.start({}, pod.volume(), "--user=0")
    container.wait_healthy()
    hypercorn = container.pid_of("bin/hypercorn")
    uids = {pid: uid for pid, uid, _ in container.processes()}
    assert uids[1] == SERVICE_UID  # supervisord
    assert uids[hypercorn] == SERVICE_UID
    owner = container.python("import os; print(os.stat('/var/lib/vexa/recordings').st_uid)")
    assert int(owner) == SERVICE_UID


def test_healthcheck_passes(pod: Pod) -> None:
    container = pod.start()
    container.wait_healthy()
    assert podman("healthcheck", "run", container.name, check=False).returncode == 0


def wait_new_server(container: Container, old_pid: int, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(container.url + "/healthz", timeout=1).status_code == 200:
                return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"no answer {timeout} s after killing pid {old_pid}:\n{container.logs()}")


def test_killed_hypercorn_is_restarted(pod: Pod) -> None:
    container = pod.start()
    container.wait_healthy()
    old = container.pid_of("bin/hypercorn")
    container.python(f"import os, signal; os.kill({old}, signal.SIGKILL)")
    assert wait_new_server(container, old, timeout=5) < 5
    assert container.pid_of("bin/hypercorn") != old
    assert "hypercorn (terminated by SIGKILL; not expected)" in container.logs()

"""Bad deployments stop at once with one clear line, no restart loop (issue 5, test 4)."""

from __future__ import annotations

from tests.container.podman import Pod


def test_require_volume_without_one_refuses(pod: Pod) -> None:
    code, log = pod.run_to_exit({"LITE_REQUIRE_VOLUME": "true"})
    assert code != 0
    last = log.strip().splitlines()[-1]
    assert last.startswith("error: LOCAL_STORAGE_DIR=/var/lib/vexa/recordings is not on a mounted")
    assert "LITE_REQUIRE_VOLUME=true" in last
    assert "-v vexa-recordings:/var/lib/vexa/recordings" in last
    assert "supervisord" not in log


def test_require_volume_with_one_starts(pod: Pod) -> None:
    container = pod.start({"LITE_REQUIRE_VOLUME": "true"}, pod.volume())
    container.wait_healthy()


def test_s3_without_bucket_refuses(pod: Pod) -> None:
    env = {"STORAGE_BACKEND": "s3", "S3_BUCKET": "", "S3_ENDPOINT": "http://127.0.0.1:9"}
    code, log = pod.run_to_exit(env)
    assert code != 0
    lines = log.strip().splitlines()
    assert len(lines) == 1, log
    assert "S3_BUCKET" in lines[0]

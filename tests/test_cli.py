"""`python -m lite check|backend|keys create` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from lite.apikeys import ApiKeyStore
from lite.storage.local import LocalStorage
from tests.servers import SeaweedServer
from tests.stores import s3_env

pytestmark = pytest.mark.anyio
EMPTY = Path(tempfile.mkdtemp(prefix="lite-cli-cwd-"))


def lite(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lite", *args],
        env={**os.environ, **env},
        cwd=EMPTY,  # not the checkout: a developer's .env there must not leak in
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line(stream: str) -> str:
    lines = stream.splitlines()
    assert len(lines) == 1, f"expected exactly one line, got: {stream!r}"
    assert "Traceback" not in stream
    return lines[0]


# --- check ----------------------------------------------------------------------------------------


def test_check_with_s3_and_an_empty_bucket_name_fails_with_one_line() -> None:
    done = lite("check", env={"STORAGE_BACKEND": "s3", "S3_BUCKET": ""})
    assert done.returncode == 1
    assert "S3_BUCKET" in one_line(done.stderr)
    assert done.stdout == ""


def test_check_with_a_missing_bucket_fails_with_one_clear_line(seaweed: SeaweedServer) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:12]}"
    done = lite("check", env=s3_env(seaweed.endpoint, bucket))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert bucket in line
    assert "does not exist" in line.lower()
    assert "testing" not in line  # neither the access key nor the secret


def test_check_with_a_writable_local_directory_passes_and_leaves_it_empty(
    tmp_path: Path,
) -> None:
    done = lite("check", env={"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    line = one_line(done.stdout)
    assert line.startswith("ok: storage local")
    assert str(tmp_path) in line
    assert os.listdir(tmp_path) == []


def test_check_with_a_bad_value_names_it_in_one_line() -> None:
    done = lite("check", env={"LOCAL_STORAGE_FSYNC": "sometimes"})
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert "LOCAL_STORAGE_FSYNC" in line
    assert "'sometimes'" in line


# --- backend --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "storage: local (no object-storage credentials set)"),
        (
            {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "S3_BUCKET": "rec"},
            "storage: s3 (AWS credentials and S3_BUCKET present)",
        ),
        (
            {"MINIO_ACCESS_KEY": "a", "MINIO_SECRET_KEY": "b"},
            "storage: minio (MINIO_ACCESS_KEY and MINIO_SECRET_KEY present)",
        ),
        ({"STORAGE_BACKEND": "local"}, "storage: local (STORAGE_BACKEND=local)"),
    ],
    ids=["nothing", "aws", "minio", "explicit-local"],
)
def test_backend_prints_the_choice_and_why(env: dict[str, str], expected: str) -> None:
    done = lite("backend", env=env)
    assert done.returncode == 0
    assert one_line(done.stdout) == expected
    assert done.stderr == ""


def test_backend_warns_on_stderr_about_a_contradiction() -> None:
    env = {
        "STORAGE_BACKEND": "local",
        "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
        "S3_BUCKET": "rec",
    }
    done = lite("backend", env=env)
    assert done.returncode == 0
    assert one_line(done.stdout) == "storage: local (STORAGE_BACKEND=local)"
    warning = one_line(done.stderr)
    assert warning.startswith("warning:")
    assert "very-secret" not in warning


# --- keys create ----------------------------------------------------------------------------------


async def test_keys_create_prints_a_key_that_resolves_to_the_user(tmp_path: Path) -> None:
    env = {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path)}
    done = lite("keys", "create", "--user", "3", "--name", "ci bot", env=env)
    assert done.returncode == 0, done.stderr
    plain = one_line(done.stdout).strip()
    record = await ApiKeyStore(LocalStorage(str(tmp_path))).resolve(plain)
    assert record.user_id == 3
    assert record.name == "ci bot"


@pytest.mark.parametrize("user", ["-1", "9007199254740992"])
def test_keys_create_for_an_impossible_user_fails_with_one_line(tmp_path: Path, user: str) -> None:
    env = {"STORAGE_BACKEND": "local", "LOCAL_STORAGE_DIR": str(tmp_path)}
    done = lite("keys", "create", "--user", user, env=env)
    assert done.returncode != 0
    assert "user" in one_line(done.stderr).lower()
    assert done.stdout == ""

"""Settings: the backend choice, one-line errors, no secrets in messages, the README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from lite import settings_doc
from lite.errors import ConfigError
from lite.settings import SETTINGS, Settings, describe, load_settings, resolve_backend
from lite.settings_doc import markdown_table, table_in

README = Path(__file__).resolve().parent.parent / "README.md"
AWS_KEYS = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY0001", "AWS_SECRET_ACCESS_KEY": "aws-s3cr3t-value"}
MINIO_KEYS = {"MINIO_ACCESS_KEY": "minio-access-0001", "MINIO_SECRET_KEY": "minio-s3cr3t-value"}
SECRET_VALUES = ("aws-s3cr3t-value", "minio-s3cr3t-value", "AKIAEXAMPLEKEY0001")


# --- the backend choice ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "backend", "why"),
    [
        pytest.param({}, "local", "no object-storage credentials", id="nothing-set"),
        pytest.param({**AWS_KEYS, "S3_BUCKET": "rec"}, "s3", "S3_BUCKET", id="aws-keys-bucket"),
        pytest.param({"AWS_PROFILE": "prod", "S3_BUCKET": "rec"}, "s3", "", id="aws-profile"),
        pytest.param(
            {"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token", "S3_BUCKET": "rec"},
            "s3",
            "",
            id="irsa-token",
        ),
        pytest.param(
            {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/creds", "S3_BUCKET": "rec"},
            "s3",
            "",
            id="ecs-task-role",
        ),
        pytest.param(MINIO_KEYS, "minio", "MINIO_ACCESS_KEY", id="minio-keys"),
        pytest.param(
            {**MINIO_KEYS, "MINIO_ENDPOINT": "10.0.0.5:9000"}, "minio", "", id="minio-endpoint"
        ),
        pytest.param(
            {**AWS_KEYS, "S3_BUCKET": "rec", **MINIO_KEYS}, "s3", "", id="aws-wins-over-minio"
        ),
        pytest.param(
            {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLEKEY0001", "S3_BUCKET": "rec"},
            "local",
            "",
            id="half-aws-keys",
        ),
        pytest.param({"MINIO_ACCESS_KEY": "minio-access-0001"}, "local", "", id="half-minio-keys"),
        pytest.param(
            {"STORAGE_BACKEND": "minio", **AWS_KEYS, "S3_BUCKET": "rec", **MINIO_KEYS},
            "minio",
            "STORAGE_BACKEND=minio",
            id="explicit-minio-wins",
        ),
        pytest.param(
            {"STORAGE_BACKEND": "s3", **MINIO_KEYS}, "s3", "STORAGE_BACKEND=s3", id="explicit-s3"
        ),
        pytest.param(
            {"STORAGE_BACKEND": "local", **MINIO_KEYS}, "local", "", id="explicit-local-wins"
        ),
        pytest.param({"STORAGE_BACKEND": "S3"}, "s3", "", id="explicit-is-case-blind"),
        pytest.param({"STORAGE_BACKEND": ""}, "local", "", id="empty-means-unset"),
    ],
)
def test_backend_choice(env: dict[str, str], backend: str, why: str) -> None:
    settings = load_settings(env)
    assert settings.storage_backend == backend
    assert why in settings.backend_reason
    assert resolve_backend(env)[0] == backend


@pytest.mark.parametrize(
    ("env", "named"),
    [
        pytest.param(AWS_KEYS, "S3_BUCKET", id="aws-keys-without-bucket"),
        pytest.param({"AWS_PROFILE": "prod"}, "S3_BUCKET", id="aws-profile-without-bucket"),
        pytest.param({"STORAGE_BACKEND": "s3", "S3_BUCKET": ""}, "S3_BUCKET", id="s3-empty"),
        pytest.param({"STORAGE_BACKEND": "s3", "S3_BUCKET": "  "}, "S3_BUCKET", id="s3-blank"),
        pytest.param(
            {"STORAGE_BACKEND": "s3", **AWS_KEYS, "S3_BUCKET": ""}, "S3_BUCKET", id="s3-keys"
        ),
        pytest.param({"STORAGE_BACKEND": "minio"}, "MINIO_ACCESS_KEY", id="minio-without-keys"),
        pytest.param(
            {"STORAGE_BACKEND": "minio", "MINIO_SECRET_KEY": "minio-s3cr3t-value"},
            "MINIO_ACCESS_KEY",
            id="minio-half-keys",
        ),
        pytest.param(
            {"STORAGE_BACKEND": "minio", **MINIO_KEYS, "MINIO_BUCKET": ""},
            "MINIO_BUCKET",
            id="minio-empty-bucket",
        ),
    ],
)
def test_impossible_backend_choices_fail_with_one_clear_line(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    message = raised.value.message
    assert "\n" not in message
    assert named in message
    for secret in SECRET_VALUES:
        assert secret not in message


def test_local_while_s3_credentials_and_bucket_are_set_warns() -> None:
    settings = load_settings({"STORAGE_BACKEND": "local", **AWS_KEYS, "S3_BUCKET": "rec"})
    assert settings.storage_backend == "local"
    assert len(settings.warnings) == 1
    assert "local" in settings.warnings[0]
    assert "S3" in settings.warnings[0]
    assert all(secret not in settings.warnings[0] for secret in SECRET_VALUES)


def test_local_while_minio_keys_are_set_warns() -> None:
    settings = load_settings({"STORAGE_BACKEND": "local", **MINIO_KEYS})
    assert settings.storage_backend == "local"
    assert any("MINIO" in warning for warning in settings.warnings)
    assert all(s not in w for w in settings.warnings for s in SECRET_VALUES)


def test_local_with_aws_keys_but_no_bucket_is_the_advised_fix_and_does_not_warn() -> None:
    """The error for AWS keys without S3_BUCKET advises STORAGE_BACKEND=local."""
    settings = load_settings({"STORAGE_BACKEND": "local", **AWS_KEYS})
    assert settings.storage_backend == "local"
    assert settings.warnings == ()


def test_a_consistent_choice_has_no_warnings() -> None:
    assert load_settings({**AWS_KEYS, "S3_BUCKET": "rec"}).warnings == ()
    assert load_settings({}).warnings == ()


# --- bad values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("STORAGE_BACKEND", "gcs", ["local", "minio", "s3"]),
        ("LOCAL_STORAGE_FSYNC", "maybe", ["true", "false"]),
        ("MINIO_SECURE", "2", ["true", "false"]),
        ("S3_SECURE", "", ["true", "false"]),
        ("LITE_REQUIRE_VOLUME", "yes please", ["true", "false"]),
        ("PORT", "http", ["whole number"]),
        ("PORT", "-1", [">= 0"]),
        ("PORT", "80.5", ["whole number"]),
        ("LITE_UPLOAD_TOKEN_TTL_SECONDS", "5", [">= 60"]),
        ("LITE_MAX_CHUNK_BYTES", "0", [">= 1"]),
        ("LITE_LOG_LEVEL", "verbose", ["debug", "info", "warning", "error"]),
        ("LITE_PUBLIC_URL", "rec.example.com", ["http"]),
    ],
)
def test_a_bad_value_fails_with_one_line_naming_variable_value_and_allowed(
    name: str, value: str, allowed: list[str]
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({name: value})
    message = raised.value.message
    assert "\n" not in message
    assert message.startswith(name)
    assert repr(value) in message
    for word in allowed:
        assert word in message


@pytest.mark.parametrize(
    ("name", "raw", "parsed"),
    [
        ("LOCAL_STORAGE_FSYNC", "FALSE", False),
        ("LOCAL_STORAGE_FSYNC", " 0 ", False),
        ("LOCAL_STORAGE_FSYNC", "on", True),
        ("PORT", " 9000 ", 9000),
        ("PORT", "0", 0),
        ("LITE_LOG_LEVEL", "DEBUG", "debug"),
        ("LITE_PUBLIC_URL", "https://rec.example.com/", "https://rec.example.com"),
    ],
)
def test_values_are_parsed_leniently_where_unambiguous(name: str, raw: str, parsed: object) -> None:
    assert getattr(load_settings({name: raw}), name.lower()) == parsed


def test_defaults_follow_the_design() -> None:
    settings = load_settings({})
    assert settings.local_storage_dir == "/var/lib/vexa/recordings"
    assert settings.local_storage_fsync is True
    assert settings.minio_endpoint == "minio:9000"
    assert settings.minio_bucket == "vexa-recordings"
    assert settings.minio_secure is False
    assert settings.aws_region == "us-east-1"
    assert settings.s3_bucket == "vexa-recordings"
    assert settings.s3_endpoint == ""
    assert settings.s3_secure is True
    assert settings.port == 8056


def test_secret_values_are_hidden_when_described() -> None:
    env = {**AWS_KEYS, **MINIO_KEYS, "ADMIN_API_TOKEN": "adm-s3cr3t", "LITE_SIGNING_KEY": "sig"}
    described = " ".join(describe(setting, env) for setting in SETTINGS)
    for secret in (*SECRET_VALUES[:2], "adm-s3cr3t"):
        assert secret not in described
    assert "ADMIN_API_TOKEN=<hidden>" in described
    assert "S3_BUCKET='vexa-recordings'" in described


# --- the table is the single source ---------------------------------------------------------------


def test_every_setting_is_a_field_and_every_field_a_setting() -> None:
    derived = {"storage_backend", "backend_reason", "warnings"}
    fields = {f.name for f in dataclasses.fields(Settings)} - derived
    assert fields == {s.name.lower() for s in SETTINGS} - derived
    assert len({s.name for s in SETTINGS}) == len(SETTINGS)


def test_every_setting_has_help_and_a_valid_default() -> None:
    for setting in SETTINGS:
        assert setting.help.strip(), setting.name
    load_settings({})  # every default passes its own validation


def readme_rows() -> dict[str, tuple[str, str]]:
    """The README's settings table as written: name -> (default, meaning)."""
    rows: dict[str, tuple[str, str]] = {}
    for line in table_in(README.read_text(encoding="utf-8")).splitlines()[2:]:
        name, default, meaning = (cell.strip() for cell in line.strip("|").split(" | ", 2))
        assert name not in rows, f"{name} appears twice in the README's table"
        rows[name.strip("`")] = (default, meaning)
    return rows


def test_the_readme_table_is_the_generated_one() -> None:
    """Name, default and meaning of every setting come from lite/settings_table.py."""
    written = table_in(README.read_text(encoding="utf-8"))
    assert written == markdown_table(), "README.md is stale: run `make readme-settings`"


def test_the_readme_names_every_setting_with_its_default_and_nothing_else() -> None:
    rows = readme_rows()
    assert list(rows) == [setting.name for setting in SETTINGS]
    for setting in SETTINGS:
        default, meaning = rows[setting.name]
        assert default == (f"`{setting.default}`" if setting.default else "(unset)"), setting.name
        assert meaning == setting.help, setting.name
    parsed = load_settings({})
    assert f"`{parsed.lite_max_chunk_bytes}`" == rows["LITE_MAX_CHUNK_BYTES"][0]
    assert f"`{parsed.port}`" == rows["PORT"][0]


def test_regenerating_the_readme_changes_only_the_table(tmp_path: Path) -> None:
    stale = README.read_text(encoding="utf-8").replace("| `PORT` | `8056` |", "| `PORT` | `1` |")
    target = tmp_path / "README.md"
    target.write_text(stale, encoding="utf-8")
    assert table_in(stale) != markdown_table()
    assert settings_doc.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")
    with pytest.raises(ValueError):
        table_in("# a README without the markers")

"""Recorder upload tokens (HS256 JWT) and signed /raw URLs: pure functions, checked case by case."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl

import jwt
import pytest

from lite.errors import Forbidden, Unauthorized
from lite.tokens import UploadGrant, issue_upload_token, read_upload_token, sign_raw, verify_raw

SECRET = b"0123456789abcdef" * 4  # 64 bytes, like the generated signing key
GRANT = UploadGrant(user_id=36, recording_id=374353879645598, session_uid="abc-123")
NOW = 1_800_000_000


# --- upload tokens --------------------------------------------------------------------------------


def test_a_token_reads_back_as_its_grant() -> None:
    token = issue_upload_token(SECRET, GRANT, ttl=3600)
    assert read_upload_token(SECRET, token) == GRANT


def test_an_expired_token_is_refused() -> None:
    token = issue_upload_token(SECRET, GRANT, ttl=60, now=time.time() - 120)
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, token)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    token = issue_upload_token(b"another secret of the same length!", GRANT, ttl=3600)
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, token)


def test_a_token_with_a_tampered_claim_is_refused() -> None:
    header, _, signature = issue_upload_token(SECRET, GRANT, ttl=3600).split(".")
    other = issue_upload_token(SECRET, UploadGrant(37, GRANT.recording_id, "abc-123"), 3600)
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, f"{header}.{other.split('.')[1]}.{signature}")


def _claims(**changes: object) -> dict[str, object]:
    issued = int(time.time())
    claims: dict[str, object] = {
        "sub": "36",
        "rid": GRANT.recording_id,
        "sid": GRANT.session_uid,
        "aud": "vexa-lite-upload",
        "iat": issued,
        "exp": issued + 3600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.mark.parametrize(
    "claims",
    [
        _claims(aud="some-other-service"),
        _claims(aud=None),
        _claims(exp=None),
        _claims(sid=None),
        _claims(rid=None),
        _claims(sub=None),
        _claims(sub="not-a-number"),
    ],
    ids=[
        "wrong-audience",
        "no-audience",
        "no-expiry",
        "no-session",
        "no-recording",
        "no-user",
        "bad-user",
    ],
)
def test_a_token_without_the_right_claims_is_refused(claims: dict[str, object]) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, token)


@pytest.mark.parametrize("algorithm", ["HS512", "none"])
def test_a_token_of_another_algorithm_is_refused(algorithm: str) -> None:
    key = SECRET if algorithm != "none" else ""  # PyJWT reads "" as no key for "none"
    token = jwt.encode(_claims(), key, algorithm=algorithm)
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, token)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 5000])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(Unauthorized):
        read_upload_token(SECRET, token)


# --- signed /raw URLs -----------------------------------------------------------------------------


def _query(
    user_id: int = 36, recording_id: int = 42, media_id: int = 7, exp: int = NOW + 60
) -> dict[str, str]:
    return dict(parse_qsl(sign_raw(SECRET, user_id, recording_id, media_id, exp)))


def test_a_signed_query_grants_its_user_until_it_expires() -> None:
    assert verify_raw(SECRET, _query(), 42, 7, now=NOW) == 36
    assert verify_raw(SECRET, _query(), 42, 7, now=NOW + 60) == 36


def test_an_expired_signature_is_refused() -> None:
    with pytest.raises(Forbidden):
        verify_raw(SECRET, _query(), 42, 7, now=NOW + 61)


@pytest.mark.parametrize(
    "field,value",
    [("u", "37"), ("exp", str(NOW + 10_000)), ("sig", "0" * 64), ("sig", "\u00a3\u0099#")],
)
def test_a_tampered_query_is_refused(field: str, value: str) -> None:
    query = {**_query(), field: value}
    with pytest.raises(Forbidden):
        verify_raw(SECRET, query, 42, 7, now=NOW)


@pytest.mark.parametrize("recording_id,media_id", [(42, 8), (43, 7)])
def test_a_signature_for_other_media_is_refused(recording_id: int, media_id: int) -> None:
    with pytest.raises(Forbidden):
        verify_raw(SECRET, _query(), recording_id, media_id, now=NOW)


def test_a_signature_made_with_another_secret_is_refused() -> None:
    query = dict(parse_qsl(sign_raw(b"other", 36, 42, 7, NOW + 60)))
    with pytest.raises(Forbidden):
        verify_raw(SECRET, query, 42, 7, now=NOW)


@pytest.mark.parametrize("missing", ["u", "exp", "sig"])
def test_a_query_missing_a_field_is_refused(missing: str) -> None:
    query = _query()
    del query[missing]
    with pytest.raises(Forbidden):
        verify_raw(SECRET, query, 42, 7, now=NOW)


@pytest.mark.parametrize("field,value", [("u", "abc"), ("exp", "soon"), ("u", "")])
def test_a_query_with_a_malformed_field_is_refused(field: str, value: str) -> None:
    query = {**_query(), field: value}
    with pytest.raises(Forbidden):
        verify_raw(SECRET, query, 42, 7, now=NOW)

"""Vexa's MeetingToken (what the 0.10.x bot sends): minted by Vexa's own minter (vendored), checked
by lite.tokens.read_meeting_token; anything forged, expired or meant for something else is 401."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from lite.errors import Unauthorized
from lite.tokens import MeetingGrant, is_meeting_token, read_meeting_token
from tests.vexa.botkit import mint_meeting_token

SECRET = "the-internal-api-secret-" + "x" * 41  # 64 bytes: HS512 below needs that many


def claims(**override: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "meeting_id": 42,
        "user_id": 7,
        "platform": "google_meet",
        "native_meeting_id": "abc-defg-hij",
        "scope": "transcribe:write",
        "iss": "meeting-api",
        "aud": "transcription-collector",
        "iat": now,
        "exp": now + 600,
        "jti": "j-1",
    }
    base.update(override)
    return {k: v for k, v in base.items() if v is not None}


def test_vexa_minted_token_gives_user_and_meeting() -> None:
    token = mint_meeting_token(42, 7, SECRET)
    assert is_meeting_token(token)
    assert not is_meeting_token(jwt.encode(claims(aud="vexa-lite-upload"), SECRET))
    assert not is_meeting_token("not-a-jwt")
    assert read_meeting_token(SECRET, token) == MeetingGrant(user_id=7, meeting_id=42)


def test_a_short_secret_works_without_warnings() -> None:
    token = mint_meeting_token(5, 6, "short")
    assert read_meeting_token("short", token) == MeetingGrant(6, 5)


def test_pyjwt_minted_token_is_the_same() -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS256")
    assert read_meeting_token(SECRET, token) == MeetingGrant(7, 42)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: mint_meeting_token(42, 7, "another-secret"), id="forged"),
        pytest.param(lambda: mint_meeting_token(42, 7, SECRET, ttl_seconds=-5), id="expired"),
        pytest.param(lambda: jwt.encode(claims(aud="somebody"), SECRET), id="audience"),
        pytest.param(lambda: jwt.encode(claims(iss="someone"), SECRET), id="issuer"),
        pytest.param(lambda: jwt.encode(claims(scope="transcribe:read"), SECRET), id="scope"),
        pytest.param(lambda: jwt.encode(claims(scope=None), SECRET), id="no-scope"),
        pytest.param(lambda: jwt.encode(claims(exp=None), SECRET), id="no-exp"),
        pytest.param(lambda: jwt.encode(claims(user_id=None), SECRET), id="no-user"),
        pytest.param(lambda: jwt.encode(claims(meeting_id=None), SECRET), id="no-meeting"),
        pytest.param(lambda: jwt.encode(claims(user_id="seven"), SECRET), id="user-not-int"),
        pytest.param(lambda: jwt.encode(claims(user_id=-1), SECRET), id="user-negative"),
        pytest.param(lambda: jwt.encode(claims(meeting_id=True), SECRET), id="meeting-bool"),
        pytest.param(lambda: jwt.encode(claims(), SECRET, algorithm="HS512"), id="hs512"),
        pytest.param(lambda: jwt.encode(claims(), "", algorithm="none"), id="alg-none"),
        pytest.param(lambda: "a.b.c", id="garbage"),
    ],
)
def test_refused_tokens_are_unauthorized(token: Any) -> None:
    with pytest.raises(Unauthorized) as refused:
        read_meeting_token(SECRET, token())
    assert refused.value.code == "unauthorized"  # rendered as 401

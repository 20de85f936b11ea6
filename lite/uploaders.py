"""Who is sending a chunk, from the recorder's bearer token (docs/vexa.md, "Who owns a chunk"):
1. an upload token of `POST /recordings` (user, recording and session);
2. a Vexa MeetingToken (user and meeting from its verified claims);
3. INTERNAL_API_SECRET with a `user_id`;
4. INTERNAL_API_SECRET alone: the session's registered owner, resolved by the ingest service.
Pure given the secrets."""

from __future__ import annotations

import hmac

from lite.ingest_owner import Uploader
from lite.owners import check_owner
from lite.tokens import is_meeting_token, read_meeting_token, read_upload_token


def _meeting(value: object) -> str | None:
    return None if value in (None, "") else str(value)[:200]


def uploader_for(
    token: str,
    internal_secret: str,
    signing_secret: bytes,
    user_id: object = None,
    meeting_id: object = None,
) -> Uploader:
    """Unauthorized for a token that is none of the above (or forged, or expired)."""
    if internal_secret and hmac.compare_digest(internal_secret.encode(), token.encode()):
        owner = None if user_id in (None, "") else check_owner(user_id)
        return Uploader(owner, meeting_id=_meeting(meeting_id))
    if internal_secret and is_meeting_token(token):
        grant = read_meeting_token(internal_secret, token)
        return Uploader(check_owner(grant.user_id), meeting_id=str(grant.meeting_id))
    upload = read_upload_token(signing_secret, token)
    return Uploader(upload.user_id, upload.session_uid, upload.recording_id)

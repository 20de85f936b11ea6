"""The OpenAPI 3.1 document of the API, served at /openapi.json (a pure module: no app imports).

To document a new route, add its operation to its area's module (`recording_paths.py`,
`ingest_paths.py`, `admin_paths.py`, `site_paths.py`, joined in `paths.PATHS`) and any new JSON
shape to `schemas.SCHEMAS`; tests/test_openapi.py fails until every route has one.
"""

from __future__ import annotations

import copy
from typing import Any

from lite.openapi.paths import PATHS
from lite.openapi.schemas import SCHEMAS

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "ApiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "A user's API key (`python -m lite keys create`, or the admin API).",
    },
    "AdminKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Admin-API-Key",
        "description": "Equal to ADMIN_API_TOKEN; unset: the admin API is disabled.",
    },
    "UploadToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "The `upload_token` of POST /recordings: bound to one user, recording "
        "and session, with an expiry.",
    },
    "InternalSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "INTERNAL_API_SECRET, for a trusted meeting service; the owner comes from "
        "`user_id` when the request names one, else from the session's registration.",
    },
    "MeetingToken": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "Vexa's MeetingToken: HS256 signed with INTERNAL_API_SECRET, "
        "iss=meeting-api, aud=transcription-collector, scope=transcribe:write.",
    },
    "SignedUrl": {
        "type": "apiKey",
        "in": "query",
        "name": "sig",
        "description": "The query of a URL from `/download` (`u`, `exp`, `sig`): plays in "
        "`<audio src>` without headers until `exp`.",
    },
}

INFO = {
    "title": "Vexa Lite",
    "version": "0.1.0",
    "description": "Ingest, store and stream meeting recordings. Errors are "
    '`{"error": {"code": "...", "message": "..."}, "detail": "..."}`; a 500 carries only a '
    "`request_id`, also logged. Another user's recording is 404, not 403.",
    "license": {"name": "see the repository"},
}


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may change it, e.g. to add a server URL)."""
    return {
        "openapi": "3.1.0",
        "info": copy.deepcopy(INFO),
        "paths": copy.deepcopy(PATHS),
        "components": {
            "schemas": copy.deepcopy(SCHEMAS),
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }

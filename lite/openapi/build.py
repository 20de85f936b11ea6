"""Small builders for operations, so each entry of the `*_paths.py` modules reads as one
sentence."""

from __future__ import annotations

from typing import Any

from lite.openapi.schemas import Schema, ref

USER: list[dict[str, list[str]]] = [{"ApiKey": []}]
ADMIN: list[dict[str, list[str]]] = [{"AdminKey": []}]
RECORDER: list[dict[str, list[str]]] = [
    {"UploadToken": []},
    {"InternalSecret": []},
    {"MeetingToken": []},
]
PUBLIC: list[dict[str, list[str]]] = []


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def answer(description: str, schema_name: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"description": description}
    if schema_name:
        found["content"] = json_content(ref(schema_name))
    return found


ERROR = {
    "description": 'an error: `{"error": {"code", "message"}, "detail"}`',
    "content": json_content(ref("Error")),
}


def op(
    summary: str,
    tag: str,
    security: list[dict[str, list[str]]],
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    description: str = "",
) -> dict[str, Any]:
    """One operation; every error status shares the `Error` shape (the `default` response)."""
    found: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "security": security,
        "responses": {**responses, "default": ERROR},
    }
    if description:
        found["description"] = description
    if params:
        found["parameters"] = params
    if body:
        found["requestBody"] = body
    return found


def path_param(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    found = {"name": name, "in": "path", "required": True, "schema": schema}
    if description:
        found["description"] = description
    return found


def query(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    found = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        found["description"] = description
    return found


def header(name: str, schema: Schema, description: str = "") -> dict[str, Any]:
    found = {"name": name, "in": "header", "required": False, "schema": schema}
    if description:
        found["description"] = description
    return found


ID: Schema = {"type": "integer", "minimum": 0, "maximum": 2**53 - 1}
TOKEN: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"}
RECORDING_ID = path_param("recording_id", ID)
MEDIA_ID = path_param("media_id", ID, "a media file's `id`")
SESSION_UID = path_param("session_uid", TOKEN)
USER_ID = path_param("user_id", ID)

BINARY = {"schema": {"type": "string", "format": "binary"}}
# A body of media bytes: a chunk sent, a file played.
MEDIA_BODY = {"audio/*": BINARY, "video/*": BINARY, "application/octet-stream": BINARY}

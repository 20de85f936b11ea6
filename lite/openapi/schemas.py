"""JSON shapes of the API as OpenAPI 3.1 components (JSON Schema 2020-12).

Objects stay open (extra fields allowed): Vexa's clients read our shapes, and fields added for
them must not break a client that validates against this document. `required` lists the fields
every answer carries.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

STRING: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_INT: Schema = {"type": ["integer", "null"]}
NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
TIMESTAMP: Schema = {"type": "string", "description": "ISO 8601, UTC"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "description": "ISO 8601, UTC"}
RECORDING_STATUS: Schema = {"type": "string", "enum": ["in_progress", "completed", "failed"]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str], **properties: Schema) -> Schema:
    return {"type": "object", "required": required, "properties": properties}


MEDIA_FILE = obj(
    ["id", "type", "format", "status"],
    id=INT,
    type={"type": "string", "description": "media type: audio, video, ..."},
    format={"type": ["string", "null"], "description": "wav, webm, ogg, opus, mp3, m4a, mp4"},
    content_type=NULLABLE_STRING,
    file_size_bytes=NULLABLE_INT,
    duration_seconds=NULLABLE_NUMBER,
    sha256=NULLABLE_STRING,
    chunk_count=NULLABLE_INT,
    missing_chunks={"type": "array", "items": INT},
    problems={"type": "array", "items": STRING},
    status=RECORDING_STATUS,
    created_at=NULLABLE_TIMESTAMP,
    finalized_at=NULLABLE_TIMESTAMP,
    compacted_at={
        "type": ["string", "null"],
        "description": "when its chunks were removed (the master is final; late chunks get 410)",
    },
    storage_path={
        "type": ["string", "null"],
        "description": "the master's object key, once it is built (Vexa's field)",
    },
    storage_backend={"type": "string", "enum": ["local", "minio", "s3"]},
)

RECORDING = obj(
    ["id", "user_id", "session_uid", "status", "created_at", "media_files"],
    id={"type": "integer", "description": "time-ordered, below 2^53"},
    meeting_id={"type": ["string", "integer", "null"]},
    user_id=INT,
    session_uid=STRING,
    source={"type": "string", "description": "bot (recorder uploads), upload (API uploads)"},
    status=RECORDING_STATUS,
    error_message=NULLABLE_STRING,
    created_at=TIMESTAMP,
    completed_at=NULLABLE_TIMESTAMP,
    expires_at={"type": ["string", "null"], "description": "deleted after this; null: kept"},
    media_files={"type": "array", "items": ref("MediaFile")},
    playback_url=obj(
        ["audio", "video"],
        audio={"type": ["string", "null"], "description": "`/recordings/{id}/master?type=audio`"},
        video={"type": ["string", "null"], "description": "`/recordings/{id}/master?type=video`"},
    ),
)
RETENTION: dict[str, Schema] = {
    "expires_at": {"type": ["string", "null"], "description": "ISO 8601; null: the default"},
    "retain": {"type": "string", "enum": ["forever", "default"]},
}
WEBHOOK = obj(
    ["id", "user_id", "url", "created_at"],
    id=STRING,
    user_id=INT,
    url=STRING,
    description=STRING,
    created_at=TIMESTAMP,
)

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": obj(
                ["code", "message"],
                code={"type": "string", "description": "stable, machine-readable"},
                message=STRING,
                request_id={"type": "string", "description": "on a 500: also in the log"},
            ),
            "detail": {"description": "the message again, for Vexa's clients"},
        },
    },
    "MediaFile": MEDIA_FILE,
    "Recording": RECORDING,
    "RecordingList": obj(
        ["recordings", "next_cursor"],
        recordings={"type": "array", "items": ref("Recording")},
        next_cursor={
            "type": ["string", "null"],
            "description": "pass as `cursor` for the next page; null on the last page",
        },
    ),
    "NewRecording": {
        "allOf": [
            ref("Recording"),
            obj(
                ["upload_token", "upload_url"],
                upload_token={"type": "string", "description": "Bearer token for the recorder"},
                upload_token_expires_in=INT,
                upload_url={
                    "type": "string",
                    "description": "the session's ingest path; PUT chunks below it",
                },
            ),
        ]
    },
    "CreateRecording": obj(
        [],
        meeting_id={"type": ["string", "integer"]},
        session_uid={"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
        **RETENTION,
    ),
    "Retention": obj([], **RETENTION),
    "Webhook": WEBHOOK,
    "NewWebhook": {
        "allOf": [
            ref("Webhook"),
            obj(["secret"], secret={"type": "string", "description": "whsec_…, shown this once"}),
        ]
    },
    "WebhookList": obj(["webhooks"], webhooks={"type": "array", "items": ref("Webhook")}),
    "WebhookTarget": obj(
        ["url"], url={"type": "string", "maxLength": 2048}, description={"type": "string"}
    ),
    "Deleted": obj(
        ["id", "status"],
        id=INT,
        status={"type": "string", "enum": ["deleted"]},
        deleted={"type": "boolean"},
    ),
    "Master": {
        "allOf": [
            ref("MediaFile"),
            obj(
                ["raw_url", "media_file_id", "recording_id"],
                raw_url=STRING,
                media_file_id=INT,
                recording_id=INT,
            ),
        ]
    },
    "Download": obj(
        ["url", "download_url", "filename", "content_type", "expires_in", "expires_at"],
        url={"type": "string", "description": "plays in <audio src> without headers"},
        download_url={"type": "string", "description": "the same, as an attachment"},
        filename=STRING,
        content_type=STRING,
        file_size_bytes=NULLABLE_INT,
        expires_in={"type": "integer", "description": "seconds"},
        expires_at=TIMESTAMP,
    ),
    "IngestResult": obj(
        ["recording_id", "media_file_id", "session_uid", "media_type", "chunk_seq", "sha256"],
        recording_id=INT,
        media_file_id=INT,
        session_uid=STRING,
        media_type=STRING,
        chunk_seq=INT,
        sha256=STRING,
        duplicate={"type": "boolean"},
        status=STRING,
    ),
    "SessionStatus": obj(
        ["session_uid", "recording_id", "status", "media"],
        session_uid=STRING,
        recording_id=INT,
        status=RECORDING_STATUS,
        media={
            "type": "object",
            "additionalProperties": obj(
                ["chunks", "missing"],
                chunks={
                    "type": "array",
                    "items": obj(["seq", "size", "sha256"], seq=INT, size=INT, sha256=STRING),
                },
                missing={"type": "array", "items": INT},
                final_seq=NULLABLE_INT,
                compacted={
                    "type": "boolean",
                    "description": "its chunks were removed: the master is final (410 for more)",
                },
            ),
        },
    ),
    "ApiKey": obj(
        ["id", "user_id", "created_at"], id=STRING, user_id=INT, name=STRING, created_at=TIMESTAMP
    ),
    "NewApiKey": {
        "allOf": [
            ref("ApiKey"),
            obj(["key"], key={"type": "string", "description": "shown this once"}),
        ]
    },
    "ApiKeyList": obj(["api_keys"], api_keys={"type": "array", "items": ref("ApiKey")}),
    "KeyName": obj([], name=STRING),
    "Health": obj(["status"], status=STRING),
    "Ready": obj(["status", "storage"], status=STRING, storage=STRING),
}

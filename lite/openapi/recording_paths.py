"""The recordings a user owns and their playback: listing, retention, masters, /raw, peaks."""

from __future__ import annotations

from typing import Any

from lite.openapi.build import (
    BINARY,
    ID,
    MEDIA_BODY,
    MEDIA_ID,
    RECORDING_ID,
    TOKEN,
    USER,
    answer,
    header,
    json_content,
    op,
    query,
)
from lite.openapi.schemas import RECORDING_STATUS, ref

PLAYED = {**MEDIA_BODY, "multipart/byteranges": BINARY}
RANGE_HEADERS = [
    header("Range", {"type": "string"}, "RFC 9110 byte ranges, e.g. `bytes=0-1023`"),
    header("If-Range", {"type": "string"}),
    header("If-None-Match", {"type": "string"}),
    header("If-Modified-Since", {"type": "string"}),
]
SIGNED_QUERY = [
    query("u", ID, "signed URL: the user"),
    query("exp", {"type": "integer"}, "signed URL: expiry, unix seconds"),
    query("sig", {"type": "string"}, "signed URL: the signature"),
    query("download", {"type": "string", "enum": ["1", "true"]}, "serve as an attachment"),
]
RAW = op(
    "The media file's bytes, with HTTP Range",
    "playback",
    [{"ApiKey": []}, {"SignedUrl": []}],
    {
        "200": {"description": "the whole file", "content": PLAYED},
        "206": {"description": "the range(s) asked for", "content": PLAYED},
        "304": {"description": "not modified"},
        "412": {"description": "precondition failed"},
        "416": {"description": "no satisfiable range (`Content-Range: bytes */size`)"},
    },
    params=[RECORDING_ID, MEDIA_ID, *SIGNED_QUERY, *RANGE_HEADERS],
    description="A recording in progress serves what has arrived (`Cache-Control: no-store`).",
)

RECORDING_PATHS: dict[str, dict[str, Any]] = {
    "/recordings": {
        "post": op(
            "Create a recording for the caller",
            "recordings",
            USER,
            {"201": answer("the recording, an upload token and URL", "NewRecording")},
            body={"required": False, "content": json_content(ref("CreateRecording"))},
        ),
        "get": op(
            "The caller's recordings, newest first",
            "recordings",
            USER,
            {"200": answer("one page", "RecordingList")},
            params=[
                query("limit", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
                query("cursor", {"type": "string"}, "`next_cursor` of the previous page"),
                query(
                    "offset", {"type": "integer", "minimum": 0}, "skip this many (Vexa's paging)"
                ),
                query("meeting_id", {"type": "string"}),
                query("status", RECORDING_STATUS),
            ],
        ),
    },
    "/recordings/{recording_id}": {
        "get": op(
            "One recording with its media files",
            "recordings",
            USER,
            {"200": answer("the recording", "Recording")},
            params=[RECORDING_ID],
        ),
        "delete": op(
            "Delete every object of the recording",
            "recordings",
            USER,
            {"200": answer("deleted", "Deleted")},
            params=[RECORDING_ID, query("force", {"type": "string", "enum": ["true", "false"]})],
            description="A recording still receiving chunks is 409 unless `?force=true` (Vexa).",
        ),
        "patch": op(
            "Set the recording's retention: an expiry, forever, or the default",
            "recordings",
            USER,
            {"200": answer("the recording", "Recording")},
            params=[RECORDING_ID],
            body={"required": True, "content": json_content(ref("Retention"))},
        ),
    },
    "/recordings/{recording_id}/master": {
        "get": op(
            "The media file of one type (during the meeting: what has arrived)",
            "recordings",
            USER,
            {"200": answer("the media file and its raw_url", "Master")},
            params=[RECORDING_ID, query("type", TOKEN, "media type, default audio")],
            description="Vexa's shape: `id` is the recording's id, `media_file_id` the file's; "
            "`storage_path` is null until the master is built.",
        ),
    },
    "/recordings/{recording_id}/media/{media_id}/download": {
        "get": op(
            "A URL that plays without headers (presigned on S3, signed /raw on local)",
            "playback",
            USER,
            {"200": answer("the URL and its expiry", "Download")},
            params=[RECORDING_ID, MEDIA_ID],
        ),
    },
    "/recordings/{recording_id}/media/{media_id}/raw": {"get": RAW, "head": RAW},
    "/recordings/{recording_id}/media/{media_id}/peaks": {
        "get": op(
            "Waveform peaks of the finished media file (audiowaveform JSON version 2, 8 bits)",
            "playback",
            [{"ApiKey": []}, {"SignedUrl": []}],
            {
                "200": {
                    "description": "version, channels, sample_rate, samples_per_pixel, bits, "
                    "length, data (min, max per pixel), the format peaks.js reads",
                    "content": json_content({"type": "object"}),
                },
                "304": {"description": "not modified"},
            },
            params=[
                RECORDING_ID,
                MEDIA_ID,
                *SIGNED_QUERY[:3],
                header("If-None-Match", {"type": "string"}),
            ],
            description="Made once after finalize, in the background; same auth as /raw.",
        ),
    },
}

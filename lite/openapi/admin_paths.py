"""The admin API (ADMIN_API_TOKEN): unassigned recordings, API keys, webhooks."""

from __future__ import annotations

from typing import Any

from lite.openapi.build import (
    ADMIN,
    RECORDING_ID,
    USER_ID,
    answer,
    json_content,
    op,
    path_param,
    query,
)
from lite.openapi.schemas import ref

OWNER_BODY = {
    "type": "object",
    "required": ["user_id"],
    "properties": {"user_id": {"type": "integer", "minimum": 1}},
}

ADMIN_PATHS: dict[str, dict[str, Any]] = {
    "/admin/recordings": {
        "get": op(
            "Recordings of sessions nobody registered (not visible to any user)",
            "admin",
            ADMIN,
            {"200": answer("the unassigned recordings", "RecordingList")},
            params=[
                query(
                    "unassigned",
                    {"type": "string", "enum": ["true", "1"]},
                    "required: only unassigned recordings are listed here",
                )
            ],
        ),
    },
    "/admin/recordings/{recording_id}/owner": {
        "post": op(
            "Hand an unassigned recording to its owner (its objects move under that user)",
            "admin",
            ADMIN,
            {"200": answer("the recording, now the user's", "Recording")},
            params=[RECORDING_ID],
            body={"required": True, "content": json_content(OWNER_BODY)},
        ),
    },
    "/admin/users/{user_id}/api-keys": {
        "post": op(
            "Create an API key for a user (the key is shown once)",
            "admin",
            ADMIN,
            {"201": answer("the key", "NewApiKey")},
            params=[USER_ID],
            body={"required": False, "content": json_content(ref("KeyName"))},
        ),
        "get": op(
            "A user's API keys, without secrets",
            "admin",
            ADMIN,
            {"200": answer("the keys", "ApiKeyList")},
            params=[USER_ID],
        ),
    },
    "/admin/users/{user_id}/webhooks": {
        "post": op(
            "Register a webhook endpoint for a user's events (the secret is shown once)",
            "admin",
            ADMIN,
            {"201": answer("the endpoint and its signing secret", "NewWebhook")},
            params=[USER_ID],
            body={"required": True, "content": json_content(ref("WebhookTarget"))},
        ),
        "get": op(
            "A user's webhook endpoints, without secrets",
            "admin",
            ADMIN,
            {"200": answer("the endpoints", "WebhookList")},
            params=[USER_ID],
        ),
    },
    "/admin/users/{user_id}/webhooks/{webhook_id}": {
        "delete": op(
            "Remove a webhook endpoint",
            "admin",
            ADMIN,
            {"200": answer("the removed endpoint", "Webhook")},
            params=[USER_ID, path_param("webhook_id", {"type": "string"})],
        ),
    },
    "/admin/api-keys/{key_id}": {
        "delete": op(
            "Revoke an API key",
            "admin",
            ADMIN,
            {"200": answer("the revoked key", "ApiKey")},
            params=[path_param("key_id", {"type": "string"})],
        ),
    },
}

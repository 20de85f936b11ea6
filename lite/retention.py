"""How long a recording lives: the deployment's default, or its own expiry, or forever.

The effective expiry is computed when asked (not stored at creation), so changing
LITE_RETENTION_DAYS applies to recordings made before the change. A recording may carry an explicit
`expires_at` (set on creation or by PATCH) or be kept forever; either overrides the default.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lite.errors import BadRequest
from lite.manifest import Manifest

FOREVER = "forever"
DEFAULT = "default"


def parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


class RetentionPolicy:
    def __init__(self, default_days: int) -> None:
        self.default_days = default_days  # 0: keep forever

    def expires_at(self, manifest: Manifest) -> datetime | None:
        if manifest.retain_forever:
            return None
        if manifest.expires_at:
            return parse_time(manifest.expires_at)
        if self.default_days <= 0:
            return None
        return parse_time(manifest.created_at) + timedelta(days=self.default_days)

    def expired(self, manifest: Manifest, now: datetime) -> bool:
        moment = self.expires_at(manifest)
        return moment is not None and moment <= now


def retention_change(data: dict[str, Any]) -> tuple[str | None, bool] | None:
    """The (expires_at, forever) a request body asks for, or None when it names neither.

    `{"expires_at": "2030-01-01T00:00:00Z"}` sets an expiry (a past one expires at the next pass);
    `{"retain": "forever"}` keeps the recording; `{"retain": "default"}` or `{"expires_at": null}`
    returns it to the deployment's default.
    """
    retain = data.get("retain")
    if retain is not None:
        if "expires_at" in data:
            raise BadRequest("send either expires_at or retain, not both")
        if retain == FOREVER:
            return None, True
        if retain == DEFAULT:
            return None, False
        raise BadRequest('retain must be "forever" or "default"')
    if "expires_at" not in data:
        return None
    raw = data["expires_at"]
    if raw is None:
        return None, False
    if not isinstance(raw, str):
        raise BadRequest("expires_at must be an ISO 8601 date-time string")
    try:
        # In UTC, a moment at the edge of the calendar (year 9999 at -23:59) leaves it.
        return iso(parse_time(raw)), False
    except (ValueError, OverflowError):
        raise BadRequest(
            "expires_at must be an ISO 8601 date-time (e.g. 2030-01-31T12:00:00Z)"
        ) from None


def apply_retention(manifest: Manifest, change: tuple[str | None, bool]) -> None:
    manifest.expires_at, manifest.retain_forever = change

"""The recording manifest and the session index: the metadata documents. Pure.

A manifest is written at creation and at finalize (compare-and-swap), never per chunk: chunk
facts are read from the chunk objects themselves.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lite import keys, media

IN_PROGRESS, COMPLETED, FAILED = "in_progress", "completed", "failed"
STATUSES = (IN_PROGRESS, COMPLETED, FAILED)
_VERSION = 1


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MediaState:
    media_type: str
    id: int
    format: str | None = None
    status: str = IN_PROGRESS
    final_seq: int | None = None
    size: int | None = None
    sha256: str | None = None
    duration_seconds: float | None = None
    chunk_count: int = 0
    missing_chunks: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=now_iso)
    finalized_at: str | None = None
    # Which chunk objects the master was built from (seq:etag list digest): a rebuild is
    # needed exactly when the stored chunks no longer match it.
    fingerprint: str | None = None
    master_etag: str | None = None
    # Lifecycle (docs/lifecycle in README): once sealed the master is final and late chunks are
    # refused; once compacted the chunk objects are gone and the facts above are all there is.
    sealed_at: str | None = None
    compacted_at: str | None = None

    @property
    def content_type(self) -> str | None:
        return media.content_type(self.format, self.media_type) if self.format else None


@dataclass
class Manifest:
    id: int
    user_id: int
    session_uid: str
    meeting_id: str | None = None
    source: str = "upload"
    status: str = IN_PROGRESS
    error_message: str | None = None
    created_at: str = field(default_factory=now_iso)
    completed_at: str | None = None
    media: dict[str, MediaState] = field(default_factory=dict)
    # Retention: an explicit expiry, or kept forever; neither: the deployment's default.
    expires_at: str | None = None
    retain_forever: bool = False
    # Ids of the webhook events this version of the manifest committed (newest last): an outbox
    # entry whose id is here really happened.
    events: list[str] = field(default_factory=list)

    def to_json(self) -> bytes:
        data = dataclasses.asdict(self)
        data["version"] = _VERSION
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> Manifest:
        data = json.loads(payload)
        data.pop("version", None)
        states = {k: MediaState(**v) for k, v in data.pop("media", {}).items()}
        return cls(**data, media=states)

    def settle_status(self) -> None:
        """The recording's status follows its media: any failed → failed; all done → completed."""
        states = list(self.media.values())
        failed = [m for m in states if m.status == FAILED]
        if failed:
            self.status = FAILED
            self.error_message = "; ".join(p for m in failed for p in m.problems) or "failed"
        elif states and all(m.status == COMPLETED for m in states):
            self.status, self.error_message = COMPLETED, None
        else:
            self.status, self.error_message = IN_PROGRESS, None
        if self.status == IN_PROGRESS:
            self.completed_at = None
        elif self.completed_at is None:
            self.completed_at = now_iso()

    def storage_path(self, state: MediaState) -> str | None:
        """The master's object key, once it is built (Vexa's `storage_path`)."""
        if state.status != COMPLETED or state.format is None:
            return None
        return keys.master_key(
            self.user_id, self.id, self.session_uid, state.media_type, state.format
        )


# How a recording came in, in Vexa's words: a recorder's chunks are `bot`, an API upload `upload`.
VEXA_SOURCES = {"vexa-bot": "bot", "recorder": "bot", "bot": "bot", "api": "upload"}


def vexa_meeting_id(meeting_id: str | None) -> int | str | None:
    """Vexa's meeting ids are integers: one that is, is answered as a number."""
    if meeting_id is not None and meeting_id.isascii() and meeting_id.isdigit():
        number = int(meeting_id)
        if number < 2**53 and str(number) == meeting_id:
            return number
    return meeting_id


@dataclass(frozen=True)
class SessionIndex:
    session_uid: str
    user_id: int
    recording_id: int
    meeting_id: str | None
    source: str
    created_at: str

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, payload: bytes) -> SessionIndex:
        return cls(**json.loads(payload))

    def new_manifest(self) -> Manifest:
        return Manifest(
            id=self.recording_id,
            user_id=self.user_id,
            session_uid=self.session_uid,
            meeting_id=self.meeting_id,
            source=self.source,
            created_at=self.created_at,
        )

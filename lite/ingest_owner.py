"""Who owns a chunk: the uploader as authenticated, resolved to the session it belongs to
(docs/vexa.md, "Who owns a chunk")."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lite.catalog import Catalog
from lite.errors import ResourceNotFound
from lite.manifest import SessionIndex
from lite.owners import UNASSIGNED

log = logging.getLogger("lite.ingest")


@dataclass(frozen=True)
class Uploader:
    """Who sends chunks: a user (a MeetingToken, or INTERNAL_API_SECRET naming one), a token
    bound to a session, or the internal secret alone (`user_id` None: the session's registered
    owner, see resolve_session)."""

    user_id: int | None
    session_uid: str | None = None  # set for upload tokens: only this session
    recording_id: int | None = None
    meeting_id: str | None = None


class OwnerResolver:
    """The session a chunk belongs to, creating its recording when the uploader may."""

    def __init__(
        self,
        catalog: Catalog,
        default_user_id: int = UNASSIGNED,
        on_unowned: Callable[[str], None] | None = None,
    ) -> None:
        self.catalog = catalog
        self.default_user_id = default_user_id
        self.on_unowned = on_unowned or (lambda owner: None)

    async def resolve_session(
        self, who: Uploader, session_uid: str, source: str, index: SessionIndex | None
    ) -> SessionIndex:
        """The session a chunk belongs to, given `index`, the session as just looked up (None
        when absent)."""
        if who.user_id is None:
            return await self._registered_or_new(index, session_uid, who.meeting_id, source)
        if who.recording_id is None:
            return await self.catalog.join_session(
                index, session_uid, who.user_id, who.meeting_id, source
            )
        # An upload token names an existing recording: it never creates (or revives) one.
        if (
            index is None
            or who.session_uid != session_uid
            or index.recording_id != who.recording_id
            or index.user_id != who.user_id
        ):
            raise ResourceNotFound("unknown session for this upload token")
        return index

    async def _registered_or_new(
        self, index: SessionIndex | None, session_uid: str, meeting_id: str | None, source: str
    ) -> SessionIndex:
        """The internal secret alone (Vexa's HEAD bot): the registered session's owner; a session
        nobody registered goes to LITE_DEFAULT_USER_ID, else to an unassigned recording that the
        admin assigns. Never refused: the chunk is the meeting."""
        if index is not None:
            return index
        owner = self.default_user_id
        index = await self.catalog.join_session(None, session_uid, owner, meeting_id, source)
        if index.user_id == UNASSIGNED:
            self.on_unowned("unassigned")
            log.warning("chunk of unregistered session %s kept unassigned", session_uid)
        elif index.user_id == self.default_user_id:
            self.on_unowned("default_user")
            log.warning("chunk of unregistered session %s given to user %s", session_uid, owner)
        return index

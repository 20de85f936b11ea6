"""API keys on every backend: hashed at rest, resolved to a user, revocable."""

from __future__ import annotations

import hashlib
import json

import pytest

from lite import keys
from lite.apikeys import ApiKeyStore, admin_allowed, hash_key
from lite.errors import ResourceNotFound, Unauthorized
from lite.storage.base import Storage, iter_bytes, read_all

pytestmark = pytest.mark.anyio


async def test_a_created_key_resolves_to_its_user_and_nothing_else_does(storage: Storage) -> None:
    store = ApiKeyStore(storage)
    assert await store.any_exist() is False
    plain, record = await store.create(3, "laptop")
    assert await store.any_exist() is True
    assert record.user_id == 3
    assert record.name == "laptop"
    assert record.created_at.endswith("Z")
    assert (await store.resolve(plain)).user_id == 3
    assert (await ApiKeyStore(storage).resolve(plain)).user_id == 3  # another replica
    other, _ = await ApiKeyStore(storage).create(4)
    assert (await store.resolve(other)).user_id == 4
    flipped = plain[:-1] + ("A" if plain[-1] != "A" else "B")
    for wrong in (flipped, plain + "x", plain.upper(), "", " ", "x" * 201, record.id):
        with pytest.raises(Unauthorized):
            await store.resolve(wrong)


async def test_a_revoked_key_no_longer_resolves(storage: Storage) -> None:
    store = ApiKeyStore(storage)
    plain, record = await store.create(7)
    kept, _ = await store.create(7)
    assert (await store.resolve(plain)).user_id == 7  # now cached
    revoked = await store.revoke(record.id)
    assert revoked.id == record.id
    with pytest.raises(Unauthorized):
        await store.resolve(plain)
    with pytest.raises(Unauthorized):
        await ApiKeyStore(storage).resolve(plain)
    assert (await store.resolve(kept)).user_id == 7
    with pytest.raises(ResourceNotFound):
        await store.revoke(record.id)
    for bogus in ("", "0" * 20, "../../x", record.id.upper(), record.id + "0", "z" * 20):
        with pytest.raises(ResourceNotFound):
            await store.revoke(bogus)


async def test_only_the_sha256_of_a_key_is_stored(storage: Storage) -> None:
    store = ApiKeyStore(storage)
    plain, record = await store.create(1, "ci")
    digest = hashlib.sha256(plain.encode()).hexdigest()
    assert record.key_sha256 == digest == hash_key(plain)
    stored = [info.key async for info in storage.list("")]
    assert stored == [keys.api_key_record_key(digest)]
    for key in stored:
        body = await read_all(storage, key)
        assert plain.encode() not in body
        assert plain not in key
        assert plain.removeprefix("vxl_").encode() not in body
    public = record.public()
    assert set(public) == {"id", "user_id", "name", "created_at"}
    assert digest not in json.dumps(public)


async def test_list_for_returns_only_that_users_keys(storage: Storage) -> None:
    store = ApiKeyStore(storage)
    _, first = await store.create(5, "one")
    _, second = await store.create(5, "two")
    await store.create(6, "other user")
    await store.create(50, "prefix-alike user")
    found = await store.list_for(5)
    assert sorted(r.id for r in found) == sorted([first.id, second.id])
    assert {r.user_id for r in found} == {5}
    assert await store.list_for(7) == []


async def test_a_damaged_record_authenticates_nobody(storage: Storage) -> None:
    store = ApiKeyStore(storage)
    good, _ = await store.create(9)
    cases = {
        "vxl_garbage": b"\x00\xffnot json",
        "vxl_truncated": b'{"id": "abc", "user_id": 9',
        "vxl_listjson": b"[1, 2, 3]",
        "vxl_bad_user": b'{"id": "x", "user_id": "nine", "created_at": "t", "key_sha256": "%s"}',
        "vxl_foreign_hash": json.dumps(
            {"id": "x", "user_id": 1, "created_at": "t", "key_sha256": "0" * 64}
        ).encode(),
    }
    for plain, payload in cases.items():
        digest = hash_key(plain)
        await storage.put(
            keys.api_key_record_key(digest), iter_bytes(payload.replace(b"%s", digest.encode()))
        )
    for plain in cases:
        with pytest.raises(Unauthorized):
            await ApiKeyStore(storage).resolve(plain)
    assert [r.user_id for r in await store.list_for(9)] == [9]  # damaged records skipped
    assert (await store.resolve(good)).user_id == 9


@pytest.mark.parametrize(
    ("configured", "presented", "allowed"),
    [
        ("adm", "adm", True),
        ("adm", "adm ", False),
        ("adm", "ADM", False),
        ("adm", "", False),
        ("adm", None, False),
        ("", "", False),
        ("", None, False),
        ("", "anything", False),
        ("adm", "\u00e4dm", False),
    ],
)
def test_admin_token_check(configured: str, presented: str | None, allowed: bool) -> None:
    assert admin_allowed(configured, presented) is allowed

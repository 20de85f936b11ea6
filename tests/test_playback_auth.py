"""Who may read media: X-API-Key, signed `/raw` URLs, presigned S3 URLs (the app in process,
tests/inproc.py; presigned URLs are fetched from the real SeaweedFS).

The app runs with a known `LITE_SIGNING_KEY`, so the tests make signatures of their own with
`lite.tokens.sign_raw` (expired ones, ones for another media file) exactly as the server would,
and with `LITE_PUBLIC_URL` set, so `/download` hands out absolute links to a public host.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from lite.tokens import sign_raw
from tests.playkit import (
    BACKENDS,
    IDENTITY,
    OTHER_USER,
    SIGNING_KEY,
    USER,
    Deployment,
    Media,
    deploy,
    wav_upload,
    webm_upload,
)

PUBLIC_URL = "https://recordings.example:8443"
TTL = 900
SECRET = SIGNING_KEY.encode()


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp(f"auth-{request.param}")
    env = {"LITE_PUBLIC_URL": PUBLIC_URL, "LITE_DOWNLOAD_URL_TTL_SECONDS": str(TTL)}
    with deploy(request.param, workdir, request, in_process=True, **env) as deployment:
        deployment.add("wav", wav_upload(3, 2))
        deployment.add("webm", webm_upload(3, 2))
        deployment.add("theirs", wav_upload(2, 1, seed=9), user_id=OTHER_USER)
        live = wav_upload(2, 2, seed=5)
        deployment.add("live", live, final=False)
        yield deployment


def signed(media: Media, exp: int | None = None, user_id: int = USER, **over: int) -> str:
    """A /raw path with a signature made the way the server makes it."""
    recording_id = over.get("recording_id", media.recording_id)
    media_id = over.get("media_id", media.media_id)
    query = sign_raw(SECRET, user_id, recording_id, media_id, exp or int(time.time()) + 600)
    return f"{media.raw_path}?{query}"


def error_code(response: httpx.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def local_of(site: Deployment, url: str) -> str:
    """A link on the public URL, fetched from the app under test instead."""
    assert url.startswith(PUBLIC_URL + "/"), url
    return site.url + url[len(PUBLIC_URL) :]


# --- API key --------------------------------------------------------------------------------------


def test_header_auth_reads_the_media(site: Deployment) -> None:
    media = site.media["wav"]
    got = site.http.get(media.raw_path, headers=site.auth(Range="bytes=10-29"))
    assert got.status_code == 206 and got.content == media.slice(10, 29)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_no_auth_is_401(site: Deployment, method: str) -> None:
    media = site.media["wav"]
    for path in (media.raw_path, media.raw_path + "?download=1"):
        answer = site.http.request(method, path, headers={"Range": "bytes=0-1"})
        assert answer.status_code == 401
        assert "content-range" not in answer.headers
        if method == "GET":
            assert error_code(answer) == "unauthorized"
    assert site.http.get(media.download_path).status_code == 401


def test_wrong_key_is_401(site: Deployment) -> None:
    media = site.media["wav"]
    for key in ("vxl_" + "x" * 43, "", "not-a-key"):
        answer = site.http.get(media.raw_path, headers={"X-API-Key": key})
        assert answer.status_code == 401, key
        answer = site.http.get(media.download_path, headers={"X-API-Key": key})
        assert answer.status_code == 401, key


def test_another_users_recording_is_404(site: Deployment) -> None:
    theirs = site.media["theirs"]
    for path in (theirs.raw_path, theirs.download_path, f"/recordings/{theirs.recording_id}"):
        answer = site.http.get(path, headers=site.auth(Range="bytes=0-1"))
        assert answer.status_code == 404, path
        assert error_code(answer) == "not_found"
    head = site.http.head(theirs.raw_path, headers=site.auth())
    assert head.status_code == 404
    # The owner reads it with their own key: the 404 above is about who asks.
    owner = site.create_key(OTHER_USER)
    answer = site.http.get(theirs.raw_path, headers={"X-API-Key": owner})
    assert answer.status_code == 200 and answer.content == theirs.body


def test_unknown_media_id_is_404(site: Deployment) -> None:
    media = site.media["wav"]
    other = site.media["webm"]
    mixed = media.raw_path.replace(str(media.media_id), str(other.media_id))
    assert site.http.get(mixed, headers=site.auth()).status_code == 404


# --- signed /raw URLs ----------------------------------------------------------------------------


def test_download_hands_out_a_signed_url(site: Deployment) -> None:
    media = site.media["wav"] if site.backend == "local" else site.media["live"]
    started = int(time.time())
    info = site.download(media)
    assert info["filename"] == media.filename
    assert info["content_type"] == "audio/wav"
    assert info["expires_in"] == TTL
    expires_at = datetime.fromisoformat(info["expires_at"].replace("Z", "+00:00"))
    assert started + TTL - 2 <= expires_at.timestamp() <= time.time() + TTL + 2
    url = info["url"]
    assert url.startswith(f"{PUBLIC_URL}{media.raw_path}?"), url  # absolute: LITE_PUBLIC_URL
    query = parse_qs(urlsplit(url).query)
    assert query["u"] == [str(USER)]
    assert abs(int(query["exp"][0]) - expires_at.timestamp()) <= 1
    got = site.http.get(local_of(site, url), headers={"Range": "bytes=0-99", **IDENTITY})
    assert got.status_code == 206
    whole = site.http.get(media.raw_path, headers=site.auth()).content
    assert got.content == whole[:100]
    assert got.headers["content-disposition"].startswith("inline;")
    saved = site.http.get(local_of(site, info["download_url"]), headers=IDENTITY)
    assert saved.status_code == 200 and saved.content == whole
    assert saved.headers["content-disposition"].startswith(
        f'attachment; filename="{media.filename}"'
    )
    if site.backend == "local":
        assert info["file_size_bytes"] == media.size


def test_fresh_signature_made_with_the_key_works(site: Deployment) -> None:
    """The positive control of the forgeries below: the test really knows the server's key."""
    media = site.media["webm"]
    got = site.http.get(signed(media), headers={"Range": "bytes=-10"})
    assert got.status_code == 206 and got.content == media.body[-10:]
    assert site.http.head(signed(media)).status_code == 200


def tamper(path: str, **changes: str) -> str:
    base, _, query = path.partition("?")
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params.update(changes)
    return f"{base}?{urlencode(params)}"


def forgeries(media: Media, other: Media) -> dict[str, str]:
    good = signed(media)
    sig = parse_qs(good.split("?", 1)[1])["sig"][0]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    past = int(time.time()) - 60
    for_other_media = signed(media, media_id=other.media_id).split("?", 1)[1]
    for_other_recording = signed(media, recording_id=other.recording_id).split("?", 1)[1]
    return {
        "tampered signature": tamper(good, sig=flipped),
        "truncated signature": tamper(good, sig=sig[:32]),
        "empty signature": tamper(good, sig=""),
        "tampered expiry": tamper(good, exp=str(int(time.time()) + 10**6)),
        "tampered user": tamper(good, u=str(OTHER_USER)),
        "no user": tamper(good, u=""),
        "expired": signed(media, exp=past),
        "signed for another media id": f"{media.raw_path}?{for_other_media}",
        "signed for another recording": f"{media.raw_path}?{for_other_recording}",
        "signed by another key": f"{media.raw_path}?"
        + sign_raw(b"not-the-key", USER, media.recording_id, media.media_id, past + 10**4),
    }


@pytest.mark.parametrize(
    "name",
    list(forgeries(Media(1, 2, "u", b"", "audio/wav", 0), Media(3, 4, "v", b"", "audio/wav", 0))),
)
def test_bad_signatures_are_403(site: Deployment, name: str) -> None:
    media, other = site.media["wav"], site.media["webm"]
    path = forgeries(media, other)[name]
    for method in ("GET", "HEAD"):
        answer = site.http.request(method, path, headers={"Range": "bytes=0-1"})
        assert answer.status_code == 403, (name, method)
        assert "content-range" not in answer.headers
        if method == "GET":
            assert error_code(answer) == "forbidden"
            if name == "expired":
                assert "expired" in answer.json()["error"]["message"]


def test_signature_of_another_user_for_my_recording_is_404(site: Deployment) -> None:
    """A valid signature grants what its user may read, nothing of anyone else's."""
    theirs = site.media["theirs"]
    answer = site.http.get(signed(theirs, user_id=USER))
    assert answer.status_code == 404
    mine = site.media["wav"]
    assert site.http.get(signed(mine, user_id=OTHER_USER)).status_code == 404


# --- presigned S3 URLs ---------------------------------------------------------------------------


def test_presigned_url_is_on_the_public_endpoint(site: Deployment) -> None:
    media = site.media["wav"]
    info = site.download(media)
    url = info["url"]
    if site.backend == "local":  # nothing to presign: the app's own signed link
        assert url.startswith(f"{PUBLIC_URL}{media.raw_path}?") and "X-Amz" not in url
        return
    split = urlsplit(url)
    public = urlsplit(site.public_endpoint)
    assert (split.scheme, split.hostname, split.port) == ("http", "localhost", public.port)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=" + str(TTL) in url
    assert info["file_size_bytes"] == media.size
    got = httpx.get(url, headers={"Range": "bytes=100-1123", **IDENTITY}, timeout=30)
    assert got.status_code == 206, got.text
    assert got.headers["content-range"] == f"bytes 100-1123/{media.size}"
    assert got.content == media.slice(100, 1123)
    assert got.headers["content-type"] == "audio/wav"
    assert got.headers["content-disposition"] == (
        f"inline; filename=\"{media.filename}\"; filename*=UTF-8''{media.filename}"
    )
    whole = httpx.get(info["download_url"], headers=IDENTITY, timeout=30)
    assert whole.status_code == 200 and whole.content == media.body
    assert whole.headers["content-disposition"].startswith("attachment;")
    # SeaweedFS checks the signature: the URL is not a bearer of the bucket.
    forged = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(forged, timeout=30).status_code == 403


def test_in_progress_gets_a_signed_raw_url(site: Deployment) -> None:
    """No master object exists yet, so on S3 there is nothing to presign: /download falls back
    to the app's signed /raw URL, which serves what has arrived."""
    media = site.media["live"]
    url = site.download(media)["url"]
    assert url.startswith(f"{PUBLIC_URL}{media.raw_path}?")
    got = site.http.get(local_of(site, url), headers=IDENTITY)
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    assert got.content[:4] == b"RIFF" and len(got.content) > 44


def test_listing_shows_only_the_callers_recordings(site: Deployment) -> None:
    """GET /recordings lists only the caller's recordings (the other user's is absent)."""
    listed = site.http.get("/recordings", headers=site.auth(), params={"limit": 200}).json()
    ids = {r["id"] for r in listed["recordings"]}
    assert site.media["theirs"].recording_id not in ids
    assert site.media["wav"].recording_id in ids

"""The settings, declared once: name, default, meaning and how a value is checked.

Pure: imports nothing. `lite.settings` parses the environment with this table and
`lite.settings_doc` renders it as the README's settings table, so both say the same.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKENDS = ("local", "minio", "s3")


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str  # Markdown: the README's "meaning" column
    kind: str = "str"  # str | bool | int | choice | secret
    choices: tuple[str, ...] = ()
    minimum: int | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "STORAGE_BACKEND",
        "",
        "local, minio or s3; unset: chosen from the credentials present",
        "choice",
        ("", *BACKENDS),
    ),
    Setting(
        "LOCAL_STORAGE_DIR",
        "/var/lib/vexa/recordings",
        "Directory of the local backend (`make run`: `./data/recordings`)",
    ),
    Setting(
        "LOCAL_STORAGE_FSYNC",
        "true",
        "fsync every object and its directory before acknowledging",
        "bool",
    ),
    Setting("MINIO_ENDPOINT", "minio:9000", "host:port (or URL) of an S3-compatible endpoint"),
    Setting("MINIO_ACCESS_KEY", "", "Access key for MINIO_ENDPOINT", "secret"),
    Setting("MINIO_SECRET_KEY", "", "Secret key for MINIO_ENDPOINT", "secret"),
    Setting("MINIO_BUCKET", "vexa-recordings", "Bucket on MINIO_ENDPOINT"),
    Setting("MINIO_SECURE", "false", "Use https for MINIO_ENDPOINT", "bool"),
    Setting(
        "MINIO_PUBLIC_ENDPOINT",
        "",
        "Endpoint browsers use for presigned URLs (default MINIO_ENDPOINT)",
    ),
    Setting("AWS_REGION", "us-east-1", "Region of the S3 bucket"),
    Setting(
        "AWS_ACCESS_KEY_ID", "", "S3 access key (or any standard AWS credential source)", "secret"
    ),
    Setting("AWS_SECRET_ACCESS_KEY", "", "S3 secret key", "secret"),
    Setting(
        "S3_BUCKET",
        "vexa-recordings",
        "Bucket of the s3 backend (must be set explicitly for the automatic choice)",
    ),
    Setting("S3_ENDPOINT", "", "Endpoint of a non-AWS S3 provider; unset for AWS"),
    Setting("S3_SECURE", "true", "Use https for S3_ENDPOINT when it has no scheme", "bool"),
    Setting(
        "S3_PUBLIC_ENDPOINT", "", "Endpoint browsers use for presigned URLs (default S3_ENDPOINT)"
    ),
    Setting("PORT", "8056", "HTTP port", "int", minimum=0),
    Setting("LITE_HOST", "127.0.0.1", "Address `vexa-lite serve` binds (the image uses 0.0.0.0)"),
    Setting(
        "ADMIN_API_TOKEN", "", "Token for `X-Admin-API-Key`; unset: admin API disabled", "secret"
    ),
    Setting(
        "INTERNAL_API_SECRET", "", "Bearer secret of trusted recorders; unset: disabled", "secret"
    ),
    Setting(
        "LITE_PUBLIC_URL",
        "",
        "Public base URL (e.g. `https://rec.example.com`) for absolute links; unset: relative "
        "links",
    ),
    Setting(
        "LITE_TRUSTED_PROXIES",
        "",
        "Comma-separated addresses or CIDR networks of reverse proxies whose "
        "`X-Forwarded-Proto`, `-Host` and `-For` are believed; unset: none",
    ),
    Setting(
        "LITE_SIGNING_KEY",
        "",
        "Secret for upload tokens and signed `/raw` URLs; unset: generated once into the storage "
        "and shared by all replicas",
        "secret",
    ),
    Setting(
        "LITE_UPLOAD_TOKEN_TTL_SECONDS",
        "86400",
        "Lifetime of a recorder upload token",
        "int",
        minimum=60,
    ),
    Setting(
        "LITE_DOWNLOAD_URL_TTL_SECONDS", "3600", "Lifetime of `/download` URLs", "int", minimum=1
    ),
    Setting(
        "LITE_DEFAULT_USER_ID",
        "0",
        "Owner of chunks sent with `INTERNAL_API_SECRET` alone for a session nobody registered; "
        "0: keep them unassigned for the admin to assign",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_SESSION_IDLE_SECONDS",
        "600",
        "Finalize a session after this long without chunks (a crashed bot)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_RECONCILE_INTERVAL_SECONDS",
        "30",
        "How often the reconciler looks for idle sessions; 0 disables it",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_MAX_CHUNK_BYTES",
        str(2 * 1024**3),
        "Largest accepted chunk or upload (413 above)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_CHUNK_MEMORY_BYTES",
        str(128 * 1024**2),
        "Chunk bytes held in memory at once, over all uploads (each counts its length, at most "
        "16 MiB); an upload that would pass it gets 503 with `Retry-After` before its body is "
        "read; 0: no limit",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_MAX_RANGES",
        "16",
        "Most ranges served as `multipart/byteranges`; more: the whole 200",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_CACHE_MAX_AGE", "3600", "`Cache-Control` max-age of finished media", "int", minimum=0
    ),
    Setting(
        "LITE_CORS_ORIGINS",
        "",
        "Comma-separated origins allowed to play media cross-origin (`*` for any)",
    ),
    Setting(
        "LITE_REQUIRE_VOLUME",
        "false",
        "Refuse to start the image when `LOCAL_STORAGE_DIR` is not a mounted volume",
        "bool",
    ),
    Setting("LITE_MOUNTINFO", "/proc/self/mountinfo", "mountinfo file the volume check reads"),
    Setting(
        "LITE_DEMO_KEY",
        "false",
        "On start with an empty key store, create and print a key for user 1 (`make run` sets it)",
        "bool",
    ),
    Setting(
        "LITE_RETENTION_DAYS",
        "0",
        "Delete recordings this many days after creation (a recording's own `expires_at` or "
        '`retain: "forever"` wins); 0: keep forever',
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_KEEP_CHUNKS_HOURS",
        "24",
        "Remove a finished master's chunks this long after it was built; `0`: at once; `-1`: "
        "keep them",
        "int",
        minimum=-1,
    ),
    Setting(
        "LITE_LIFECYCLE_INTERVAL_SECONDS",
        "3600",
        "How often the retention and compaction pass runs (it reads every manifest: one listing "
        "per user, one GET per recording); 0 disables it",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_COMPACT_SETTLE_SECONDS",
        "60",
        "Seconds between sealing a master (late chunks refused) and removing its chunks",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_WEBHOOK_URL",
        "",
        "Endpoint that receives every recording event, signed (Standard Webhooks)",
    ),
    Setting(
        "LITE_WEBHOOK_SECRET",
        "",
        "Signing secret of `LITE_WEBHOOK_URL`, `whsec_<base64>` (at least 16 bytes)",
        "secret",
    ),
    Setting(
        "LITE_WEBHOOK_ALLOW_PRIVATE",
        "false",
        "Allow webhook targets on private or loopback addresses",
        "bool",
    ),
    Setting(
        "LITE_WEBHOOK_TIMEOUT_SECONDS", "10", "Time one delivery attempt may take", "int", minimum=1
    ),
    Setting(
        "LITE_WEBHOOK_RETRY_BASE_MS",
        "5000",
        "First retry delay of a failed delivery; it doubles each time (at most 3 h apart)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_GIVE_UP_SECONDS",
        "86400",
        "Retry a delivery this long, then write a dead letter",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_LEASE_SECONDS",
        "60",
        "How long a replica holds an event it is delivering (a crashed holder's lease runs out)",
        "int",
        minimum=1,
    ),
    Setting(
        "LITE_WEBHOOK_POLL_MS",
        "2000",
        "How often each replica looks for events to deliver; 0 disables delivery",
        "int",
        minimum=0,
    ),
    Setting(
        "LITE_LOG_LEVEL",
        "info",
        "debug, info, warning or error",
        "choice",
        ("debug", "info", "warning", "error"),
    ),
    Setting(
        "LITE_API_KEY",
        "",
        "API key `vexa-lite upload` and `download` send (or `--api-key`)",
        "secret",
    ),
    Setting(
        "LITE_LOG_FORMAT",
        "auto",
        "`json` (one object per line), `text`, or `auto`: text on a terminal, else json",
        "choice",
        ("auto", "json", "text"),
    ),
    Setting(
        "LITE_WAV_GAP_FILL",
        "silence",
        "A missing WAV chunk becomes silence of its neighbours' length (later audio keeps its "
        "time), or `none` (left out)",
        "choice",
        ("silence", "none"),
    ),
)

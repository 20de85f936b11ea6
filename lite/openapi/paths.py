"""Every route of the app as an OpenAPI operation, one module an area. A test
(tests/test_openapi.py) compares this table with the app's routes both ways: a new route needs its
entry in its area's module, see README "OpenAPI"."""

from __future__ import annotations

from typing import Any

from lite.openapi.admin_paths import ADMIN_PATHS
from lite.openapi.ingest_paths import INGEST_PATHS
from lite.openapi.recording_paths import RECORDING_PATHS
from lite.openapi.site_paths import SITE_PATHS

PATHS: dict[str, dict[str, Any]] = {**RECORDING_PATHS, **INGEST_PATHS, **ADMIN_PATHS, **SITE_PATHS}

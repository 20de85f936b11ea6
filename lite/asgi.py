"""ASGI entry for Hypercorn (`hypercorn lite.asgi:app`): the app built from the environment."""

import os

from lite.app import create_app
from lite.logs import configure_logging
from lite.settings import load_settings

settings = load_settings(os.environ)
configure_logging(settings.lite_log_level)
app = create_app(settings)

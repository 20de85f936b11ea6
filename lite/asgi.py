"""ASGI entry for Hypercorn (`hypercorn lite.asgi:app`): the app built from the environment."""

import logging
import os

from lite import hypercorn_fix
from lite.app import create_app
from lite.logs import configure_logging
from lite.settings import load_settings

hypercorn_fix.install()
settings = load_settings(os.environ)
configure_logging(settings.lite_log_level)
# Under the hypercorn command its logger has a handler of its own: do not print lines twice.
logging.getLogger("hypercorn.error").propagate = False
app = create_app(settings)

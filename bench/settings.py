"""Settings for the benchmark: the project's own, plus the floor view's URLs.

Everything else comes from the environment exactly as in production
(``bench/run.py`` sets DEBUG=false, SECRET_KEY, ALLOWED_HOSTS, ...), so what
is measured is what would be deployed.
"""

import os
from pathlib import Path

from newsroom.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"

# The bench photos live beside the bench database, not in the dev media.
MEDIA_ROOT = Path(
    os.environ.get(
        "BENCH_MEDIA_ROOT", Path(__file__).resolve().parent / ".data" / "media"
    )
)

"""The test suite: SQLite by default; PostgreSQL when SETTLE_TEST_DATABASE_URL is set."""

import os
from pathlib import Path

from .base import *  # noqa: F403
from .base import database_from_url

if test_url := os.environ.get("SETTLE_TEST_DATABASE_URL"):
    DATABASES = {"default": database_from_url(test_url)}
else:
    DATABASES = {"default": database_from_url("sqlite:///" + str(VAR_DIR / "test.sqlite3"))}  # noqa: F405
    # One file per test process, so two runs side by side never share (or delete) each other's.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-run-{os.getpid()}.sqlite3")}  # noqa: F405

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405 (WhiteNoise expects the folder)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Django's and Settle's log, at INFO, is also written to a file per test run, which the suite's
# last test scans for card numbers (tests/test_zz_no_card_numbers.py); a run that passes removes it.
# The test process starts the file; the commands it runs with these settings add to it.
_LOG_FILE_INHERITED = "SETTLE_TEST_LOG_FILE" in os.environ
TEST_LOG_FILE = Path(os.environ.setdefault("SETTLE_TEST_LOG_FILE", str(VAR_DIR / f"test-run-{os.getpid()}.log")))  # noqa: F405
LOGGING = {
    **LOGGING,  # noqa: F405
    "handlers": {
        "console": {"class": "logging.StreamHandler"},
        "file": {
            "class": "logging.FileHandler",
            "filename": str(TEST_LOG_FILE),
            "mode": "a" if _LOG_FILE_INHERITED else "w",
            "encoding": "utf-8",
            "delay": True,
        },
    },
    "root": {"handlers": ["console", "file"], "level": "INFO"},
}

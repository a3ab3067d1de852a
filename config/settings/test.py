"""The test suite: SQLite by default; PostgreSQL when SETTLE_TEST_DATABASE_URL is set."""

import os

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

"""Domain errors. Services raise these; views and the API turn them into a clear message
(never a 500), and the transaction that raised them writes nothing."""

from __future__ import annotations


class SettleError(Exception):
    """Base of every error a user can be shown as it is."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code or type(self).__name__


class InvalidInput(SettleError):
    """The request itself is wrong: a bad amount, currency, phone number, or missing field."""


class NotAllowed(SettleError):
    """The request is well-formed but the object's state forbids it (paying a void invoice)."""

    status_code = 409


class PermissionDenied(SettleError):
    """The signed-in person's role may not do this (read-only staff changing money)."""

    status_code = 403


class NotFound(SettleError):
    """No such object for this merchant: another merchant's id looks exactly like a missing one."""

    status_code = 404

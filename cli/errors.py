"""Errors the user can fix; printed as one line without a traceback."""


class UsageError(Exception):
    """A problem with what was asked: the message names the thing and the fix."""

"""Errors a user can act on. The CLI prints them as one line (exit status 2)."""


class UserError(Exception):
    """Bad input or a missing prerequisite, with a message that says what to do."""

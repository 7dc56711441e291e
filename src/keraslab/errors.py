"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class UserError(ValueError):
    """Something the user asked for cannot be done; the message says what to do instead."""

"""The one root exception and its kinds; the CLI turns any of them into one line on stderr."""


class ChangenoteError(Exception):
    """Anything the user can fix: bad input, unknown id, unreachable store, failed probe setup."""

    exit_code = 1


class UsageError(ChangenoteError):
    """A malformed argument or option value."""

    exit_code = 2


class ConfigError(ChangenoteError):
    """The configuration file is malformed or holds an unknown key."""

    exit_code = 2


class NotFoundError(ChangenoteError):
    """An id, slug or check name that does not exist."""


class StoreError(ChangenoteError):
    """The store cannot be opened, migrated or written."""


class ProbeError(ChangenoteError):
    """A probe cannot be set up (not a measured failure: those become samples)."""

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


class UnreadableChangeError(StoreError):
    """A change in the store that is no longer a document changenote can use (a row an
    older changenote let in, or a hand edit): it names the change and what is wrong."""

    def __init__(self, slug: str, reason: str) -> None:
        shown = repr(slug[:60]) + ("…" if len(slug) > 60 else "")
        super().__init__(f"change {shown} cannot be read: {reason}")
        self.slug = slug
        self.reason = reason

"""changenote: a maintenance notebook for teams that run Python services."""

__version__ = "0.1.0"

"""The face: the Typer commands, grouped by what they do, and printing for people.

A command parses its options, calls one action of a room below (``notebook``,
``wiki``, ``monitor``) and prints (``display``). Nothing here computes a verdict,
runs SQL, renders a template or writes a file. ``app`` registers every command;
``options`` holds the options several commands share; ``common`` opening the
notebook, progress and the CI gate. This is the top layer: it may import every room.
"""

from changenote.cli.app import app, main

__all__ = ["app", "main"]

"""Help that reads like Click's: ``Usage: changenote baseline [OPTIONS] TITLE``.

Typer (0.2x, without Rich markup) writes a required argument as ``{TITLE}``, adds the
Python type to every argument line (``TITLE <str>``, ``ITEM <list[str]>``), and the
command list cuts each command's description with "..." where the line would wrap. The
command and group classes here write usage and arguments the way Click and the tools
built on it do (sqlite-utils, llm): ``TITLE`` when required, ``[ID]`` when optional,
``NAME...`` when repeated, the metavar as given when it already says so (``[ID] ITEM``),
no types; and the command list shows each command's first paragraph whole.
"""

from __future__ import annotations

import inspect
from typing import Any

from typer.core import TyperCommand, TyperGroup


def argument_name(param: Any) -> str:
    """An argument as the Arguments section names it: its metavar, else its name."""
    name: str = param.metavar or (param.name or "").upper()
    if param.metavar is None and param.nargs != 1:
        name += "..."
    return name


def usage_name(param: Any) -> str:
    """An argument as the usage line names it: in brackets when it may be left out."""
    name = argument_name(param)
    if not param.required and not name.startswith("["):
        name = f"[{name}]"
    return name


def short_help(command: Any) -> str:
    """A command's line in the command list: its ``short_help``, else the first
    paragraph of its help, whole (a list line that ends in "..." says nothing)."""
    if command.short_help:
        return " ".join(inspect.cleandoc(command.short_help).split())
    text = inspect.cleandoc(command.help or "").partition("\f")[0]
    return " ".join(text.split("\n\n", 1)[0].split())


class Command(TyperCommand):
    """A command whose help has no Python types and no braces."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name == "argument":
                pieces.append(usage_name(param))
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                arguments.append((argument_name(param), record[1]))
            else:
                options.append(record)
        if arguments:
            with formatter.section("Arguments"):
                formatter.write_dl(arguments)
        if options:
            with formatter.section("Options"):
                formatter.write_dl(options)


class Group(TyperGroup):
    """The app: Click's usage line, and the command list with whole sentences."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, short_help(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

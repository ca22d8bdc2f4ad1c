"""``--help`` in Rich panels, without ``typer.rich_utils``.

Typer's Rich formatter imports Markdown, syntax highlighting and Rich tracebacks at module
level: about 60 ms, more than ``import typer`` itself, on every ``--help``. Issue 6 wants the
cold start within 2× ``import typer``. This lays out Click's own help records (option names and
value, help text with ``[default: …]``, ``[env var: …]``, ``[required]``) in the same panels,
importing only Rich's console, panel, table and text.
"""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

#: Typer's value names (``<str>``, ``<list[str]>``, ``{files}``) → the usual upper-case words
_VALUE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "FLOAT", "bool": ""}
_ANGLE = re.compile(r"<(?:list\[)?(\w+)\]?>")
_BRACED = re.compile(r"\{(\w+)\}")


def value_name(text: str) -> str:
    """``--map <list[str]>`` → ``--map TEXT``; ``{files}...`` → ``FILES...``."""
    text = _ANGLE.sub(lambda m: _VALUE_NAMES.get(m.group(1), m.group(1).upper()), text)
    return _BRACED.sub(lambda m: m.group(1).upper(), text).strip()


def reflow(paragraph: str) -> str:
    """Prose joins into one line (the terminal wraps it); a block with indented lines (an
    example) keeps its lines."""
    lines = paragraph.splitlines()
    if any(line.startswith(" ") for line in lines):
        return paragraph
    return " ".join(line.strip() for line in lines)


def fit_examples(paragraph: str, width: int) -> str:
    """An example block's lines longer than ``width`` broken at a space outside quotes with a
    shell continuation (`` \\``): the terminal would otherwise wrap them mid-command and the
    pasted lines would run as two commands. An option (a redirection) stays beside its value."""
    out = []
    for line in paragraph.splitlines():
        if len(line) <= width or not line.startswith(" "):
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        lead, words = indent, []
        for word in _words(line.strip()):
            if words and len(lead + " ".join(words + [word])) + 2 > width:  # room for " \"
                carry = [words.pop()] if (len(words) > 1 and not word.startswith("-") and (
                    words[-1].startswith("-") or words[-1] in (">", ">>", "<"))) else []
                out.append(lead + " ".join(words) + " \\")
                lead, words = indent + "    ", carry
            words.append(word)
        out.append(lead + " ".join(words))
    return "\n".join(out)


def _words(command: str) -> list[str]:
    """``command`` split at the spaces outside quotes (the places a line may break)."""
    words, word, quote = [], "", None
    for ch in command:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == " ":
            if word:
                words.append(word)
            word = ""
            continue
        word += ch
    return words + ([word] if word else [])


def render(command: click.Command, ctx: click.Context) -> None:
    """Print the help of ``command`` (a group lists its commands too)."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from rich.padding import Padding

    console = Console(highlight=False)
    console.print()
    console.print(Padding(Text(command.get_usage(ctx), style="bold"), (0, 0, 0, 1)))
    console.print()
    if command.help:
        first, *rest = inspect.cleandoc(command.help).partition("\f")[0].split("\n\n")
        console.print(Padding(Text(first.replace("\n", " "), style="bold"), (0, 0, 0, 1)))
        for paragraph in rest:
            console.print()
            text = reflow(paragraph)
            if text == paragraph:  # an example: its lines as they are, fitted to the width
                text = Text(fit_examples(paragraph, console.width - 1), style="dim", no_wrap=True,
                            overflow="ignore")
            else:
                text = Text(text, style="dim")
            console.print(Padding(text, (0, 0, 0, 1)))
        console.print()

    def panel(title: str, rows: list[tuple[str, str]]) -> None:
        if not rows:
            return
        table = Table(show_header=False, box=None, expand=True, padding=(0, 1), pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column(ratio=1)
        for name, text in rows:
            table.add_row(Text(name), Text(text))  # not markup: "[default: 5]" is literal
        console.print(Panel(table, title=title, title_align="left", border_style="dim"))

    arguments, options = [], []
    for param in command.get_params(ctx):
        record = None if getattr(param, "hidden", False) else param.get_help_record(ctx)
        if record is None:
            continue
        text = record[1].replace("  [", "\n[")
        if param.param_type_name == "argument":
            arguments.append((record[0].split()[0].upper(), text))
        else:
            options.append((value_name(record[0]), text))
    panel("Arguments", arguments)
    panel("Options", options)
    if hasattr(command, "list_commands"):
        rows = []
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                rows.append((name, sub.get_short_help_str(limit=console.width)))
        panel("Commands", rows)

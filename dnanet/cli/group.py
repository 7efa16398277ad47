"""How `dnanet --help` lays out the commands: the everyday ones first, in the order of a day's
work, then the example data, and the research commands in a section of their own."""

from __future__ import annotations

import typer.core

EVERYDAY_COMMANDS = ("train", "evaluate", "predict", "embed", "motifs", "variants", "attribute")
"""Listed first in `dnanet --help`; the example data and the other commands follow."""
HELP_ORDER = (*EVERYDAY_COMMANDS, "example", "example-genome")
RESEARCH_PANEL = "Research commands"
"""The --help section of the commands that study models rather than data (bottleneck, crn):
``@app.command(rich_help_panel=RESEARCH_PANEL)``."""


class EverydayFirst(typer.core.TyperGroup):
    """The `dnanet` command group: --help lists `HELP_ORDER` first, then the rest as registered; a
    command's own --help lists its options' choices from the registries (`dnanet.cli.choices`)."""

    def list_commands(self, ctx) -> list[str]:
        order = {name: place for place, name in enumerate(HELP_ORDER)}
        return sorted(super().list_commands(ctx), key=lambda name: order.get(name, len(order)))

    def get_command(self, ctx, name):
        """The command `name`, its one-line summary in `dnanet --help` set (`summary`)."""
        command = super().get_command(ctx, name)
        if command is not None and command.help and not command.short_help:
            command.short_help = summary(command.help)
        return command

    def resolve_command(self, ctx, args):
        """The command to run; for its --help, its options' choices from the registries are added
        to their help first (only then: reading the registries imports torch)."""
        name, command, rest = super().resolve_command(ctx, args)
        if "--help" in rest:
            from dnanet.cli.choices import show_choices

            show_choices(command, ctx)
            command.help = reflowed(command.help)
        return name, command, rest


def reflowed(help_text: str | None) -> str | None:
    """A command's docstring with each prose paragraph on one line, so --help wraps it to the
    terminal's width (rich keeps a docstring's line breaks: at 80 columns, lines written for 100
    broke in two). Paragraphs that start indented (examples, continued commands) are kept as
    written."""
    if not help_text:
        return help_text
    paragraphs = help_text.split("\n\n")
    return "\n\n".join(
        paragraph if paragraph[:1].isspace() else " ".join(paragraph.split("\n"))
        for paragraph in paragraphs
    )


def summary(help_text: str) -> str:
    """A command's line in `dnanet --help`: the first sentence of its docstring, on one line.
    The listing showed the whole first paragraph with the docstring's line breaks, so a summary
    stopped mid-sentence at the end of a source line ("... Give --vcf with")."""
    first = " ".join(help_text.strip().split("\n\n")[0].split())
    end = first.find(". ")
    return first[: end + 1] if end >= 0 else first

"""MkDocs hooks of the documentation site (mkdocs.yml `hooks:`).

The command reference is generated from the command line itself, so `dnanet X --help` and the
docs cannot disagree: `cli_reference()` walks the Typer app (`dnanet.cli.app`, as a click group
via `typer.main.get_command`) and writes one section per command, sub-commands included, with the
command's help, its usage line and a table of its arguments and options, each as `--help` shows
it (the same help records, defaults, ranges and "Choices: ..." lists). The page
`reference/cli.md` holds the marker `CLI_MARKER` where the sections go.

`OPTIONAL_PAGES` are nav entries written by someone else that may not exist yet in a checkout:
their entry is dropped (with a note in the build log) instead of failing the strict build.
"""

from __future__ import annotations

import html
import inspect
import logging
import re
import textwrap
from pathlib import Path

CLI_MARKER = "<!-- dnanet-cli-reference -->"
CLI_PAGE = "reference/cli.md"
OPTIONAL_PAGES = ("run-folder.md",)

log = logging.getLogger("mkdocs.hooks.dnanet")


# --- mkdocs events -----------------------------------------------------------------------------


def on_config(config):
    """Drop the nav entries of `OPTIONAL_PAGES` whose file is not in docs/ yet."""
    missing = [page for page in OPTIONAL_PAGES if not (Path(config.docs_dir) / page).is_file()]
    if missing and config.nav:
        config.nav = _without_pages(config.nav, set(missing))
        log.info("nav: left out %s (not written yet)", ", ".join(missing))
    return config


def on_page_markdown(markdown, page, config, files):
    """The command reference page: its marker replaced by the sections `cli_reference` writes."""
    if page.file.src_uri == CLI_PAGE:
        if CLI_MARKER not in markdown:
            raise ValueError(f"{CLI_PAGE} lost its marker {CLI_MARKER}")
        return markdown.replace(CLI_MARKER, cli_reference())
    return markdown


def _without_pages(nav, pages: set[str]):
    """`nav` (mkdocs.yml's list of titles -> pages or sections) less every entry naming `pages`."""
    kept = []
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            title = next(iter(entry))
            kept.append({title: _without_pages(value, pages)})
        elif value not in pages:
            kept.append(entry)
    return kept


# --- the command reference ---------------------------------------------------------------------


def cli_reference() -> str:
    """Markdown of every `dnanet` command, in `dnanet --help`'s order, groups' sub-commands after
    their group: a heading (`dnanet NAME`), the help, the usage line and the options table."""
    import typer

    from dnanet.cli import app

    root = typer.main.get_command(app)
    context = root.context_class(root, info_name="dnanet")
    return "\n".join(_sections(root, context))


def _sections(group, context):
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None or command.hidden:
            continue
        child = command.context_class(command, info_name=name, parent=context)
        yield _command_section(command, child)
        if hasattr(command, "list_commands"):
            yield from _sections(command, child)


def _command_section(command, context) -> str:
    """One command as `dnanet ... --help` shows it: choices from the registries added to its
    options' help first, as `EverydayFirst.resolve_command` does for --help."""
    from dnanet.cli.choices import show_choices
    from dnanet.cli.group import reflowed

    show_choices(command, context)
    path = context.command_path
    lines = [f"## {path}", "", *_help_blocks(reflowed(command.help) or ""), ""]
    lines += ["```text", command.get_usage(context), "```", ""]
    if hasattr(command, "list_commands"):
        names = [name for name in command.list_commands(context)]
        lines += ["Commands: " + ", ".join(f"[`{name}`](#{_anchor(path, name)})" for name in names)]
        lines.append("")
    records = [param.get_help_record(context) for param in command.get_params(context)]
    rows = [record for record in records if record]
    if rows:
        lines += ["| argument or option | what it does |", "|---|---|"]
        lines += [f"| `{_cell_code(name)}` | {_cell(text)} |" for name, text in rows]
        lines.append("")
    return "\n".join(lines)


def _help_blocks(help_text: str) -> list[str]:
    """A command's help as Markdown: prose paragraphs as text, paragraphs that start indented
    (examples, continued commands) as code blocks, as --help keeps them."""
    text = inspect.cleandoc(help_text).partition("\f")[0]
    blocks: list[str] = []
    for paragraph in text.split("\n\n"):
        if paragraph[:1].isspace():
            blocks += ["```text", textwrap.dedent(paragraph).strip("\n"), "```", ""]
        elif paragraph.strip():
            blocks += [_prose(" ".join(paragraph.split())), ""]
    return blocks


def _prose(text: str) -> str:
    """Help text made safe for Markdown: `code spans` kept, everything else escaped so that
    `*`, `_`, `<...>` and the like read as --help prints them."""
    if text.count("`") % 2:
        return _escape(text)
    pieces = re.split(r"(`[^`]*`)", text)
    return "".join(piece if piece.startswith("`") else _escape(piece) for piece in pieces)


def _escape(text: str) -> str:
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]#|])", r"\\\1", text)


def _cell(text: str) -> str:
    return _prose(" ".join(text.split()))


def _cell_code(text: str) -> str:
    """An option's names and value type as a code span (the table keeps pipes in code spans)."""
    return text.replace("`", "'")


def _anchor(path: str, name: str) -> str:
    """The heading id the toc extension gives `## PATH NAME`."""
    return re.sub(r"[^\w-]+", "-", f"{path} {name}".lower()).strip("-")

"""The house rules of the package, read from the code itself (ast, nothing imported):

- imports run one way, down the stages (`STAGES`): a stage never imports a later one, and the
  library never imports the command line;
- no two modules import each other, directly or round a loop (deferred imports included);
- a command of the CLI is its options, one library call and printing: at most 40 lines below its
  signature and docstring;
- the wheel lists every package (pyproject.toml's explicit list), so an installed dnanet has them
all.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "dnanet"

# Each stage may import itself and the stages before it, never one after it.
STAGES = [
    {"errors", "progress", "version"},
    {"files", "runtime", "examples"},
    {"inputs"},
    {"data"},
    {"models"},
    {"config"},
    {"runs"},
    {"inference"},
    {"training"},
    {"interpret", "report", "synthetic", "crn", "bottleneck"},
    {"tune"},
    {"api"},
    {"__init__"},
    {"cli", "__main__"},
]
STAGE_OF = {name: rank for rank, names in enumerate(STAGES) for name in names}
CLI_BODY_LIMIT = 40


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    """'dnanet.data.store' -> 'data'; 'dnanet' -> '__init__'; 'dnanet.api' -> 'api'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every dnanet import of a file, at any depth of the code."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] == "dnanet"
        ):
            if node.module == "dnanet":  # from dnanet import x: x may be a module or a name
                found += [(node.lineno, f"dnanet.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "dnanet"]
    return found


def library_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def existing_module(name: str, modules: set[str]) -> str | None:
    """The longest prefix of `name` that is a module of the package ('dnanet.x.y.Name' ->
    'dnanet.x.y')."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in modules:
            return candidate
    return None


def test_every_module_is_in_a_known_stage():
    unknown = {stage(module_name(path)) for path in library_files()} - set(STAGE_OF)
    assert not unknown, f"packages with no stage in STAGES: {sorted(unknown)}"


def test_imports_never_run_back_up_the_stages():
    upward = []
    for path in library_files():
        here = stage(module_name(path))
        for line, target in imports_of(path):
            there = stage(target)
            if there == "version" or there not in STAGE_OF:
                continue
            if STAGE_OF[there] > STAGE_OF[here]:
                upward.append(
                    f"{path.relative_to(ROOT)}:{line} imports {target} ({here} -> {there})"
                )
    assert not upward, "imports up the stages:\n" + "\n".join(upward)


def test_no_module_imports_itself_round_a_loop():
    modules = {module_name(path): path for path in library_files()}
    graph = {
        name: {
            target
            for _, imported in imports_of(path)
            if (target := existing_module(imported, set(modules)))
            and target != name
            # a package's __init__ is imported on the way to any of its modules: not an edge here
            and not name.startswith(target + ".")
        }
        for name, path in modules.items()
    }
    loops = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                loops.append(
                    " -> ".join(trail[trail.index(nxt) :] + [node, nxt])
                    if nxt in trail
                    else f"{node} -> {nxt}"
                )
            elif nxt not in state:
                visit(nxt, trail + [node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not loops, "import loops:\n" + "\n".join(loops)


def command_bodies() -> list[tuple[str, int]]:
    """(file:function, lines below the signature and docstring) of every Typer command."""
    bodies = []
    for path in sorted((PACKAGE / "cli").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef):
                continue
            if not any("command" in ast.unparse(d) for d in node.decorator_list):
                continue
            body = node.body
            if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            bodies.append((f"{path.name}:{node.name}", body[-1].end_lineno - body[0].lineno + 1))
    return bodies


def test_cli_commands_are_thin():
    bodies = command_bodies()
    assert len(bodies) >= 12  # train, evaluate, predict, embed, attribute, motifs, variants, ...
    long = [f"{name}: {lines} lines" for name, lines in bodies if lines > CLI_BODY_LIMIT]
    assert not long, f"command bodies over {CLI_BODY_LIMIT} lines:\n" + "\n".join(long)


def test_the_wheel_lists_every_package():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = set(
        re.findall(r'"(dnanet(?:\.[a-z_]+)*)"', text.split("packages = [", 1)[1].split("]", 1)[0])
    )
    packages = {module_name(init) for init in PACKAGE.rglob("__init__.py")}
    assert packages <= listed, f"not in pyproject.toml's packages: {sorted(packages - listed)}"


@pytest.mark.parametrize("name", ["train", "load_run", "Run", "DnanetError"])
def test_the_python_api_is_importable_from_dnanet(name):
    import dnanet

    assert hasattr(dnanet, name), f"dnanet.{name} is missing"


def test_the_command_line_starts_without_torch():
    """`dnanet --help` and tab completion import the CLI and nothing heavy: torch (seconds to
    import) comes in with the first command that runs a model."""
    import subprocess
    import sys

    heavy = "('torch', 'pandas', 'sklearn')"
    code = f"import sys, dnanet.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "[]", shown.stdout

"""No module the command dispatches to imports the command module back (issue 8)."""

from __future__ import annotations

import ast
from pathlib import Path

import megara_crplugin
from megara_crplugin._cli_parser import _SUBCOMMANDS

PACKAGE = Path(megara_crplugin.__file__).parent
#: The only importer of ``megara_crplugin.cli``: ``numina crmasks`` runs the command.
ALLOWED = {"numina/plugin.py"}


def _imports_cli(path: Path) -> list[int]:
    """Line numbers of the imports of ``megara_crplugin.cli`` in ``path`` (any depth)."""
    rel = path.relative_to(PACKAGE)
    package = ["megara_crplugin", *rel.parts[:-1]]
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module or ""]).strip(".")
            names = {f"{name}.{a.name}" for a in node.names}
            if name == "megara_crplugin.cli" or "megara_crplugin.cli" in names:
                lines.append(node.lineno)
        elif isinstance(node, ast.Import):
            if any(a.name == "megara_crplugin.cli" for a in node.names):
                lines.append(node.lineno)
    return lines


def test_the_import_finder_sees_the_known_importer():
    probe = PACKAGE / "numina" / "plugin.py"
    assert _imports_cli(probe), "numina/plugin.py runs megara_crplugin.cli.main"


def test_no_module_but_the_numina_entry_imports_cli():
    found = {
        str(p.relative_to(PACKAGE)): lines
        for p in sorted(PACKAGE.rglob("*.py"))
        if (lines := _imports_cli(p)) and str(p.relative_to(PACKAGE)) not in ALLOWED
    }
    assert found == {}, f"modules importing megara_crplugin.cli (import cycle): {found}"


def test_every_subcommand_module_exists_and_is_not_the_command():
    for _name, module, _help in _SUBCOMMANDS:
        assert module != "megara_crplugin.cli"
        path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
        assert path.is_file(), module

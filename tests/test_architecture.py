"""The architecture as tests: import-linter's layer contracts (pyproject.toml); no private name
used across modules (a private ``_name`` imported from another module means the split
between the two modules is wrong); and no re-export facades (a name is imported from the
module that defines it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SOURCES = [
    *sorted((ROOT / "harness").rglob("*.py")),
    *sorted((ROOT / "tests").rglob("*.py")),
    *sorted((ROOT / "bench").glob("*.py")),
    ROOT / "locustfile.py",
]
SOURCES = [p for p in SOURCES if p.name != "_arch_probe_tmp.py"]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _ours(module: str) -> bool:
    return module.split(".")[0] in ("harness", "tests", "bench", "locustfile")


def private_uses(path: Path) -> list[str]:
    """``from ours import _x`` and ``ours_module._x`` in one file, as ``file:line: what``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    modules: set[str] = set()  # names bound to modules of ours
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not _ours(node.module):
                continue
            for alias in node.names:
                if _private(alias.name):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.append(f"{where}: {node.module}.{alias.name}")
                else:
                    modules.add(alias.asname or alias.name)  # maybe a module: checked below
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _ours(alias.name):
                    modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and _private(node.attr)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
        ):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    return found


def test_no_private_name_is_used_from_another_module() -> None:
    found = [hit for path in SOURCES for hit in private_uses(path)]
    assert found == [], "private names used across modules:\n" + "\n".join(found)


def test_the_checker_sees_a_private_import(tmp_path: Path) -> None:
    bad = ROOT / "tests" / "_arch_probe_tmp.py"
    bad.write_text("from harness.rundir.jsonl import _parse\nimport harness.numbers as n\nn._x\n")
    try:
        assert [h.split(": ")[1] for h in private_uses(bad)] == [
            "harness.rundir.jsonl._parse",
            "n._x",
        ]
    finally:
        bad.unlink()


def module_file(module: str) -> Path | None:
    """The source file of one of our modules (``harness.x.y``), or None."""
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def defined_names(path: Path) -> set[str]:
    """Names a module defines itself at its top level (not the ones it imports; the
    branches of ``if TYPE_CHECKING:`` are imports only)."""
    names: set[str] = set()

    def targets(node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                targets(elt)

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                targets(node.target)
            elif isinstance(node, ast.If) and "TYPE_CHECKING" not in ast.unparse(node.test):
                walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                for handler in node.handlers:
                    walk(handler.body)

    walk(ast.parse(path.read_text(encoding="utf-8")).body)
    return names


def reexported_imports(path: Path) -> list[str]:
    """``from ours import name`` where ``ours`` does not define ``name`` (it only imports it)."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
            continue
        source = module_file(node.module) if _ours(node.module) else None
        if source is None:
            continue
        defined = defined_names(source)
        for alias in node.names:
            if alias.name in defined or module_file(f"{node.module}.{alias.name}"):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            found.append(f"{where}: {node.module}.{alias.name}")
    return found


def test_every_name_is_imported_from_the_module_that_defines_it() -> None:
    found = [hit for path in SOURCES for hit in reexported_imports(path)]
    assert found == [], "names imported through another module (re-exports):\n" + "\n".join(found)


def test_import_linter_contracts_hold() -> None:
    """The layers of pyproject.toml's [tool.importlinter] (also run by `make lint`)."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " 0 broken." in proc.stdout, proc.stdout[-2000:]


#: Imported into a process, these monkey-patch it with gevent (Locust does so on import).
PATCHING = ("locust", "gevent")


def test_no_test_module_patches_the_test_process_with_gevent() -> None:
    """Tests run Locust in a subprocess (``harness run``); a test module that imports it (say
    through ``harness.load.user``) monkey-patches the pytest worker itself, whose threads
    then die with gevent's ``LoopExit`` under pytest-xdist."""
    modules = [
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in sorted((ROOT / "tests").rglob("test_*.py"))
    ]
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    hit = [m for m in {PATCHING!r} if m in sys.modules]\n"
        "    if hit:\n"
        "        print(name, 'imports', ', '.join(hit))\n"
        "        break\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "", out.stdout

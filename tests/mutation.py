"""Mutation testing of the pure rule modules: does a test notice when the rule is wrong?

    python -m tests.mutation policies/routing.py [--jobs N] [--timeout S] [--with-db] [--list] [--only TEXT]
    make mutate ARGS=requests/sla.py

A small AST mutator (no dependency): every mutant is the module with ONE change, run against the tests that
cover that module; a mutant is killed when a test fails (or errors, or runs past the timeout), and survives when
every test still passes. The score is killed / (mutants - equivalent), and must reach ``--fail-under`` (90 %).

Operators: comparisons flipped at the boundary and negated (``<`` ⇄ ``<=``, ``==`` ⇄ ``!=``, ``in`` ⇄ ``not in``),
integer/float constants ±1, ``and`` ⇄ ``or``, ``not x`` → ``x``, ``if c`` → ``if not c``, ``True`` ⇄ ``False``,
``return x`` → ``return None``, a statement deleted (replaced by ``pass``), a string literal (also the literal
parts of an f-string) replaced by ``"XX"`` + itself + ``"XX"`` or emptied. Not mutated: docstrings, imports,
annotations, decorators, ``__all__``, f-string format specs.

Each mutant runs in a process forked from a parent that has already imported pytest, Django and the project's
third-party libraries (not the project): the child puts the mutated module into ``sys.modules`` before pytest
collects, so conftest and the tests import the mutant. Pure test files need no database; with ``--with-db`` the
covering database tests run too, and every child gets its own ``VAR_DIR`` (so its own SQLite test database):
parallel mutants never share one.

Equivalent mutants (a change no behaviour can reveal) are listed with their reason in
``tests/mutation_equivalent.txt``, one per line as ``<module> | <mutant key> | <reason>``; the key is printed by
``--list`` and for every survivor, and names the function and the source before and after, so it survives edits
elsewhere in the file.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tests" / "mutation_equivalent.txt"

# The tests that cover each module. Pure tests first: they need no database and are fast; "db" tests run the rule
# through the services and views and only run with --with-db.
COVERING_TESTS: dict[str, dict[str, list[str]]] = {
    "policies/routing.py": {
        "pure": ["tests/policies/test_routing.py", "tests/policies/test_routing_rules.py"],
        "db": ["tests/requests/test_filing.py"],
    },
    "requests/sla.py": {
        "pure": ["tests/requests/test_sla_clock.py", "tests/requests/test_sla_rules.py"],
        "db": ["tests/requests/test_sla_sweep.py", "tests/requests/test_queue.py"],
    },
    "requests/messages.py": {
        "pure": ["tests/requests/test_messages.py"],
        "db": ["tests/requests/test_filing.py"],
    },
}

_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_SYMBOL = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}


@dataclass(frozen=True)
class Mutant:
    key: str  # "<qualname>: <before> -> <after>", plus " #n" when the same change occurs twice in a function
    line: int
    source: str  # the whole mutated module


def _first_line(text: str, width: int = 70) -> str:
    line = text.strip().splitlines()[0] if text.strip() else text
    return line if len(line) <= width else line[: width - 1] + "…"


class _Finder(ast.NodeVisitor):
    """Collects (path to node, description) of every mutation point, skipping what is not mutated."""

    def __init__(self) -> None:
        self.points: list[tuple[tuple, str, str, str, int]] = []  # (path, kind, qualname, arg, line)
        self._scope: list[str] = []
        self._path: list = []
        self._skip_depth = 0

    # -- traversal keeping a path of (field, index) steps from the module root ------------------------------
    def walk(self, node: ast.AST) -> None:
        self._visit(node)

    def _visit(self, node: ast.AST) -> None:
        self._point(node)
        is_scope = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        if is_scope:
            self._scope.append(node.name)
        for field_name, value in ast.iter_fields(node):
            if self._skipped_field(node, field_name):
                continue
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        if self._skipped_item(node, field_name, i, item):
                            continue
                        self._path.append((field_name, i))
                        self._visit(item)
                        self._path.pop()
            elif isinstance(value, ast.AST):
                self._path.append((field_name, None))
                self._visit(value)
                self._path.pop()
        if is_scope:
            self._scope.pop()

    @staticmethod
    def _skipped_field(node: ast.AST, field_name: str) -> bool:
        if field_name in {"annotation", "returns", "decorator_list", "format_spec", "type_comment"}:
            return True
        return isinstance(node, ast.Import | ast.ImportFrom)

    @staticmethod
    def _skipped_item(parent: ast.AST, field_name: str, index: int, item: ast.AST) -> bool:
        # Docstrings.
        if (
            field_name == "body"
            and index == 0
            and isinstance(parent, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and isinstance(item, ast.Expr)
            and isinstance(item.value, ast.Constant)
            and isinstance(item.value.value, str)
        ):
            return True
        # __all__ and imports.
        if isinstance(item, ast.Import | ast.ImportFrom):
            return True
        return bool(
            isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in item.targets)
        )

    def _add(self, node: ast.AST, kind: str, arg: str = "") -> None:
        qualname = ".".join(self._scope) or "<module>"
        self.points.append((tuple(self._path), kind, qualname, arg, getattr(node, "lineno", 0)))

    def _point(self, node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                for new in _COMPARE_SWAPS.get(type(op), ()):
                    self._add(node, "compare", f"{i}:{new.__name__}")
        elif isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bool):
                self._add(node, "bool")
            elif isinstance(value, int | float):
                self._add(node, "number", "+1")
                self._add(node, "number", "-1")
            elif isinstance(value, str):
                self._add(node, "string", "XX")
                if value:
                    self._add(node, "string", "empty")
        elif isinstance(node, ast.BoolOp):
            self._add(node, "boolop")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._add(node, "not")
        elif isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
            self._add(node, "return")
        if isinstance(node, ast.If | ast.While | ast.IfExp):
            self._add(node, "negate")
        if isinstance(node, ast.stmt) and self._path and self._scope and self._path[-1][1] is not None:
            declaration = isinstance(node, ast.AnnAssign) and node.value is None  # a dataclass field
            if not declaration and not isinstance(
                node, ast.Pass | ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef
            ):
                self._add(node, "delete")


def _is_none(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _resolve(tree: ast.AST, path: tuple) -> tuple[ast.AST, str, int | None, ast.AST]:
    """(parent, field, index, node) at ``path``."""
    parent = tree
    node = tree
    field_name, index = "", None
    for field_name, index in path:
        parent = node
        value = getattr(node, field_name)
        node = value[index] if index is not None else value
    return parent, field_name, index, node


def _replace(parent: ast.AST, field_name: str, index: int | None, new: ast.AST) -> None:
    if index is None:
        setattr(parent, field_name, new)
    else:
        getattr(parent, field_name)[index] = new


def _apply(tree: ast.Module, point: tuple) -> tuple[ast.Module, str, str] | None:
    """A mutated copy of ``tree`` and the before/after text, or None if the mutation makes no change."""
    path, kind, _qualname, arg, _line = point
    tree = copy.deepcopy(tree)
    parent, field_name, index, node = _resolve(tree, path)
    before = _first_line(ast.unparse(node))
    if kind == "compare":
        i, name = arg.split(":")
        node.ops[int(i)] = getattr(ast, name)()
        new = node
    elif kind == "number":
        new = ast.Constant(node.value + (1 if arg == "+1" else -1))
    elif kind == "bool":
        new = ast.Constant(not node.value)
    elif kind == "string":
        new = ast.Constant(f"XX{node.value}XX" if arg == "XX" else "")
        if isinstance(parent, ast.JoinedStr):
            before = repr(node.value)
            _replace(parent, field_name, index, new)
            return tree, before, repr(new.value)
    elif kind == "boolop":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        new = node
    elif kind == "not":
        new = node.operand
    elif kind == "negate":
        node.test = ast.UnaryOp(ast.Not(), node.test)
        new = node
    elif kind == "return":
        new = ast.Return(ast.Constant(None))
    elif kind == "delete":
        new = ast.Pass()
    else:  # pragma: no cover - a new operator without its case
        raise AssertionError(kind)
    _replace(parent, field_name, index, new)
    after = _first_line(ast.unparse(new))
    return tree, before, after


def mutants(module_path: Path) -> list[Mutant]:
    source = module_path.read_text()
    tree = ast.parse(source)
    finder = _Finder()
    finder.walk(tree)
    seen: dict[str, int] = {}
    result = []
    for point in finder.points:
        applied = _apply(tree, point)
        if applied is None:
            continue
        mutated, before, after = applied
        key = f"{point[2]}: {before} -> {after}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key = f"{key} #{seen[key]}"
        result.append(Mutant(key=key, line=point[4], source=ast.unparse(ast.fix_missing_locations(mutated))))
    return result


def load_equivalent(module: str) -> dict[str, str]:
    if not EQUIVALENT_FILE.exists():
        return {}
    found = {}
    for raw in EQUIVALENT_FILE.read_text().splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" | ")]
        if len(parts) != 3:
            raise SystemExit(f"{EQUIVALENT_FILE.name}: expected '<module> | <key> | <reason>': {raw!r}")
        if parts[0] == module:
            found[parts[1]] = parts[2]
    return found


# -- running ------------------------------------------------------------------------------------------------


def _module_name(module: str) -> str:
    return module.removesuffix(".py").replace("/", ".")


def _child(module: str, source: str | None, tests: list[str], var_dir: str, pure: bool) -> None:
    """In the forked child: install the mutant, run pytest, exit with its code. Never returns."""
    try:
        os.environ["VAR_DIR"] = var_dir
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        if source is not None:
            import importlib
            import types

            name = _module_name(module)
            package_name, _, leaf = name.rpartition(".")
            package = importlib.import_module(package_name)
            mod = types.ModuleType(name)
            mod.__file__ = str(ROOT / module)
            mod.__package__ = package_name
            sys.modules[name] = mod
            exec(compile(source, str(ROOT / module), "exec"), mod.__dict__)
            setattr(package, leaf, mod)
        import pytest

        code = pytest.main([*_pytest_options(pure), *tests])
        os._exit(int(code))
    except BaseException:
        os._exit(99)


def _preload(pure: bool) -> None:
    """Load pytest and its plugins once in the parent (without the project), so that each fork starts warm.

    With the database tests only libraries are imported: conftest.py would set Django up in the parent, with the
    parent's VAR_DIR, and every child would share that SQLite test database.
    """
    import pytest

    if not pure:
        import django.test  # noqa: F401

        return
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        pytest.main(["--co", "-q", *_pytest_options(pure), str(ROOT / "tests" / "mutation.py")])
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)


def _pytest_options(pure: bool) -> list[str]:
    # addopts are cleared, so the schemathesis plugin (which imports the HTTP library our app shadows) is refused here too.
    options = [
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "-p",
        "no:schemathesis",
        "--no-header",
        "-o",
        "addopts=",
    ]
    # Pure tests need neither Django nor the shared fixtures of conftest.py (which import the models).
    return [*options, "--noconftest", "-p", "no:django"] if pure else options


def run_all(
    module: str, items: list[Mutant | None], tests: list[str], jobs: int, timeout: float, pure: bool
) -> list[tuple[Mutant | None, str]]:
    """Run every item (None = the unmutated module) in up to ``jobs`` forked children; (item, status) back."""
    os.chdir(ROOT)
    base = Path(tempfile.mkdtemp(prefix="mutation-"))
    running: dict[int, tuple[int, Mutant | None, float, Path]] = {}
    results: list[tuple[Mutant | None, str]] = []
    queue = list(enumerate(items))
    try:
        while queue or running:
            while queue and len(running) < jobs:
                number, item = queue.pop(0)
                var_dir = base / f"m{number}"
                var_dir.mkdir()
                pid = os.fork()
                if pid == 0:
                    _child(module, None if item is None else item.source, tests, str(var_dir), pure)
                running[pid] = (number, item, time.monotonic(), var_dir)
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                now = time.monotonic()
                for child, (_n, item, started, _v) in list(running.items()):
                    if now - started > timeout:
                        os.kill(child, signal.SIGKILL)
                        os.waitpid(child, 0)
                        _n, item, _s, var_dir = running.pop(child)
                        shutil.rmtree(var_dir, ignore_errors=True)
                        results.append((item, "timeout"))
                time.sleep(0.05)
                continue
            if pid not in running:
                continue
            _n, item, _s, var_dir = running.pop(pid)
            shutil.rmtree(var_dir, ignore_errors=True)
            code = os.waitstatus_to_exitcode(status)
            results.append((item, "survived" if code == 0 else "killed"))
            done = len(results)
            if done % 20 == 0:
                print(f"  … {done}/{len(items)}", file=sys.stderr, flush=True)
    finally:
        for child in running:
            os.kill(child, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", choices=sorted(COVERING_TESTS), help="the rule module to mutate")
    parser.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    parser.add_argument(
        "--timeout", type=float, default=0, help="seconds before a mutant counts as killed (default: 4 × the clean run)"
    )
    parser.add_argument("--with-db", action="store_true", help="also run the covering database tests")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--only", default="", help="run only the mutants whose key contains this text")
    parser.add_argument("--fail-under", type=float, default=90.0, help="minimum score in percent")
    args = parser.parse_args(argv)

    module = args.module
    all_mutants = mutants(ROOT / module)
    if args.only:
        all_mutants = [m for m in all_mutants if args.only in m.key]
    if args.list:
        for m in all_mutants:
            print(f"{module}:{m.line}  {m.key}")
        print(f"{len(all_mutants)} mutants")
        return 0
    equivalent = load_equivalent(module)
    unknown = set(equivalent) - {m.key for m in mutants(ROOT / module)}
    if unknown:
        print(f"warning: {len(unknown)} equivalent mutants listed for {module} no longer exist:", file=sys.stderr)
        for key in sorted(unknown):
            print(f"  {key}", file=sys.stderr)
    tests = [t for t in COVERING_TESTS[module]["pure"] if (ROOT / t).exists()]
    if args.with_db:
        tests += [t for t in COVERING_TESTS[module]["db"] if (ROOT / t).exists()]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exceptions_portal.settings")
    sys.path.insert(0, str(ROOT))
    pure = not args.with_db
    _preload(pure)

    print(f"{module}: {len(all_mutants)} mutants, {len(equivalent)} listed as equivalent; tests: {' '.join(tests)}")
    clean_started = time.monotonic()
    baseline = run_all(module, [None], tests, 1, 600, pure)
    if baseline[0][1] != "survived":
        print("the covering tests fail on the unmutated module; fix them first", file=sys.stderr)
        return 2
    # A mutant that loops forever (a deleted "day += 1") is killed by the timeout: a few clean runs' worth.
    timeout = args.timeout or max(10.0, 4 * (time.monotonic() - clean_started))
    started = time.monotonic()
    results = run_all(module, list(all_mutants), tests, args.jobs, timeout, pure)
    results.sort(key=lambda r: (r[0].line, r[0].key))
    survivors = [m for m, status in results if status == "survived" and m.key not in equivalent]
    killed = sum(1 for m, status in results if status != "survived" and m.key not in equivalent)
    equivalent_killed = [m for m, status in results if status != "survived" and m.key in equivalent]
    counted = killed + len(survivors)
    score = 100.0 * killed / counted if counted else 100.0
    for m in survivors:
        print(f"SURVIVED {module}:{m.line}  {m.key}")
    for m in equivalent_killed:
        print(f"note: listed as equivalent but killed, remove it from the list: {m.key}")
    print(
        f"{module}: {killed}/{counted} non-equivalent mutants killed = {score:.1f} % "
        f"({len(results) - counted} equivalent, {time.monotonic() - started:.0f} s)"
    )
    return 0 if score >= args.fail_under else 1


if __name__ == "__main__":
    sys.exit(main())

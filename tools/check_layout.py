"""Measure the shape of the package against the limits the project keeps (AST of src/gdlab).

    python tools/check_layout.py            # print every measure; exit 1 if a limit is broken

Limits:

* at most 8 ``.py`` modules at the top of ``src/gdlab/`` besides ``__init__.py`` and
  ``__main__.py``;
* no module over 400 lines (``len(text.splitlines())``);
* no function over 60 lines (from ``def`` to its last line);
* no assignment (``setattr`` included) to a ``_name`` attribute of anything but ``self``/``cls``;
* at most 10 reads of ``X._name`` where ``X`` is not ``self``, ``cls``, ``super()``,
  ``type(...)`` or a name imported in that module, each with a comment (on its line or the
  line above) saying why;
* no import circle among modules, counting module-level imports (also those under a
  module-level ``if``/``try``, and ``from . import x``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "gdlab"
PACKAGE = "gdlab"
MAX_TOP_MODULES, MAX_MODULE_LINES, MAX_FUNCTION_LINES, MAX_PRIVATE_READS = 8, 400, 60, 10


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


# ---- sizes ------------------------------------------------------------------------------------

def long_functions(tree) -> list[tuple[str, int, int]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                out.append((node.name, node.lineno, length))
    return out


# ---- private attributes -------------------------------------------------------------------------

def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _owner_ok(node, imported: set[str]) -> bool:
    """True for self, cls, super(), type(...) and names imported in the module."""
    if isinstance(node, ast.Name):
        return node.id in ("self", "cls") or node.id in imported
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id in ("super", "type")
    return False


def imported_names(tree) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
    return names


def private_writes(tree) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            for t in ast.walk(target):
                if (isinstance(t, ast.Attribute) and isinstance(t.ctx, ast.Store)
                        and _is_private(t.attr) and not _is_self(t.value)):
                    out.append((t.lineno, ast.unparse(t)))
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("setattr", "delattr") and len(node.args) >= 2
                and not _is_self(node.args[0])):
            key = node.args[1]
            if not isinstance(key, ast.Constant) or _is_private(str(key.value)):
                out.append((node.lineno, ast.unparse(node)))
    return out


def _is_self(node) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def private_reads(tree, lines: list[str]) -> list[tuple[int, str, bool]]:
    imported = imported_names(tree)
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load)
                and _is_private(node.attr) and not _owner_ok(node.value, imported)):
            line = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            commented = "#" in line or above.startswith("#")
            out.append((node.lineno, ast.unparse(node), commented))
    return out


# ---- imports --------------------------------------------------------------------------------------

def _module_level(tree):
    """Statements run at import time: the body, and the bodies of top-level if/try blocks."""
    stack = list(tree.body)
    while stack:
        node = stack.pop(0)
        yield node
        if isinstance(node, ast.If):
            stack[:0] = node.body + node.orelse
        elif isinstance(node, ast.Try):
            stack[:0] = (node.body + [s for h in node.handlers for s in h.body] + node.orelse
                         + node.finalbody)


def import_edges(name: str, path: Path, tree, known: set[str]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    edges = set()
    for node in _module_level(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in known:
                    edges.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:
                    edges.add(sub)
                elif source in known:
                    edges.add(source)
    edges.discard(name)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


# ---- the report -------------------------------------------------------------------------------------

def main() -> int:
    mods = modules()
    known = set(mods)
    top = sorted(p.name for p in ROOT.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    failures = []
    print(f"top-level modules besides __init__/__main__: {len(top)} (limit {MAX_TOP_MODULES}): "
          f"{', '.join(top)}")
    if len(top) > MAX_TOP_MODULES:
        failures.append("too many top-level modules")

    big, long_fns, writes, reads, graph = [], [], [], [], {}
    for name, path in mods.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        if len(lines) > MAX_MODULE_LINES:
            big.append((name, len(lines)))
        long_fns += [(name, *f) for f in long_functions(tree)]
        writes += [(name, *w) for w in private_writes(tree)]
        reads += [(name, *r) for r in private_reads(tree, lines)]
        graph[name] = import_edges(name, path, tree, known)

    largest = max((len(p.read_text().splitlines()), n) for n, p in mods.items())
    print(f"modules: {len(mods)}; over {MAX_MODULE_LINES} lines: {len(big)} "
          f"(largest {largest[1]}, {largest[0]} lines)")
    for name, n in big:
        print(f"  {name}: {n} lines")
    longest = max(((f[3], f[0], f[1]) for f in long_fns), default=None)
    print(f"functions over {MAX_FUNCTION_LINES} lines: {len(long_fns)}")
    for name, fn, line, length in sorted(long_fns, key=lambda f: -f[3]):
        print(f"  {name}:{line} {fn}: {length} lines")
    if longest is None:
        print("  (none)")
    print(f"writes to another object's _attribute: {len(writes)}")
    for name, line, text in writes:
        print(f"  {name}:{line} {text}")
    uncommented = [r for r in reads if not r[3]]
    print(f"reads of another object's _attribute: {len(reads)} (limit {MAX_PRIVATE_READS}), "
          f"{len(uncommented)} without a comment")
    for name, line, text, commented in reads:
        print(f"  {name}:{line} {text}{'' if commented else '  (no comment)'}")
    loops = cycles(graph)
    print(f"import circles among modules (module-level imports): {len(loops)}")
    for loop in loops:
        print("  " + " <-> ".join(loop))

    if big:
        failures.append("modules too long")
    if long_fns:
        failures.append("functions too long")
    if writes:
        failures.append("private writes")
    if len(reads) > MAX_PRIVATE_READS or uncommented:
        failures.append("private reads")
    if loops:
        failures.append("import circles")
    print("result: " + ("every limit holds" if not failures else "BROKEN: " + ", ".join(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

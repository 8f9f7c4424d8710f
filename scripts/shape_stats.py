"""Figures about the code's shape (issue 10): modules and lines per folder, import edges between
the project's modules, the longest functions. Run from the repository root:
``python3 scripts/shape_stats.py [--json]``; compare two commits with ``git worktree``."""

from __future__ import annotations

import ast
import json
import sys
from collections import Counter
from pathlib import Path

ROOTS = ("affiliation_curator", "components", "pages", "app_pages")
PACKAGES = ("affiliation_curator", "components")


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the project's source folders."""
    found: dict[str, Path] = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")) if (root / top).is_dir() else []:
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """Dotted names of the modules this module imports: ``from pkg import mod`` counts as an import of
    ``pkg.mod`` only (when it is one of ``known``), not of the package as well."""
    out: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            subs = {f"{base}.{alias.name}" for alias in node.names} & set(known)
            out.update(subs)
            if len(subs) < len(node.names):
                out.add(base)
    return out


def stats(root: Path) -> dict:
    mods = modules(root)
    folders: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    edges: set[tuple[str, str]] = set()
    functions: list[tuple[int, str]] = []
    for name, path in mods.items():
        text = path.read_text(encoding="utf-8")
        folder = str(path.parent.relative_to(root))
        folders[folder] += 1
        lines[folder] += text.count("\n")
        tree = ast.parse(text)
        for target in imported(tree, name, path.name == "__init__.py", set(mods)):
            if target in mods and target != name and not name.startswith(target + "."):
                edges.add((name, target))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(root)}:{node.name}"))
    functions.sort(reverse=True)
    return {
        "folders": {folder: {"modules": folders[folder], "lines": lines[folder]} for folder in sorted(folders)},
        "modules": len(mods),
        "lines": sum(lines.values()),
        "import_edges": len(edges),
        "longest_functions": functions[:10],
    }


def main() -> None:
    root = Path(sys.argv[2] if len(sys.argv) > 2 else ".").resolve()
    figures = stats(root)
    if "--json" in sys.argv:
        print(json.dumps(figures, indent=1))
        return
    for folder, row in figures["folders"].items():
        print(f"{folder:45} {row['modules']:3} modules {row['lines']:6} lines")
    print(f"{figures['modules']} modules, {figures['lines']} lines, {figures['import_edges']} import edges")
    for length, where in figures["longest_functions"]:
        print(f"  {length:4} lines  {where}")


if __name__ == "__main__":
    main()

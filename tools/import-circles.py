#!/usr/bin/env python3
"""Finds import circles between the files of each Rust crate of the workspace.

A file imports another when one of its `use` lines, or a path written in its code,
names a module that the other file holds (`use crate::db::Db;`,
`use super::types::Limits;`, `crate::routes::router()`, grouped forms included). A circle is two or more files that reach each other through such
lines; `mod` declarations are not imports. Test code (`tests/`, `benches/`) is left
out, and so is everything below a `#[cfg(test)]` line of a file, the unit tests.

    python3 tools/import-circles.py            # every crate; exit 1 if any circle
    python3 tools/import-circles.py server     # one crate folder

Prints each circle with the lines that tie it.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", re.M)
# A path written in the code itself, e.g. `crate::routes::router()`.
INLINE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def crates(args):
    if args:
        return [ROOT / a for a in args]
    found = []
    for manifest in sorted(ROOT.glob("**/Cargo.toml")):
        parts = manifest.relative_to(ROOT).parts
        if "target" in parts or "node_modules" in parts or parts[0] == "fuzz":
            continue
        if (manifest.parent / "src").is_dir():
            found.append(manifest.parent)
    return found


def module_files(src):
    """Maps each module path (a tuple of names) of one crate root to its file."""
    files = {}
    has_lib = (src / "lib.rs").is_file()
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src).with_suffix("").parts
        if rel[0] == "bin" or (rel == ("main",) and has_lib):
            continue
        if rel[-1] in ("lib", "main") and len(rel) == 1:
            key = ()
        elif rel[-1] == "mod":
            key = rel[:-1]
        else:
            key = rel
        files[key] = path
    return files


def expand(tree):
    """`a::{b, c::d}` -> ["a::b", "a::c::d"]."""
    tree = tree.strip()
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{" and depth == 0:
            prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
            out, depth2, start = [], 0, 0
            for j, c in enumerate(inner):
                if c == "{":
                    depth2 += 1
                elif c == "}":
                    depth2 -= 1
                elif c == "," and depth2 == 0:
                    out += expand(prefix + inner[start:j])
                    start = j + 1
            if inner[start:].strip():
                out += expand(prefix + inner[start:])
            return out
        if ch == "{":
            depth += 1
    return [tree]


def targets(module, text, files):
    """The files that the `use` lines of `module` name, with the line for each."""
    found = {}
    code = text.split("#[cfg(test)]", 1)[0]
    # Comments name paths too (doc links); they are not imports.
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("//"))
    uses = [(m.group(0).strip(), expand(m.group(1))) for m in USE.finditer(code)]
    body = USE.sub("", code)
    uses += [(m.group(1), [m.group(1)]) for m in INLINE.finditer(body)]
    for line, paths in uses:
        for path in paths:
            names = [n.strip() for n in path.split(" as ")[0].split("::") if n.strip()]
            if not names:
                continue
            if names[0] == "crate":
                base, rest = (), names[1:]
            elif names[0] == "super":
                base, rest = module, names
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            elif names[0] == "self":
                base, rest = module, names[1:]
            else:
                continue
            # The longest module path that is a file of the crate.
            for n in range(len(rest), -1, -1):
                key = tuple(base) + tuple(rest[:n])
                if key in files and key != module:
                    found.setdefault(files[key], line)
                    break
    return found


def circles(graph):
    """Strongly connected components of two or more files (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    found = 0
    for crate in crates(sys.argv[1:]):
        src = crate / "src"
        files = module_files(src)
        graph = {}
        for module, path in files.items():
            graph[path] = targets(module, path.read_text(encoding="utf-8"), files)
        for comp in circles(graph):
            found += 1
            print(f"circle in {crate.relative_to(ROOT)}: " + ", ".join(str(p.relative_to(ROOT)) for p in comp))
            for a in comp:
                for b, line in graph[a].items():
                    if b in comp:
                        print(f"  {a.relative_to(ROOT)} -> {b.relative_to(ROOT)}: {line}")
    if found:
        print(f"{found} import circle(s)")
        return 1
    print("no import circle between the files of any crate")
    return 0


if __name__ == "__main__":
    sys.exit(main())

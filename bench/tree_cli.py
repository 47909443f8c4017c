"""`verirag` as the source tree on PYTHONPATH defines it, for benchmarks that compare two trees.

The virtual environment's `verirag` script and its ``verirag.commands`` entry points are the checkout's;
a tree from another commit may name other modules for them (the CLI moved from ``rag.cli`` to ``cli.app``).
This runs the tree's own ``[project.scripts] verirag`` with the tree's own command entry points:

    PYTHONPATH=/tmp/before python bench/tree_cli.py ask "question" --json
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import sys
import tomllib
from pathlib import Path

GROUP = "verirag.commands"


def main() -> None:
    tree = Path(os.environ.get("PYTHONPATH", "").split(os.pathsep)[0] or Path(__file__).resolve().parents[1])
    project = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    commands = [metadata.EntryPoint(name, value, GROUP)
                for name, value in project.get("entry-points", {}).get(GROUP, {}).items()]
    module_name, _, function = project["scripts"]["verirag"].partition(":")
    module = importlib.import_module(module_name)

    def tree_entry_points(**selection):
        if selection.get("group") == GROUP:
            return commands
        return metadata.entry_points(**selection)

    module.entry_points = tree_entry_points  # the app reads its commands through this name
    sys.argv = ["verirag", *sys.argv[1:]]
    getattr(module, function)()


if __name__ == "__main__":
    main()

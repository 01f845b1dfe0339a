"""The folders are the layers, bottom to top: `packages/store` (the database),
`packages/daemonkit` and `packages/adapterkit` (what every daemon, every platform adapter
shares), `services/*` (the daemons and the adapters), `apps/switchboard` (the CLI and
supervisor). A module may import only from its own layer or those below it, and none imports
`packages/testkit` (the tests' own helpers)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("gated", "timed", "onbod", "dashd", "platforms")
# Import name -> its layer (0 is the bottom).
LAYER = {
    "store": 0,
    "daemonkit": 1,
    "adapterkit": 1,
    **dict.fromkeys(SERVICES, 2),
    "switchboard": 3,
}
SOURCES = {
    "store": ROOT / "packages/store/src/store",
    "daemonkit": ROOT / "packages/daemonkit/src/daemonkit",
    "adapterkit": ROOT / "packages/adapterkit/src/adapterkit",
    **{name: ROOT / f"services/{name}/src/{name}" for name in SERVICES},
    "switchboard": ROOT / "apps/switchboard/src/switchboard",
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & (set(LAYER) | {"testkit"})


@pytest.mark.parametrize("package", list(SOURCES))
def test_no_module_imports_a_layer_above_its_own(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {other}"
        for path in sorted(SOURCES[package].rglob("*.py"))
        for other in imported_packages(path)
        if other == "testkit" or LAYER[other] > LAYER[package]
    ]
    assert not wrong, wrong


def test_every_package_is_in_its_folder() -> None:
    for package, folder in SOURCES.items():
        assert (folder / "__init__.py").exists(), package

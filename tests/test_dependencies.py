"""The README's first command installs everything the service and its tests import.

Every third-party module imported anywhere in ``ivr/`` (the model-building code in
``ivr/speech/train/`` aside) or ``tests/`` must come from a distribution that
``pip install -e '.[test]'`` brings in: a base dependency, the test extra, or one of
their own requirements.  The train extra's packages may be imported only by the
model-building code, and tests reach them through ``pytest.importorskip`` (they skip,
naming the extra, without it).  The README's set-up line and ``.ci/run`` must agree.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
TRAIN_ONLY = ROOT / "ivr" / "speech" / "train"


def imported_modules(path: Path) -> set[str]:
    """Top-level names of absolute imports anywhere in a file (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("ivr", "tests", "__future__")}


def closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, with their own requirements, recursively."""
    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        for line in metadata.requires(req.name) or []:
            sub = Requirement(line)
            wanted = sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in [""] + sorted(req.extras))
            if wanted:
                sub.marker = None
                todo.append(sub)
    return seen


@functools.cache
def _distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def providers(module: str) -> set[str]:
    return {canonicalize_name(d) for d in _distributions().get(module, [])}


def test_every_module_the_service_and_tests_import_is_installed_by_the_test_extra():
    project = PYPROJECT["project"]
    installed = closure(project["dependencies"] + project["optional-dependencies"]["test"])
    files = [p for p in (ROOT / "ivr").rglob("*.py") if TRAIN_ONLY not in p.parents]
    files += list((ROOT / "tests").rglob("*.py"))
    missing = []
    for path in files:
        for module in imported_modules(path):
            if not providers(module) & installed:
                missing.append(f"{path.relative_to(ROOT)} imports {module} "
                               f"(from {sorted(providers(module)) or 'nothing installed'})")
    assert not missing, "not installed by pip install -e '.[test]':\n" + "\n".join(missing)


def test_the_train_extra_is_only_needed_to_build_the_model():
    train = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["project"]["optional-dependencies"]["train"]}
    base = closure(PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"])
    train_only = train - base
    assert {"torch", "scipy", "kaldifst", "kaldi-native-fbank"} <= train_only
    outside = []
    for path in [p for p in (ROOT / "ivr").rglob("*.py") if TRAIN_ONLY not in p.parents]:
        outside += [f"{path.relative_to(ROOT)}: {m}" for m in imported_modules(path) if providers(m) & train_only]
    assert outside == []


def _readme_setup() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_ci_runs_the_readme_set_up():
    setup = _readme_setup()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    apt = re.search(r"apt-get install -y ([a-z0-9 .+-]+?)\s*(#|\n)", setup).group(1).split()
    listed = re.search(r"^APT_PACKAGES=\(([^)]*)\)", ci, re.M).group(1).split()
    assert sorted(apt) == sorted(listed)
    for command in ("python3 -m venv", "pip install -e '.[test]'", "ivr serve", "python -m pytest"):
        assert command in setup and command in ci, command

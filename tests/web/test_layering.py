"""Imports point inward: the store, the dialogue core and the ports never import the web app."""

from __future__ import annotations

import ast
from pathlib import Path

IVR = Path(__file__).resolve().parents[2] / "ivr"


def test_nothing_below_the_web_app_imports_it():
    offenders = []
    for folder in ("store", "dialogue", "prompts", "telephony", "speech"):
        for path in (IVR / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(IVR)}: {n}" for n in names if n.startswith("ivr.web")]
    assert offenders == []

"""Keeps the shape of the code: imports point inward, the dialogue core stays pure,
and every prompt id the flow names is in the required list."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ivr.dialogue.prompts import FLOW_PROMPTS, REQUIRED_PROMPTS
from ivr.dialogue import speak

PKG = Path(__file__).resolve().parent.parent / "ivr"


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_dialogue_core_imports_no_adapter_and_no_io():
    allowed_stdlib = {"__future__", "dataclasses", "datetime", "enum", "logging", "typing", "re"}
    for path in (PKG / "dialogue").glob("*.py"):
        for name in imports_of(path):
            top = name.split(".")[0]
            if top == "ivr":
                assert name in {"ivr", "ivr.nik", "ivr.ports"} or name.startswith("ivr.dialogue"), \
                    f"{path.name} imports {name}"
            else:
                assert top in allowed_stdlib, f"{path.name} imports {name}"


def test_store_and_telephony_and_speech_never_import_the_core_runner_or_web():
    for area in ("store", "telephony", "speech", "prompts"):
        for path in (PKG / area).rglob("*.py"):
            for name in imports_of(path):
                assert not name.startswith(("ivr.call", "ivr.app", "ivr.web")), f"{path} imports {name}"


def test_web_does_not_import_the_call_runner_or_telephony_server():
    for path in (PKG / "web").rglob("*.py"):
        for name in imports_of(path):
            assert not name.startswith(("ivr.call", "ivr.telephony.server")), f"{path} imports {name}"


def test_every_prompt_id_written_in_the_flow_is_required():
    source = (PKG / "dialogue" / "flow.py").read_text()
    written = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            if re.fullmatch(r"[a-z]+/[a-z_0-9]+", value) or value in ("greeting", "goodbye"):
                written.add(value)
    missing = written - FLOW_PROMPTS
    assert not missing, f"prompt ids used in flow.py but not in FLOW_PROMPTS: {sorted(missing)}"
    assert speak.ALL_WORD_IDS <= REQUIRED_PROMPTS

"""Shared fixtures: the bundled model, loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.speech.recognizer import VoskRecognizer, default_model_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "asr"


@pytest.fixture(scope="session")
def recognizer() -> VoskRecognizer:
    return VoskRecognizer(default_model_dir())


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA

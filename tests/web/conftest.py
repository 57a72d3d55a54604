"""Web app fixtures: a real SqlStore on SQLite in a temporary folder, the app with an
injected login clock and a fake prompt renderer, signed-in clients, and calls written
through the store's call-log methods (with WAV recordings in the spool)."""

from __future__ import annotations

import datetime as dt
import wave
from dataclasses import dataclass
from pathlib import Path

import warnings

import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette asks for the httpx2 package; plain httpx (what is installed) works the same here
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from ivr.ports import CallEventRecord, CallInfo
from ivr.store.recipients import DEMO_NIKS, load_demo
from ivr.store.sql import SqlStore
from ivr.web.app import create_app
from ivr.web.auth import hash_password

ADMIN_PW = "admin-password-123"
OPERATOR_PW = "operator-password-123"
NIK = DEMO_NIKS["scheduled"]
CALLER = "081234567890"
NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.timezone.utc)
GOOD_CSV = ("nik,name,status,collection_date,collection_time,place,address,phone\n"
            "3171012304900021,Ani Wijaya,scheduled,2026-12-02,08:00-12:00,Kantor Kelurahan Tebet,Jl. Tebet Raya 1,\n"
            "3171012304900022,Bayu Saputra,in_review,,,,,\n")


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def write_wav(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((0.3 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2").tobytes())
    return path


class FakeRenderer:
    """Stands in for the TTS build: writes a short WAV for each id and records the calls."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, catalog_path: Path, audio_dir: Path, ids: list[str]):
        from ivr.prompts.render import BuildReport

        self.calls.append(list(ids))
        for prompt_id in ids:
            target = audio_dir / f"{prompt_id}.wav"
            if target.is_symlink():
                target.unlink()
            write_wav(target, 0.5)
        return BuildReport(rendered=tuple(ids))


def fake_preview(text: str, audio_dir: Path) -> str:
    from ivr.prompts.render import dyn_id

    prompt_id = dyn_id(text)
    write_wav(audio_dir / f"{prompt_id}.wav", 0.5)
    return prompt_id


@dataclass
class Env:
    settings: object
    store: SqlStore
    app: object
    clock: FakeClock
    renderer: FakeRenderer


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch):
    """argon2 with its production cost takes ~0.1-0.7 s a hash here; tests use a cheap one."""
    from argon2 import PasswordHasher

    monkeypatch.setattr("ivr.web.auth._hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def env(settings, monkeypatch) -> Env:
    monkeypatch.setenv("IVR_ADMIN_PASSWORD", ADMIN_PW)
    store = SqlStore.from_settings(settings)
    load_demo(store, NOW.date())
    store.create_user("siti", "operator", hash_password(OPERATOR_PW))
    clock, renderer = FakeClock(), FakeRenderer()
    app = create_app(settings, store=store, clock=clock, now=lambda: NOW, renderer=renderer,
                     previewer=fake_preview)
    yield Env(settings, store, app, clock, renderer)
    store.engine.dispose()


@pytest.fixture
def client(env):
    with TestClient(env.app) as c:
        yield c


def sign_in(client: TestClient, name: str, password: str) -> str:
    r = client.post("/api/session", json={"name": name, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


@pytest.fixture
def admin(env):
    with TestClient(env.app) as c:
        c.headers["X-CSRF-Token"] = sign_in(c, "admin", ADMIN_PW)
        yield c


@pytest.fixture
def operator(env):
    with TestClient(env.app) as c:
        c.headers["X-CSRF-Token"] = sign_in(c, "siti", OPERATOR_PW)
        yield c


def make_call(store: SqlStore, spool: Path, *, started: dt.datetime = NOW - dt.timedelta(hours=1),
              outcome: str = "answered", mode: str = "speech", follow_up: str | None = None,
              recording: bool = True, complaint: bool = False, uniqueid: str = "1700000000.1") -> str:
    """A whole call as the call runner would log it."""
    cid = store.start_call(CallInfo(uniqueid=uniqueid, caller=CALLER, channel="PJSIP/trunk-1"), started)
    at = lambda s: started + dt.timedelta(seconds=s)  # noqa: E731
    store.add_event(cid, CallEventRecord(at=at(0), kind="prompt", state="greeting", prompts=("greeting", "nik/ask")))
    if mode in ("speech", "mixed"):
        store.add_event(cid, CallEventRecord(at=at(6), kind="no_input", state="nik", detail={"reason": "silence"}))
        store.add_event(cid, CallEventRecord(at=at(12), kind="speech", state="nik", transcript=NIK,
                                             confidence=0.87, detail={"grammar": "digits"}))
    if mode in ("keypad", "mixed"):
        store.add_event(cid, CallEventRecord(at=at(14), kind="keys", state="confirm", keys="1"))
    if recording:
        wav = write_wav(spool / f"{cid}-01.wav")
        store.add_recording(cid, str(wav), "speech:digits", 1000)
    store.set_call_nik(cid, NIK)
    store.add_event(cid, CallEventRecord(at=at(20), kind="lookup", state="answer", detail={"status": "scheduled"}))
    if complaint:
        wav = write_wav(spool / f"{cid}-complaint-02.wav", 2.0)
        store.add_recording(cid, str(wav), "complaint", 2000)
    if follow_up:
        store.add_follow_up(cid, follow_up, "caller hung up")
    store.add_event(cid, CallEventRecord(at=at(40), kind="end", state="end", detail={"outcome": outcome}))
    store.finish_call(cid, at(42), outcome, "menu", mode)
    return cid

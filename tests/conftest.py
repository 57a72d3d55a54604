"""Shared fixtures: a real hotline (store, call flow, FastAGI server on a free port)
driven by the fake Asterisk over a real TCP socket."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from ivr.config import Settings

REPO = Path(__file__).resolve().parent.parent
JAKARTA = ZoneInfo("Asia/Jakarta")
# A Monday, 09:00 in Jakarta: operators are on duty.
OFFICE_HOURS = dt.datetime(2026, 11, 30, 9, 0, tzinfo=JAKARTA)
# A Sunday evening: operators are not.
CLOSED_HOURS = dt.datetime(2026, 11, 29, 20, 0, tzinfo=JAKARTA)
SOUNDS = "/var/lib/asterisk/sounds/id/hotline"


def prompts_copy(tmp_path: Path) -> Path:
    """The repository's prompts mirrored into a temporary folder: real folders, the
    catalogue copied, each WAV a symbolic link (renderers replace a file by renaming
    over it, which replaces the link, never the repository's file).  Tests may render
    or edit prompts freely."""
    target = tmp_path / "prompts"
    if target.exists():
        return target
    source = REPO / "prompts"
    target.mkdir(parents=True)
    shutil.copy2(source / "prompts.toml", target / "prompts.toml")
    for path in (source / "audio").rglob("*"):
        dest = target / path.relative_to(source)
        if path.is_dir():
            dest.mkdir(parents=True, exist_ok=True)
        elif path.suffix == ".wav":
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.symlink_to(path)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest)
    (target / "audio" / "dyn").mkdir(exist_ok=True)
    return target


def make_settings(tmp_path: Path, **overrides) -> Settings:
    values = dict(data_dir=tmp_path / "data", prompts_dir=prompts_copy(tmp_path), grammars_dir=REPO / "grammars",
                  asterisk_sounds=SOUNDS, secret_key="test-secret-key-0123456789abcdef", env="test",
                  web_enabled=False, agi_port=4573, speech_enabled=False)
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path)


def voice_wav(path: Path, seconds: float = 2.0, rate: int = 8000) -> Path:
    """A voiced test signal (a vowel-like tone with pauses) standing in for a caller."""
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 180 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
    tone[: rate // 4] = 0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((tone * 32767).astype("<i2").tobytes())
    return path


@dataclass
class Line:
    """A running hotline plus what is needed to call it."""

    settings: Settings
    hotline: object
    port: int = 0
    results: list = field(default_factory=list)

    async def call(self, *turns, caller: str = "081234567890", transfer_status=None, save_wav=None):
        from ivr.telephony.fake_asterisk import DEFAULT_TRANSFER_STATUS, run_call

        return await run_call(
            "127.0.0.1", self.port, list(turns), caller=caller,
            sounds_prefix=self.settings.asterisk_sounds, audio_dir=self.settings.audio_dir,
            asterisk_spool=self.settings.asterisk_spool_dir, spool_dir=self.settings.spool,
            timeout=60, save_wav=save_wav, transfer_status=transfer_status or DEFAULT_TRANSFER_STATUS)


def run_line(settings: Settings, scenario, *, recognizer="from settings", clock_at=OFFICE_HOURS, store_wrapper=None,
             db_wrapper=None):
    """Start a hotline on a free port, run ``await scenario(line)``, shut the server
    down (which waits for every call to finish writing its log); return the
    scenario's result and the line, whose store the test can then read."""
    from ivr.app import build_hotline
    from ivr.telephony.channel import ChannelConfig
    from ivr.telephony.server import AgiServer

    extra = {} if recognizer == "from settings" else {"recognizer": recognizer}
    hotline = build_hotline(settings, clock=lambda: clock_at, **extra,
                            store_wrapper=store_wrapper, db_wrapper=db_wrapper)

    async def main():
        server = AgiServer(hotline.runner, "127.0.0.1", 0, config=ChannelConfig.from_settings(settings))
        await server.start()
        line = Line(settings, hotline, server.bound_port)
        try:
            return await scenario(line), line
        finally:
            await server.close()

    try:
        return asyncio.run(main())
    finally:
        hotline.close()


PG_URL = os.environ.get("IVR_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def pg_database_url():
    """A PostgreSQL URL whose tables live in a schema of their own (dropped afterwards);
    the test is skipped when no server answers."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    admin = create_engine(PG_URL)
    schema = "t_" + uuid.uuid4().hex[:12]
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except OperationalError as exc:
        admin.dispose()
        first = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
        pytest.skip(f"needs a PostgreSQL server (apt-get install postgresql) with database 'test' on "
                    f"127.0.0.1:5432, or IVR_TEST_PG_URL: {first}")
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    admin.dispose()

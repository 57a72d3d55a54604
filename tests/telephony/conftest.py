"""Shared fixtures for the telephony tests: a prompt folder of small generated WAVs,
a spool, a running AgiServer on a free port, and a helper to place fake calls."""

from __future__ import annotations

import wave
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ivr.telephony.channel import ChannelConfig
from ivr.telephony.fake_asterisk import run_call
from ivr.telephony.server import AgiServer

PREFIX = "/var/lib/asterisk/sounds/id/hotline"
AST_SPOOL = "/var/spool/asterisk/hotline"
PROMPTS = ("greeting", "ask_nik", "confirm", "bye", "silence/1")


def make_wav(path: Path, seconds: float, rate: int = 8000, channels: int = 1,
             freq: float = 440.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2")
    frames = np.repeat(tone[:, None], channels, axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return path


@dataclass
class Dirs:
    audio: Path
    spool: Path
    tmp: Path

    def config(self, **kw) -> ChannelConfig:
        return ChannelConfig(sounds_prefix=PREFIX, asterisk_spool=AST_SPOOL, spool_dir=self.spool, **kw)


@pytest.fixture
def dirs(tmp_path: Path) -> Dirs:
    audio = tmp_path / "audio"
    for i, name in enumerate(PROMPTS):
        make_wav(audio / f"{name}.wav", 0.25, freq=300 + 100 * i)
    make_wav(audio / "wide.wav", 0.25, rate=16000)  # wrong format on purpose
    spool = tmp_path / "spool"
    spool.mkdir()
    return Dirs(audio=audio, spool=spool, tmp=tmp_path)


@asynccontextmanager
async def serving(handler, dirs: Dirs, **kw):
    config = kw.pop("config", None) or dirs.config()
    server = AgiServer(handler, "127.0.0.1", 0, config=config, **kw)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


async def place_call(server: AgiServer, dirs: Dirs, script, **kw):
    opts = dict(timeout=20.0, sounds_prefix=PREFIX, audio_dir=dirs.audio,
                asterisk_spool=AST_SPOOL, spool_dir=dirs.spool)
    opts.update(kw)
    return await run_call("127.0.0.1", server.bound_port, script, **opts)


class Outcome:
    """Wraps a handler to keep what it returned or raised, per call."""

    def __init__(self, body):
        self.body = body
        self.results: list[object] = []
        self.errors: list[BaseException] = []

    async def __call__(self, channel) -> None:
        try:
            self.results.append(await self.body(channel))
        except Exception as exc:
            self.errors.append(exc)
            raise

"""Starting, refusing and stopping the FastAGI server; scenario files; `ivr call`."""

from __future__ import annotations

import argparse
import asyncio
import json
import threading

import pytest

from ivr.errors import ConfigError
from ivr.telephony import cli
from ivr.telephony.fake_asterisk import HangUp, Keys, Say, Silence, load_scenario
from ivr.telephony.server import AgiServer

from .conftest import AST_SPOOL, PREFIX, Outcome, make_wav, place_call, serving


def test_port_in_use_is_a_clear_config_error(dirs):
    async def main():
        async with serving(Outcome(lambda ch: ch.answer()), dirs) as first:
            second = AgiServer(lambda ch: ch.answer(), "127.0.0.1", first.bound_port, config=dirs.config())
            with pytest.raises(ConfigError, match=f"port {first.bound_port} is already in use"):
                await second.start()

    asyncio.run(main())


def test_close_lets_calls_finish_and_refuses_new_ones(dirs):
    started, release = asyncio.Event(), asyncio.Event()

    async def body(ch):
        await ch.play(["greeting"])
        started.set()
        await release.wait()
        await ch.play(["bye"])
        await ch.hangup()

    async def main():
        server = AgiServer(Outcome(body), "127.0.0.1", 0, config=dirs.config(), shutdown_timeout_s=30)
        await server.start()
        port = server.bound_port
        call = asyncio.create_task(place_call(server, dirs, []))
        await started.wait()
        closing = asyncio.create_task(server.close())
        await asyncio.sleep(0)  # let close() stop the listener before we knock
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        assert not closing.done()
        release.set()
        result = await call
        await closing
        return result

    result = asyncio.run(main())
    assert result.prompts == ("greeting", "bye") and result.clean


def test_close_cancels_calls_that_outlive_the_grace_period(dirs):
    started = asyncio.Event()
    cancelled = []

    async def body(ch):
        await ch.answer()
        started.set()
        try:
            await asyncio.Event().wait()  # a call that never ends by itself
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main():
        server = AgiServer(body, "127.0.0.1", 0, config=dirs.config(), shutdown_timeout_s=0.05)
        await server.start()
        call = asyncio.create_task(place_call(server, dirs, []))
        await started.wait()
        await server.close()
        return await call

    result = asyncio.run(main())
    assert cancelled == [True]
    assert result.ended_by == "service-closed"


def test_serve_forever_returns_after_close(dirs):
    async def main():
        server = AgiServer(lambda ch: ch.answer(), "127.0.0.1", 0, config=dirs.config())
        task = asyncio.create_task(server.serve_forever())
        while not server.sockets:
            await asyncio.sleep(0)
        result = await place_call(server, dirs, [])
        await server.close()
        await task
        return result

    assert asyncio.run(main()).commands() == ["ANSWER"]


# --- scenarios and the CLI -----------------------------------------------------------------

def test_load_scenario_json_and_toml(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(
        [{"keys": "3172"}, {"say": "nik.wav"}, {"silence": True}, {"hangup": True},
         {"keys": "1", "barge_in": True}]))
    (tmp_path / "b.toml").write_text('turns = [{keys = "1"}, {say = "/abs/x.wav"}]\n')
    assert load_scenario(tmp_path / "a.json") == [Keys("3172"), Say(tmp_path / "nik.wav"), Silence(), HangUp(),
                                                  Keys("1", barge_in=True)]
    assert load_scenario(tmp_path / "b.toml")[1] == Say(tmp_path.__class__("/abs/x.wav"))
    (tmp_path / "bad.json").write_text(json.dumps([{"keys": "12x"}]))
    with pytest.raises(ValueError, match="turn 1"):
        load_scenario(tmp_path / "bad.json")


def _parse(argv):
    parser = argparse.ArgumentParser(prog="ivr")
    cli.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_keeps_turn_order():
    args = _parse(["call", "--keys", "3172010101800001", "--silence", "--barge", "1", "--say", "x.wav",
                   "--hangup"])
    assert [type(t).__name__ for t in args.turns] == ["Keys", "Silence", "Keys", "Say", "HangUp"]
    assert args.turns[0] == Keys("3172010101800001", barge_in=False)
    assert args.turns[2] == Keys("1", barge_in=True)
    with pytest.raises(SystemExit):
        _parse(["call", "--keys", "12a"])


def test_cli_call_against_a_running_server(dirs, tmp_path, monkeypatch, capsys):
    prompts_dir = tmp_path / "prompts"
    (prompts_dir / "audio").parent.mkdir(parents=True, exist_ok=True)
    dirs.audio.rename(prompts_dir / "audio")
    (prompts_dir / "prompts.toml").write_text('[prompts]\ngreeting = "Selamat datang di hotline BST."\n')
    for name, value in {"IVR_PROMPTS_DIR": str(prompts_dir), "IVR_ASTERISK_SOUNDS": PREFIX,
                        "IVR_SPOOL_DIR": str(dirs.spool), "IVR_ASTERISK_SPOOL": AST_SPOOL,
                        "IVR_DATA_DIR": str(tmp_path / "var")}.items():
        monkeypatch.setenv(name, value)
    from ivr.config import get_settings
    get_settings.cache_clear()
    speech = make_wav(tmp_path / "say.wav", 0.2)

    async def body(ch):
        await ch.answer()
        await ch.play(["greeting", "ask_nik"], "0123456789")
        await ch.collect_keys(16, 1000)
        await ch.record("nik-1", 5000, 2, "#")
        await ch.hangup()

    ready = threading.Event()
    holder: dict = {}

    def serve():
        async def main():
            server = AgiServer(body, "127.0.0.1", 0, config=dirs.config())
            await server.start()
            holder["server"], holder["loop"] = server, asyncio.get_running_loop()
            ready.set()
            await server.serve_forever()
        asyncio.run(main())

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert ready.wait(10)
        out_wav = tmp_path / "call.wav"
        args = _parse(["call", "--port", str(holder["server"].bound_port), "--keys", "3172010101800001",
                       "--say", str(speech), "--save", str(out_wav)])
        code = args.func(args)
    finally:
        loop = holder.get("loop")
        if loop:
            asyncio.run_coroutine_threadsafe(holder["server"].close(), loop).result(10)
        thread.join(10)
        get_settings.cache_clear()
    out = capsys.readouterr().out
    assert code == 0, out
    assert "IVR    [greeting] Selamat datang di hotline BST." in out
    assert "IVR    [ask_nik]" in out  # the caller waits for the question before pressing
    assert "CALLER presses 3172010101800001" in out
    assert "CALLER says (say.wav)" in out
    assert "ended by service" in out
    assert out_wav.exists() and (dirs.spool / "nik-1.wav").exists()

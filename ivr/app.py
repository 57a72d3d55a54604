"""Assembles the running hotline from settings: store, recogniser, call flow, FastAGI
server and (when present) the operators' web app; and the ``ivr serve`` command."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.call import CallRunner, RunnerConfig
from ivr.config import Settings, get_settings
from ivr.dialogue.flow import Dialogue, FlowConfig
from ivr.errors import ConfigError, RecognizerError, StoreError

log = logging.getLogger(__name__)

JOURNAL_REPLAY_S = 30.0
JOURNAL_FIRST_S = 10.0      # after a failed call-log write, journal without trying the database
PRERENDER_S = 600.0
WEB_SHUTDOWN_S = 5.0        # how long stopping waits for the web app to finish its requests


@dataclass
class Hotline:
    """Everything one ``ivr serve`` process runs."""

    settings: Settings
    store: object            # the SqlStore (operators' queries live there too)
    call_log: object         # the store wrapped so that a dead database loses nothing
    runner: CallRunner
    speech: bool
    db_pool: ThreadPoolExecutor
    decode_pool: ThreadPoolExecutor
    write_pool: ThreadPoolExecutor
    audiosocket: object | None = None      # AudioSocketServer when speech streams over AudioSocket
    stream_config: object | None = None    # its StreamConfig
    prompt_audio: object | None = None     # prompt audio shared by every streaming call

    def transport(self, channel):
        """The call's channel with spoken answers over AudioSocket when configured: the
        transport is chosen here, once per call, never in the call runner."""
        if self.audiosocket is None or not self.speech:
            return channel
        from ivr.telephony.streaming import AudioSocketChannel

        return AudioSocketChannel(channel, self.audiosocket, self.runner.recognizer, self.stream_config,
                                  prompts=self.prompt_audio, decode_pool=self.decode_pool)

    def with_transport(self, handler):
        """A FastAGI handler (the route table) that gets each call on its transport."""
        async def run(channel) -> None:
            await handler(self.transport(channel))
        return run

    async def handler(self, channel) -> None:
        """The inbound line alone, on its transport."""
        await self.runner(self.transport(channel))

    def close(self) -> None:
        self.write_pool.shutdown(wait=True)     # what calls logged is written before we go
        self.db_pool.shutdown(wait=False, cancel_futures=True)
        self.decode_pool.shutdown(wait=False, cancel_futures=True)
        self.store.engine.dispose()


def _clock(settings: Settings):
    try:
        zone = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"IVR_TIMEZONE: unknown time zone {settings.timezone!r}") from None
    return lambda: dt.datetime.now(zone)


def check_paths(settings: Settings) -> None:
    if not settings.prompts_dir.is_dir():
        raise ConfigError(f"IVR_PROMPTS_DIR: prompt directory {settings.prompts_dir} does not exist")
    if not (settings.prompts_dir / "prompts.toml").is_file():
        raise ConfigError(f"IVR_PROMPTS_DIR: {settings.prompts_dir} has no prompts.toml")
    try:
        secure_data_dir(settings)
    except OSError as exc:
        raise ConfigError(f"IVR_DATA_DIR: cannot create {settings.data_dir}: {exc.strerror}") from None


def secure_data_dir(settings: Settings) -> int:
    """Create the data folder and the spool owner-only (0700) and bring what is already
    in them (database, recordings, training audio, journal, uploads, secret key) to
    0600/0700 -- a spool shared with Asterisk through a group keeps the group and loses
    only others' access; returns how many modes changed."""
    from ivr.store.files import private_dir, tighten

    private_dir(settings.data_dir)
    if not settings.spool.exists():
        private_dir(settings.spool)
    # the spool by its own rule: a deployment may share it with Asterisk through a group
    changed = tighten(settings.data_dir, skip=settings.spool) + tighten(settings.spool)
    if changed:
        log.info("restricted the permissions of %d file(s) and folder(s) holding personal data", changed)
    return changed


def ensure_prompts(settings: Settings) -> None:
    """Render prompts whose audio is missing (needs espeak-ng; the repo ships rendered audio)."""
    from ivr.dialogue.prompts import REQUIRED_PROMPTS
    from ivr.prompts import check as prompt_check
    from ivr.prompts.catalog import load_catalog

    catalog_path = settings.prompts_dir / "prompts.toml"
    problems = prompt_check.check(load_catalog(catalog_path), settings.audio_dir, REQUIRED_PROMPTS)
    if not problems:
        return
    log.info("%d prompt(s) need rendering; rendering now", len(problems))
    from ivr.prompts.render import build

    build(catalog_path, settings.audio_dir, progress=False)
    problems = prompt_check.check(load_catalog(catalog_path), settings.audio_dir, REQUIRED_PROMPTS)
    if problems:
        raise ConfigError("prompts are incomplete: " + "; ".join(problems[:5]))


def load_recognizer(settings: Settings):
    """The Vosk recogniser, or None (keypad only) when speech is off or the model is unusable."""
    if not settings.speech_enabled:
        log.info("speech input disabled by IVR_SPEECH_ENABLED; keypad only")
        return None
    try:
        from ivr.speech.recognizer import load_recognizer as load
    except ImportError as exc:
        log.error("speech recogniser unavailable (%s); keypad only", exc)
        return None
    try:
        return load(settings.vosk_model, settings.grammars_dir)
    except RecognizerError as exc:
        if settings.vosk_model is not None:
            raise ConfigError(f"IVR_VOSK_MODEL: {exc}") from None
        log.error("bundled speech model unusable (%s); keypad only", exc)
        return None


_FROM_SETTINGS = object()


def build_hotline(settings: Settings, *, clock=None, recognizer=_FROM_SETTINGS, store_wrapper=None,
                  db_wrapper=None) -> Hotline:
    """Assemble a hotline.  Tests may pass their own recogniser, or wrap the database
    store (``db_wrapper``, under the journal) or the call log (``store_wrapper``) to
    inject faults."""
    from ivr.store.journal import JournalingStore
    from ivr.store.sql import SqlStore

    check_paths(settings)
    try:
        store = SqlStore.from_settings(settings)
    except (StoreError, ConfigError) as exc:
        message = str(exc)
        raise ConfigError(message if "IVR_DATABASE_URL" in message else f"IVR_DATABASE_URL: {message}") from None
    if settings.demo_data and store.recipient_count() == 0:
        from ivr.store.recipients import load_demo

        report = load_demo(store)
        log.info("loaded %d DEMO recipients into the empty store (IVR_DEMO_DATA=false to skip)", report.inserted)
    call_log = JournalingStore(db_wrapper(store) if db_wrapper else store,
                               settings.data_dir / "call-journal.jsonl", protector=store.protector,
                               retry_after_s=JOURNAL_FIRST_S)
    if store_wrapper is not None:
        call_log = store_wrapper(call_log)
    if recognizer is _FROM_SETTINGS:
        recognizer = load_recognizer(settings)
    cores = os.cpu_count() or 2
    decode_pool = ThreadPoolExecutor(max_workers=settings.decode_workers or cores, thread_name_prefix="decode")
    db_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db")
    write_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="call-log")
    flow = FlowConfig(
        max_tries=settings.max_tries, speech=recognizer is not None,
        operator_app=settings.operator_app, operator_target=settings.operator_target,
        operator_wait_s=settings.operator_wait_s,
        office_open=settings.office_open, office_close=settings.office_close, office_days=settings.open_days,
        min_confidence=settings.min_confidence, yes_margin=settings.yes_margin,
        no_margin=settings.no_margin, home_province=settings.home_province)
    runner_cfg = RunnerConfig(
        record_max_ms=settings.record_max_s * 1000, record_silence_s=settings.record_silence_s,
        listen_start_ms=settings.listen_start_s * 1000,
        complaint_max_ms=settings.complaint_max_s * 1000, keys_timeout_ms=settings.keys_timeout_ms,
        keep_training_audio=settings.keep_training_audio, training_dir=settings.data_dir.resolve() / "training",
        db_timeout_s=settings.db_timeout_s,
        speech_end_ms=int(settings.speech_end_s * 1000), speech_end_digits_ms=int(settings.speech_end_digits_s * 1000),
        complete_confidence=settings.min_confidence)
    audio_dir = settings.audio_dir

    def speak_text(text: str) -> str:
        from ivr.prompts.render import ensure_spoken

        return ensure_spoken(text, audio_dir)

    runner = CallRunner(Dialogue(flow), call_log, recognizer, config=runner_cfg, speak_text=speak_text,
                        db_pool=db_pool, decode_pool=decode_pool, write_pool=write_pool,
                        clock=clock or _clock(settings))
    hotline = Hotline(settings, store, call_log, runner, recognizer is not None, db_pool, decode_pool, write_pool)
    if settings.speech_transport == "audiosocket" and recognizer is not None:
        from ivr.telephony.audiosocket import AudioSocketServer
        from ivr.telephony.streaming import PromptAudio, StreamConfig

        hotline.audiosocket = AudioSocketServer(settings.audiosocket_bind, settings.audiosocket_port)
        hotline.stream_config = StreamConfig(address=settings.audiosocket_host, audio_dir=settings.audio_dir,
                                             spool_dir=settings.spool)
        hotline.prompt_audio = PromptAudio(settings.audio_dir)
    return hotline


def agi_routes(hotline: Hotline):
    """The FastAGI route table: the inbound line and the two kinds of outbound call."""
    from ivr.dialogue.outbound import OutboundDialogue
    from ivr.outbound.route import OutboundRoute
    from ivr.telephony.routes import AgiRoutes

    outbound = hotline.runner.with_dialogue(OutboundDialogue(hotline.runner.dialogue.cfg))
    return AgiRoutes({
        "hotline": hotline.runner,
        "reminder": OutboundRoute(outbound, hotline.store, "reminder", pool=hotline.db_pool),
        "callback": OutboundRoute(outbound, hotline.store, "callback", pool=hotline.db_pool),
    })


def start_dialer(settings: Settings, hotline: Hotline, clock=None):
    """The AMI connection (one per process) and the dialer on it, or None when AMI is
    not configured.  Returns (ami client, dialer)."""
    if not (settings.outbound_enabled and settings.ami_user and settings.ami_secret):
        return None
    import socket

    from ivr.outbound.dialer import Dialer, DialerConfig
    from ivr.outbound.rules import Window
    from ivr.telephony.ami import AmiClient

    ami = AmiClient.from_settings(settings)
    config = DialerConfig(
        channel=settings.outbound_channel, caller_id=settings.outbound_caller_id,
        max_lines=settings.outbound_max_lines, timezone=settings.timezone,
        office=Window(settings.office_open, settings.office_close, weekdays=settings.open_days),
        callback_tries=settings.callback_tries, callback_retry_minutes=settings.callback_retry_minutes)
    instance = settings.instance_name or f"{socket.gethostname()}-{os.getpid()}"
    dialer = Dialer(hotline.store, ami, config, instance=instance, clock=clock or _clock(settings),
                    pool=hotline.db_pool)
    return ami, dialer


def spoken_texts(store) -> set[str]:
    """Every place, address and document list a caller can hear, as the flow speaks them."""
    from sqlalchemy import select

    from ivr.dialogue.flow import answer_items
    from ivr.dialogue.vocab import Spoken
    from ivr.ports import RecipientInfo
    from ivr.store.models import Recipient

    with store.engine.connect() as conn:
        rows = conn.execute(select(Recipient.place, Recipient.address, Recipient.documents)
                            .where(Recipient.status == "scheduled").distinct()).all()
    texts: set[str] = set()
    for place, address, documents in rows:
        info = RecipientInfo(status="scheduled", collection_date=dt.date(2000, 1, 1), place=place or "",
                             address=address or "", documents=tuple(d for d in (documents or "").split(";") if d))
        texts.update(item.text for item in answer_items(info) if isinstance(item, Spoken))
    return texts


def prerender_spoken(hotline: Hotline) -> int:
    """Render the place and address prompts ahead of the first caller who needs them."""
    from ivr.prompts.render import RenderError, dyn_id, ensure_spoken, wav_path

    audio_dir = hotline.settings.audio_dir
    rendered = 0
    for text in sorted(spoken_texts(hotline.store)):
        if wav_path(audio_dir, dyn_id(text)).exists():
            continue
        try:
            ensure_spoken(text, audio_dir)
            rendered += 1
        except RenderError as exc:
            log.warning("could not pre-render a place/address prompt: %s", exc)
            break   # espeak-ng is missing or broken: calls still render (or skip) on demand
    return rendered


async def _every(seconds: float, pool, job, done_message: str) -> None:
    """Run a blocking housekeeping job in ``pool`` now and every ``seconds``; a
    database that is down just means trying again next time."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            count = await loop.run_in_executor(pool, job)
            if count:
                log.info(done_message, count)
        except StoreError:
            pass
        await asyncio.sleep(seconds)


async def serve(settings: Settings) -> None:
    from ivr.telephony.channel import ChannelConfig
    from ivr.telephony.server import AgiServer

    check_paths(settings)
    ensure_prompts(settings)
    hotline = build_hotline(settings)
    server = AgiServer(hotline.with_transport(agi_routes(hotline)), settings.agi_host, settings.agi_port,
                       config=ChannelConfig.from_settings(settings),
                       header_timeout_s=settings.agi_header_timeout_s, max_calls=settings.agi_max_calls)
    if hotline.audiosocket is not None:
        await hotline.audiosocket.start()
    await server.start()
    outbound = start_dialer(settings, hotline)
    tasks = [
        asyncio.create_task(_every(JOURNAL_REPLAY_S, hotline.db_pool, hotline.call_log.replay,
                                   "replayed %d call-log entries kept while the database was down")),
        asyncio.create_task(_every(PRERENDER_S, hotline.decode_pool, functools.partial(prerender_spoken, hotline),
                                   "rendered %d place/address prompt(s) ahead of calls")),
    ]
    if outbound is not None:
        ami, dialer = outbound
        ami.start()
        tasks.append(asyncio.create_task(dialer.run(), name="dialer"))
    web = _web_server(settings, hotline)
    web_task = None
    if web is not None:
        web_task = asyncio.create_task(web.serve(), name="web")
        tasks.append(web_task)
    print(f"Hotline BST is answering FastAGI calls on port {server.bound_port} of {settings.agi_host}"
          f" ({'speech and keypad' if hotline.speech else 'keypad only'}"
          + (f", speech over AudioSocket on port {hotline.audiosocket.bound_port}" if hotline.audiosocket else "")
          + ");"
          f" store {_safe(settings.db_url)}"
          + (f"; web app on http://{settings.web_host}:{settings.web_port}/" if web else ""), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        if web is not None:
            web.should_exit = True
        await server.close()
        if hotline.audiosocket is not None:
            await hotline.audiosocket.close()
        if web_task is not None:
            # let uvicorn finish its requests and its lifespan shutdown; cancelling it
            # mid-way prints a CancelledError traceback into the service log
            await asyncio.wait([web_task], timeout=WEB_SHUTDOWN_S)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if outbound is not None:
            await outbound[0].close()
        hotline.close()


def _safe(url: str) -> str:
    from ivr.store.db import safe_url

    return safe_url(url)


def _web_server(settings: Settings, hotline: Hotline):
    if not settings.web_enabled:
        return None
    try:
        from ivr.web.app import create_app
    except ImportError:
        return None
    import socket

    import uvicorn

    with socket.socket() as probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((settings.web_host, settings.web_port))
        except OSError:
            raise ConfigError(f"IVR_WEB_PORT: port {settings.web_port} is already in use") from None
    app = create_app(settings, store=hotline.store)
    # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from any local peer
    # (its default forwarded_allow_ips); the app applies IVR_TRUSTED_PROXIES itself.
    config = uvicorn.Config(app, host=settings.web_host, port=settings.web_port, log_level="warning",
                            lifespan="on", proxy_headers=False, forwarded_allow_ips="")
    return uvicorn.Server(config)


def _cmd_serve(args) -> int:
    settings = get_settings()
    if args.port:
        settings = settings.model_copy(update={"agi_port": args.port})
    asyncio.run(serve(settings))
    return 0


def register(sub) -> None:
    p = sub.add_parser("serve", help="answer calls (FastAGI) and serve the operators' web app")
    p.add_argument("--port", type=int, default=0, help="FastAGI port (default IVR_AGI_PORT, 4573)")
    p.set_defaults(func=_cmd_serve)

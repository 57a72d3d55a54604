"""A reminder campaign of 1,000 recipients against the fake AMI peer, in simulated time.

    python benchmarks/campaign_bench.py [--recipients 1000] [--lines 30] [--scale 200] [--pg URL]

The dialer runs unchanged (real TCP to the fake AMI peer, a real SQLite or PostgreSQL
store) with an injected clock: simulated time runs ``--scale`` times faster than the
wall clock, and the fake peer rings, answers and hangs up on the same simulated clock.
Every AMI connection is dropped once, after half the recipients were dialled.

Assumed answer rates per attempt (mobile numbers of aid recipients, daytime):
answered 55 %, no answer 25 % (rings until the 30 s timeout), busy 12 %, phone off or
unreachable 5 % (Asterisk reason 0), congestion 3 %.  Of answered calls: 65 % press 1,
15 % listen without choosing, 2 % opt out, 18 % are machines or silent lines (tried
again).  A call that is answered lasts as long as the reminder really is: the
rendered prompts' durations, read from prompts/audio, plus the resident's reply.

Printed side by side: one instance with all the lines, and two instances sharing the
store (the campaign's limit holds over both), with the lower bound the line count
allows (all line-time / lines).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime as dt
import random
import sys
import tempfile
import time
import uuid
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ivr.dialogue.flow import answer_items  # noqa: E402
from ivr.dialogue.vocab import Spoken  # noqa: E402
from ivr.ports import RecipientInfo  # noqa: E402
from ivr.store.sql import SqlStore  # noqa: E402
from tests.conftest import make_settings  # noqa: E402
from tests.outbound.helpers import MONDAY_9, TOMORROW, ScaledClock, ami_client, dialer, load_campaign  # noqa: E402
from tests.telephony.fake_ami import Dial, FakeAmi  # noqa: E402

RING = {"answer": (6, 20), "busy": (3, 6), "unavailable": (2, 4), "congestion": (1, 3)}
DIAL_RATES = (("answer", 0.55), ("noanswer", 0.25), ("busy", 0.12), ("unavailable", 0.05), ("congestion", 0.03))
ANSWER_RATES = (("confirmed", 0.65), ("heard", 0.15), ("opted_out", 0.02), ("no_response", 0.18))
FINAL = {"confirmed", "heard", "opted_out", "operator"}


def wav_s(prompt_id: str) -> float:
    path = REPO / "prompts" / "audio" / f"{prompt_id}.wav"
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def message_s() -> tuple[float, float]:
    """How long the reminder takes to hear once (intro, schedule, menu) and the menu alone."""
    info = RecipientInfo(status="scheduled", collection_date=TOMORROW, time_start=dt.time(8),
                         time_end=dt.time(12), place="Kantor Kelurahan Tebet", address="Jl. Tebet Raya 1")
    total = wav_s("outbound/reminder_intro") + wav_s("outbound/reminder_menu")
    for item in answer_items(info):
        total += len(item.text) * 0.08 if isinstance(item, Spoken) else wav_s(item)
    return total, wav_s("outbound/reminder_menu_simple")


def pick(rng: random.Random, table) -> str:
    x = rng.random()
    for name, p in table:
        x -= p
        if x < 0:
            return name
    return table[-1][0]


def run(args, instances: int) -> dict:
    message, menu = message_s()
    tmp = Path(tempfile.mkdtemp(prefix="campaign-bench-"))
    url = args.pg or ""
    schema = None
    if url:
        from sqlalchemy import create_engine
        schema = "bench_" + uuid.uuid4().hex[:10]
        with create_engine(url).begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        url = f"{url}?options=-csearch_path%3D{schema}"
    settings = make_settings(tmp, **({"database_url": url} if url else {}))
    stores = [SqlStore.from_settings(settings) for _ in range(instances)]
    cid = load_campaign(stores[0], tmp, args.recipients, max_concurrent=args.lines, per_minute=args.per_minute,
                        max_attempts=3, retry_minutes=30)
    rng = random.Random(args.seed)
    calls: dict[str, list[tuple[float, float]]] = collections.defaultdict(list)   # number -> (start, end)
    reached_at: dict[str, float] = {}
    line_time = [0.0]
    results: dict[str, str] = {}

    def plan(channel, variables):
        number = channel.split("/", 1)[1].split("@", 1)[0]
        now = clock.elapsed_s()
        outcome = pick(rng, DIAL_RATES)
        ring = 30.0 if outcome == "noanswer" else rng.uniform(*RING[outcome])
        talk = 0.0
        if outcome == "answer":
            result = pick(rng, ANSWER_RATES)
            results[variables["HOTLINE_ATTEMPT"]] = result
            talk = message + {"confirmed": rng.uniform(2, 8), "heard": 2 * menu + 12,
                              "opted_out": rng.uniform(3, 10), "no_response": 2 * menu + 12}[result]
        calls[number].append((now, now + ring + talk))
        line_time[0] += ring + talk
        return Dial(outcome, ring_s=ring, talk_s=talk)

    async def on_answer(placed, uniqueid):
        number = placed.channel.split("/", 1)[1].split("@", 1)[0]
        result = results[placed.var("HOTLINE_ATTEMPT")]
        if result in FINAL:
            reached_at.setdefault(number, clock.elapsed_s())
        await asyncio.to_thread(stores[0].record_result, int(placed.var("HOTLINE_ATTEMPT")), result,
                                at=clock())

    async def main():
        nonlocal clock
        clock = ScaledClock(MONDAY_9, args.scale)
        fake = FakeAmi(plan=plan, time_scale=args.scale, on_answer=on_answer)
        port = await fake.start()
        clients = [ami_client(port, reconnect_min_s=0.05, reconnect_max_s=1.0) for _ in stores]
        per_instance = max(1, args.lines // instances)
        dialers = [dialer(s, a, clock, instance=f"bench-{k}", max_lines=per_instance, sleep=clock.sleep,
                          tick_s=5.0) for k, (s, a) in enumerate(zip(stores, clients))]
        for a in clients:
            a.start()
        runs = [asyncio.create_task(d.run()) for d in dialers]
        wall = time.perf_counter()
        first_pass = None
        dropped_at = None
        try:
            while True:
                await asyncio.sleep(0.05)
                if dropped_at is None and len(fake.placed) >= args.recipients // 2:
                    fake.drop_all()
                    dropped_at = clock.elapsed_s()
                p = stores[0].campaign_progress(cid)
                if first_pass is None and p.attempts >= p.total - p.skipped:
                    first_pass = clock.elapsed_s()
                if p.done:
                    break
                for r in runs:
                    if r.done():
                        r.result()
        finally:
            for r in runs:
                r.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            for d in dialers:
                await asyncio.gather(*list(d._tasks), return_exceptions=True)
            for a in clients:
                await a.close()
            await fake.close()
        return fake, dialers, clock.elapsed_s(), first_pass, dropped_at, time.perf_counter() - wall

    clock = None
    fake, dialers, sim_s, first_pass, dropped_at, wall_s = asyncio.run(main())
    progress = stores[0].campaign_progress(cid)
    twice = collections.Counter()
    attempt_ids = [p.var("HOTLINE_ATTEMPT") for p in fake.placed]
    twice["same attempt dialled twice"] += len(attempt_ids) - len(set(attempt_ids))
    for number, spans in calls.items():
        spans.sort()
        twice["dialled while already in a call"] += sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1])
        if number in reached_at:
            twice["dialled again after being reached"] += sum(1 for start, _ in spans if start > reached_at[number])
    outcomes = collections.Counter()
    for d in dialers:
        outcomes.update(d.stats.outcomes)
    for s in stores:
        s.engine.dispose()
    if schema:
        from sqlalchemy import create_engine
        with create_engine(args.pg).begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    return dict(sim_s=sim_s, first_pass=first_pass, dropped_at=dropped_at, wall_s=wall_s, progress=progress,
                originates=len(fake.placed), twice=sum(twice.values()), twice_detail=dict(twice),
                max_lines=fake.max_in_progress, connections=fake.connections, outcomes=outcomes,
                lower_bound=line_time[0] / args.lines, message=message)


def hm(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m = int(round(seconds / 60))
    return f"{m // 60}:{m % 60:02d}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipients", type=int, default=1000)
    ap.add_argument("--lines", type=int, default=30, help="calls at once (the campaign's limit)")
    ap.add_argument("--per-minute", type=int, default=60, help="calls started per minute (trunk limit)")
    ap.add_argument("--scale", type=float, default=200.0, help="simulated seconds per wall-clock second")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pg", default="", help="a PostgreSQL URL (default: a SQLite file)")
    args = ap.parse_args()
    rows = [("1 instance", run(args, 1)), ("2 instances", run(args, 2))]
    r0 = rows[0][1]
    print(f"Campaign: {args.recipients} recipients, {args.lines} calls at once, {args.per_minute}/min, "
          f"3 tries 30 min apart; reminder message {r0['message']:.0f} s; store "
          f"{'PostgreSQL' if args.pg else 'SQLite'}; simulated time x{args.scale:.0f}")
    print(f"{'':34}" + "".join(f"{name:>16}" for name, _ in rows))

    def line(label, fn):
        print(f"{label:34}" + "".join(f"{fn(r):>16}" for _, r in rows))

    line("time to finish (sim h:mm)", lambda r: hm(r["sim_s"]))
    line("everyone tried once (sim h:mm)", lambda r: hm(r["first_pass"]))
    line("all calls' line-time / lines", lambda r: hm(r["lower_bound"]))
    line("AMI dropped at (sim h:mm)", lambda r: hm(r["dropped_at"]))
    line("AMI connections (reconnects+1)", lambda r: str(r["connections"]))
    line("Originates sent", lambda r: str(r["originates"]))
    line("calls placed twice", lambda r: str(r["twice"]))
    line("most calls up at once", lambda r: str(r["max_lines"]))
    line("reached", lambda r: str(r["progress"].reached))
    line("  confirmed (pressed 1)", lambda r: str(r["progress"].confirmed))
    line("  opted out", lambda r: str(r["progress"].opted_out))
    line("not reached after 3 tries", lambda r: str(r["progress"].not_reached))
    line("outcome unknown at the drop (lost)", lambda r: str(r["outcomes"].get("lost", 0)))
    line("wall-clock seconds", lambda r: f"{r['wall_s']:.1f}")
    for name, r in rows:
        if r["twice"]:
            print(f"{name}: placed twice: {r['twice_detail']}")
    return 0 if all(r["twice"] == 0 for _, r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())

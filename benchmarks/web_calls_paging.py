"""How fast the operators' call list and overview are with 1,000,000 calls (SQLite, or
PostgreSQL with --url).

    python benchmarks/web_calls_paging.py [--calls 1000000] [--db /tmp/calls-1m.db] [--url postgresql://...]

Fills the database once (calls over 180 days, ~5% with a follow-up, ~30% with a
recording, events for the last 14 days), then prints the median time of one page of 50
for each filter, on page 1 and deep in the list (keyset cursor), the query plan of each,
and the overview's time.  Rows are written straight through the store's tables (the
call-log methods would take hours for a million calls).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
import uuid
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from ivr.store.db import create_schema, make_engine
from ivr.store.models import Call, CallEvent, FollowUp, Recording
from ivr.web import queries

OUTCOMES = ["answered"] * 70 + ["not_found"] * 12 + ["abandoned"] * 10 + ["operator"] * 4 + ["fault"] * 1 + ["failed"] * 3
MODES = ["keypad"] * 40 + ["speech"] * 35 + ["mixed"] * 20 + ["none"] * 5
END = dt.datetime(2026, 11, 28, 12, tzinfo=dt.timezone.utc)


def fill(engine, n: int) -> None:
    with engine.connect() as conn:
        have = conn.execute(select(func.count()).select_from(Call)).scalar_one()
    if have >= n:
        print(f"database already holds {have:,} calls")
        return
    rng = random.Random(7)
    t0 = time.perf_counter()
    span = 180 * 86400
    batch = 20000
    recent = END - dt.timedelta(days=14)
    with engine.begin() as conn:
        for start in range(have, n, batch):
            calls, fus, recs, events = [], [], [], []
            for _ in range(min(batch, n - start)):
                cid = str(uuid.UUID(int=rng.getrandbits(128)))
                started = END - dt.timedelta(seconds=rng.random() * span)
                outcome, mode = rng.choice(OUTCOMES), rng.choice(MODES)
                calls.append(dict(id=cid, uniqueid="", started=started, ended=started + dt.timedelta(seconds=60),
                                  caller_masked="0812*****890", channel="", outcome=outcome, end_state="menu",
                                  input_mode=mode, lookup_status="scheduled", duration_s=60.0))
                if rng.random() < 0.05:
                    fus.append(dict(call_id=cid, reason=rng.choice(["not_found", "complaint", "callback"]),
                                    state=rng.choice(["open", "assigned", "done", "done"]), detail="",
                                    created=started, updated=started))
                if rng.random() < 0.3:
                    recs.append(dict(id=str(uuid.UUID(int=rng.getrandbits(128))), call_id=cid, path="/spool/x.wav",
                                     purpose="speech:digits", duration_ms=1000, created=started))
                if started >= recent:
                    for seq, (kind, secs) in enumerate([("prompt", 0), ("speech", 9), ("no_input", 15),
                                                        ("lookup", 20 + rng.random() * 20)], start=1):
                        events.append(dict(call_id=cid, seq=seq, at=started + dt.timedelta(seconds=secs), kind=kind,
                                           state="", prompts=[], keys="", transcript="x" if kind == "speech" else "",
                                           detail={}))
            conn.execute(insert(Call), calls)
            if fus:
                conn.execute(insert(FollowUp), fus)
            if recs:
                conn.execute(insert(Recording), recs)
            if events:
                conn.execute(insert(CallEvent), events)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")     # planner statistics, as a live database has them
    print(f"filled {n - have:,} calls in {time.perf_counter() - t0:.0f} s")


def timed(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--db", default="/tmp/calls-1m.db")
    ap.add_argument("--url", default="")
    args = ap.parse_args()
    engine = make_engine(args.url or f"sqlite:///{args.db}")
    create_schema(engine)
    fill(engine, args.calls)
    tz = ZoneInfo("Asia/Jakarta")
    week = END - dt.timedelta(days=7)
    filters = {
        "all": queries.CallFilter(),
        "outcome=not_found": queries.CallFilter(outcome="not_found"),
        "mode=speech": queries.CallFilter(input_mode="speech"),
        "last 7 days": queries.CallFilter(since=week, until=END),
        "follow_up=open": queries.CallFilter(follow_up="open"),
        "follow_up=none": queries.CallFilter(follow_up="none"),
        "has recording": queries.CallFilter(has_recording=True),
        "7 days+speech+recording": queries.CallFilter(since=week, until=END, input_mode="speech", has_recording=True),
    }
    print(f"{'filter':28} {'page 1 ms':>10} {'page 200 ms':>12}")
    for name, f in filters.items():
        first = timed(lambda: queries.list_calls(engine, f, limit=50))
        # walk 200 pages once to get a deep cursor, then time a page there
        cursor = None
        for _ in range(200):
            page = queries.list_calls(engine, f, cursor=cursor, limit=50)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        deep = timed(lambda: queries.list_calls(engine, f, cursor=cursor, limit=50))
        print(f"{name:28} {first:10.1f} {deep:12.1f}")
        print("    plan: " + queries.explain_calls(engine, f, cursor=cursor).replace("\n", "\n          "))
    last = END.astimezone(tz).date()
    ms = timed(lambda: queries.overview(engine, last - dt.timedelta(days=13), last, tz), repeat=3)
    print(f"overview, 14 days: {ms:.0f} ms")


if __name__ == "__main__":
    main()

"""Store benchmark: import a generated 1,000,000-row recipient list, then time lookups and
the operators' call-list queries over a large call log.

    python benchmarks/store_bench.py                      # SQLite, 1M recipients, 1M calls
    python benchmarks/store_bench.py --pg                 # also PostgreSQL (unique schema, dropped after)
    python benchmarks/store_bench.py --rows 100000 --calls 0

Prints figures only; nothing is asserted.  Generated files live in a temporary folder.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.store.db import create_schema, make_engine  # noqa: E402
from ivr.store.models import Call, FollowUp  # noqa: E402
from ivr.store.recipients import import_csv  # noqa: E402
from ivr.store.sql import SqlStore  # noqa: E402

SECRET = b"benchmark-secret-0123456789"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STATUSES = ["scheduled"] * 6 + ["not_scheduled", "collected", "in_review", "rejected"]


def make_nik(i: int, rng: random.Random) -> str:
    # unique by construction: (district, day, serial) encode i; month/year random
    serial = i % 9999 + 1
    rest = i // 9999
    district = 1 + rest % 40
    day = 1 + (rest // 40) % 28 + (40 if rng.random() < 0.5 else 0)
    city = rng.choice(["3171", "3172", "3173", "3174", "3175"])
    return f"{city}{district:02d}{day:02d}{rng.randint(1, 12):02d}{rng.randint(40, 99):02d}{serial:04d}"


def generate(path: Path, rows: int, sample: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    picked: list[str] = []
    start = dt.date(2026, 12, 1)
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["nik", "name", "status", "collection_date", "collection_time", "place", "address",
                    "phone", "phase", "documents"])
        for i in range(rows):
            nik = make_nik(i, rng)
            status = rng.choice(STATUSES)
            sched = status == "scheduled"
            day = (start + dt.timedelta(days=rng.randint(0, 30))).isoformat() if sched else ""
            hour = rng.choice([8, 9, 10, 13])
            w.writerow([nik, f"Penerima {i}", status, day, f"{hour:02d}:00-{hour + 2:02d}:00" if sched else "",
                        f"Kantor Kelurahan {i % 267}" if sched else "", f"Jl. Contoh No. {i % 500}, Jakarta",
                        f"08{rng.randint(10**9, 10**10 - 1)}" if rng.random() < 0.6 else "", "tahap 3", ""])
            if len(picked) < sample:
                picked.append(nik)
            elif rng.random() < sample / (i + 1):
                picked[rng.randrange(sample)] = nik     # reservoir sample of NIKs to look up
    return picked


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def bench_lookups(store: SqlStore, niks: list[str]) -> None:
    rng = random.Random(3)
    misses = [f"3172{rng.randint(10, 40):02d}0101{rng.randint(50, 99)}{rng.randint(1, 9999):04d}"
              for _ in range(len(niks) // 10)]
    queries = niks + misses
    rng.shuffle(queries)
    for q in queries[:50]:
        store.lookup(q)                                   # warm the pool and caches
    times, found = [], 0
    cpu = time.process_time()
    for q in queries:
        t = time.perf_counter()
        found += store.lookup(q) is not None
        times.append((time.perf_counter() - t) * 1000)
    cpu = (time.process_time() - cpu) / len(queries) * 1000
    print(f"  lookups: {len(queries)} ({found} found)  median {statistics.median(times):.3f} ms  "
          f"p95 {pct(times, 95):.3f} ms  p99 {pct(times, 99):.3f} ms  max {max(times):.3f} ms  "
          f"(this process: {cpu:.3f} CPU ms per lookup)")


def fill_calls(store: SqlStore, n: int) -> None:
    rng = random.Random(5)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    outcomes = ["answered"] * 6 + ["not_found", "hung_up", "fault", "operator"]
    modes = ["speech", "keypad", "mixed", "none"]
    t = time.perf_counter()
    with store.engine.begin() as conn:
        batch, follow = [], []
        for i in range(n):
            started = t0 + dt.timedelta(seconds=i * 30 + rng.randint(0, 20))
            cid = str(uuid.UUID(int=rng.getrandbits(128)))
            batch.append(dict(id=cid, uniqueid=f"{i}.1", started=started,
                              ended=started + dt.timedelta(seconds=60), caller_masked="0812*****000",
                              outcome=rng.choice(outcomes), end_state="answer", input_mode=rng.choice(modes),
                              duration_s=60.0, nik_masked="3172********0001"))
            if rng.random() < 0.05:
                follow.append(dict(call_id=cid, reason="not_found", state="open", detail="",
                                   created=started, updated=started))
            if len(batch) == 20000:
                conn.execute(Call.__table__.insert(), batch)
                batch = []
        if batch:
            conn.execute(Call.__table__.insert(), batch)
        for i in range(0, len(follow), 20000):
            conn.execute(FollowUp.__table__.insert(), follow[i:i + 20000])
    if store.engine.dialect.name == "postgresql":
        # what autovacuum does soon after a bulk load: planner statistics and the visibility map
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE calls")
            conn.exec_driver_sql("VACUUM ANALYZE follow_ups")
    print(f"  filled {n} calls in {time.perf_counter() - t:.1f} s")


def timed(fn, repeat: int = 20) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def bench_calls(store: SqlStore) -> None:
    last = store.list_calls(limit=50)[-1]
    day = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
    cases = {
        "newest 50": lambda: store.list_calls(limit=50),
        "next page (keyset)": lambda: store.list_calls(limit=50, before=(last.started, last.id)),
        "page 200 (offset 10000)": lambda: store.list_calls(limit=50, offset=10000),
        "outcome=not_found": lambda: store.list_calls(outcome="not_found", limit=50),
        "input_mode=keypad, one day": lambda: store.list_calls(input_mode="keypad", since=day,
                                                               until=day + dt.timedelta(days=1), limit=50),
        "with follow-up": lambda: store.list_calls(follow_up=True, limit=50),
        "count outcome=fault": lambda: store.count_calls(outcome="fault"),
        "count all": lambda: store.count_calls(),
    }
    for name, fn in cases.items():
        print(f"  list_calls {name:28} median {timed(fn):8.2f} ms")


def run(label: str, engine, csv_path: Path, sample: list[str], calls: int) -> None:
    create_schema(engine)
    store = SqlStore(engine, SECRET)
    rows = sum(1 for _ in open(csv_path, "rb")) - 1
    print(f"[{label}]")
    rss0 = rss_mb()
    t, cpu = time.perf_counter(), time.process_time()
    report = import_csv(store, csv_path, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    # CPU seconds of this process too: on a shared machine wall time mostly measures the neighbours
    print(f"  import: {report.rows} rows in {wall:.1f} s = {report.rows / wall:,.0f} rows/s "
          f"(this process: {cpu:.1f} CPU s; load average {os.getloadavg()[0]:.1f}); "
          f"peak RSS {rss_mb():.0f} MB (before import {rss0:.0f} MB)")
    t, cpu = time.perf_counter(), time.process_time()
    report = import_csv(store, csv_path, progress=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"  re-import (all {report.updated} updated): {wall:.1f} s = {rows / wall:,.0f} rows/s "
          f"({cpu:.1f} CPU s)")
    bench_lookups(store, sample)
    if calls:
        fill_calls(store, calls)
        bench_calls(store)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=1_000_000, help="call-log rows for the list queries (0: skip)")
    ap.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    ap.add_argument("--no-sqlite", action="store_true")
    ap.add_argument("--pg-url", default=PG_URL)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(message)s")
    logging.getLogger("ivr.store.recipients").setLevel(logging.INFO)   # staging vs merge times
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        csv_path = Path(tmp) / "recipients.csv"
        t = time.perf_counter()
        sample = generate(csv_path, args.rows, args.lookups)
        print(f"generated {args.rows} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        if not args.no_sqlite:
            engine = make_engine(f"sqlite:///{tmp}/bench.db")
            run("sqlite", engine, csv_path, sample, args.calls)
            print(f"  database file {os.path.getsize(f'{tmp}/bench.db') / 1e6:.0f} MB")
            engine.dispose()
        if args.pg:
            schema = "bench_" + uuid.uuid4().hex[:8]
            admin = make_engine(args.pg_url)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            try:
                engine = make_engine(args.pg_url, connect_args={"options": f"-csearch_path={schema}"})
                run("postgresql", engine, csv_path, sample, args.calls)
                engine.dispose()
            finally:
                with admin.begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()

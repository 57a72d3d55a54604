"""Bytes on the wire for the operators' main pages (gzip, as a browser gets them), with
a small demo store: what a slow line has to carry.

    python benchmarks/web_page_sizes.py
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import tempfile
import warnings
from pathlib import Path

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from ivr.config import Settings
from ivr.ports import CallEventRecord, CallInfo
from ivr.store.recipients import load_demo
from ivr.store.sql import SqlStore
from ivr.web.app import create_app


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    os.environ["IVR_ADMIN_PASSWORD"] = "benchmark-password"
    settings = Settings(data_dir=tmp, secret_key="benchmark-secret-0123456789", env="test")
    store = SqlStore.from_settings(settings)
    load_demo(store)
    now = dt.datetime.now(dt.timezone.utc)
    call_id = ""
    for i in range(60):
        started = now - dt.timedelta(minutes=7 * i)
        call_id = store.start_call(CallInfo(uniqueid=str(i), caller="081234567890"), started)
        for s, kind in enumerate(("prompt", "speech", "keys", "lookup")):
            store.add_event(call_id, CallEventRecord(at=started + dt.timedelta(seconds=5 * s), kind=kind,
                                                     prompts=("greeting", "nik/ask") if kind == "prompt" else (),
                                                     detail={"status": "scheduled"}))
        if i % 5 == 0:
            store.add_follow_up(call_id, "complaint", "")
        store.finish_call(call_id, started + dt.timedelta(seconds=40), "answered", "menu", "mixed")
    with TestClient(create_app(settings, store=store)) as c:
        c.post("/api/session", json={"name": "admin", "password": "benchmark-password"})
        print(f"{'page':24} {'html bytes':>10} {'gzip bytes':>10}")
        for path in ("/login", "/", "/calls", f"/calls/{call_id}", "/follow-ups", "/recipients", "/prompts",
                     "/static/style.css"):
            body = c.get(path).content
            print(f"{path[:24]:24} {len(body):10,} {len(gzip.compress(body)):10,}")


if __name__ == "__main__":
    main()

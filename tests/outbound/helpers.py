"""Building blocks for outbound tests and the campaign benchmark: recipients with phone
numbers, a clock the test moves, and a dialer wired to the fake AMI peer."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from ivr.outbound.dialer import Dialer, DialerConfig
from ivr.store.outbound import CampaignSpec
from ivr.store.recipients import import_csv
from ivr.telephony.ami import AmiClient

JAKARTA = ZoneInfo("Asia/Jakarta")
# Monday 30 November 2026, 09:00 in Jakarta; collection is the next day
MONDAY_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=JAKARTA)
TOMORROW = dt.date(2026, 12, 1)


def nik(n: int) -> str:
    return f"317101230490{n:04d}"


def phone(n: int) -> str:
    return f"0812{n:08d}"


def write_recipients(path: Path, count: int, *, day: dt.date = TOMORROW, phones=None) -> Path:
    """``count`` scheduled recipients on ``day``; ``phones`` maps an index to a number
    (None: no number)."""
    lines = ["nik,name,status,collection_date,collection_time,place,address,phone"]
    for i in range(1, count + 1):
        number = phone(i) if phones is None or i not in phones else (phones[i] or "")
        lines.append(f"{nik(i)},Warga {i},scheduled,{day.isoformat()},08:00-12:00,"
                     f"Kantor Kelurahan Tebet,Jl. Tebet Raya {i},{number}")
    path.write_text("\n".join(lines) + "\n")
    return path


def load_campaign(store, tmp: Path, count: int, *, phones=None, **spec) -> int:
    import_csv(store, write_recipients(tmp / f"recipients-{count}.csv", count, phones=phones), progress=False)
    values = dict(name="Pengingat besok", collection_date=TOMORROW)
    values.update(spec)
    cid, _ = store.create_campaign(CampaignSpec(**values), by="admin")
    store.set_campaign_state(cid, "running", by="admin")
    return cid


class ManualClock:
    """Wall-clock time that moves only when the test says so."""

    def __init__(self, start: dt.datetime = MONDAY_9):
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += dt.timedelta(**delta)


class ScaledClock:
    """Simulated time running ``scale`` times faster than the event loop's clock:
    ``now()`` for the dialer, ``sleep()`` in simulated seconds."""

    def __init__(self, start: dt.datetime, scale: float):
        self.start, self.scale = start, scale
        self.t0 = asyncio.get_running_loop().time()

    def __call__(self) -> dt.datetime:
        return self.start + dt.timedelta(seconds=(asyncio.get_running_loop().time() - self.t0) * self.scale)

    def elapsed_s(self) -> float:
        return (asyncio.get_running_loop().time() - self.t0) * self.scale

    async def sleep(self, simulated_s: float) -> None:
        await asyncio.sleep(simulated_s / self.scale)


def ami_client(port: int, **kw) -> AmiClient:
    opts = dict(reply_timeout_s=5.0, ping_interval_s=30.0, reconnect_min_s=0.01, reconnect_max_s=0.05)
    opts.update(kw)
    return AmiClient("127.0.0.1", port, "ivr", "s3cret-s3cret", **opts)


def dialer(store, ami, clock, *, instance: str = "test-1", sleep=asyncio.sleep, **config) -> Dialer:
    values = dict(tick_s=0.05, callbacks=False)
    values.update(config)
    return Dialer(store, ami, DialerConfig(**values), instance=instance, clock=clock, sleep=sleep)

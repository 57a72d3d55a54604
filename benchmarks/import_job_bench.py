"""A million-row recipient list through the web app as a background import job: how long
the upload request takes, the check and the apply jobs, and the server's memory.

    python benchmarks/import_job_bench.py                    # 1,000,000 rows, SQLite
    python benchmarks/import_job_bench.py --rows 100000 --pg # PostgreSQL (a schema of its own, dropped after)

The server is a separate process (uvicorn, ``create_app``) with ``IVR_MAX_UPLOAD_MB``
raised to take the file; the list is generated like ``store_bench.py``'s.  While the
jobs run, the call list page is fetched now and then to show the web app still answers.
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from store_bench import PG_URL, generate  # noqa: E402
from upload_bomb import PASSWORD, SERVER, status  # noqa: E402

HERE = Path(__file__).resolve().parent.parent


def follow(client: httpx.Client, job: str, label: str, pid: int) -> tuple[dict, float, float]:
    """Poll a job to its end; (final job, seconds, slowest page answer while it ran)."""
    t = time.perf_counter()
    slowest, last_print = 0.0, 0.0
    while True:
        body = client.get(f"/api/recipients/jobs/{job}").json()
        if body["state"] != "running":
            return body, time.perf_counter() - t, slowest
        p = time.perf_counter()
        client.get("/api/calls", params={"limit": 20})
        slowest = max(slowest, time.perf_counter() - p)
        if time.perf_counter() - last_print > 10:
            last_print = time.perf_counter()
            print(f"    {label}: {body['percent']:3d}%  {body['rows_read']:>9,} rows read  "
                  f"server RSS {status(pid).get('VmRSS', 0)} MB", flush=True)
        time.sleep(1)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="import-job-"))
    csv_path = tmp / "recipients.csv"
    t = time.perf_counter()
    generate(csv_path, args.rows, 10)
    size_mb = csv_path.stat().st_size / 1e6
    print(f"generated {args.rows:,} rows ({size_mb:.0f} MB) in {time.perf_counter() - t:.0f} s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(HERE), IVR_ADMIN_PASSWORD=PASSWORD,
               IVR_MAX_UPLOAD_MB=str(int(size_mb) + 10))
    schema = None
    if args.pg:
        from sqlalchemy import create_engine

        schema = "bench_" + uuid.uuid4().hex[:8]
        with create_engine(PG_URL).begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        env["IVR_DATABASE_URL"] = f"{PG_URL}?options=-csearch_path%3D{schema}"
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp / "data"), str(port), str(HERE / "prompts")],
                              cwd=HERE, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = httpx.Client(base_url=base, timeout=600)
        client.headers["X-CSRF-Token"] = client.post(
            "/api/session", json={"name": "admin", "password": PASSWORD}).json()["csrf_token"]
        print(f"[{'PostgreSQL' if args.pg else 'SQLite'}] server pid {server.pid}, RSS {status(server.pid)}")
        t = time.perf_counter()
        with open(csv_path, "rb") as f:
            r = client.post("/api/recipients/uploads", files={"file": ("recipients.csv", f, "text/csv")})
        upload_s = time.perf_counter() - t
        print(f"  upload request: {r.status_code} in {upload_s:.1f} s (sending {size_mb:.0f} MB; the check runs on)")
        check, check_s, slow1 = follow(client, r.json()["id"], "check", server.pid)
        preview = check["preview"]
        print(f"  check job: {check_s:.0f} s, {preview['rows']:,} rows, ok={preview['ok']}, "
              f"{preview['inserted']:,} new; slowest call-list answer meanwhile {slow1 * 1000:.0f} ms")
        t = time.perf_counter()
        r = client.post(f"/api/recipients/uploads/{preview['token']}/apply")
        print(f"  apply request: {r.status_code} in {time.perf_counter() - t:.2f} s")
        applied, apply_s, slow2 = follow(client, r.json()["id"], "apply", server.pid)
        print(f"  apply job: {apply_s:.0f} s, inserted {applied['applied']['inserted']:,}; "
              f"slowest call-list answer meanwhile {slow2 * 1000:.0f} ms")
        print(f"  total from upload to applied: {upload_s + check_s + apply_s:.0f} s "
              f"({args.rows / (upload_s + check_s + apply_s):,.0f} rows/s); server {status(server.pid)}")
    finally:
        server.terminate()
        server.wait(60)
        if schema:
            from sqlalchemy import create_engine

            with create_engine(PG_URL).begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())

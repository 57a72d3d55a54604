"""Hostile uploads against a running web app: the server's peak memory (VmHWM) and the
answer, for an XLSX zip bomb and for malformed CSV files.

    python benchmarks/upload_bomb.py                          # this checkout
    python benchmarks/upload_bomb.py --repo /tmp/before       # another checkout (e.g. `git archive` of an older commit)
    python benchmarks/upload_bomb.py --bomb-mib 1024 --noise-mib 400

The server is a separate process (uvicorn, the app from ``create_app``, SQLite in a
temporary folder); its peak resident memory is read from /proc before and after each
upload, and the XLSX reader child processes (when the server uses them) are sampled
every 20 ms.  Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))
from tests.hostile_files import inflating_xlsx  # noqa: E402  (the same workbooks the tests refuse)

HEADER = ["nik", "name", "status", "collection_date", "collection_time", "place", "address"]
PASSWORD = "bench-password-123"

SERVER = """
import sys, uvicorn
from pathlib import Path
from ivr.config import Settings
from ivr.web.app import create_app
data, port, prompts = sys.argv[1], int(sys.argv[2]), sys.argv[3]
settings = Settings(data_dir=Path(data), env="test", secret_key="bench-secret-0123456789abcdef",
                    prompts_dir=Path(prompts), web_enabled=True)
uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
"""


def status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):       # a child belongs to the thread that started it
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


class ChildPeak(threading.Thread):
    """Samples the resident memory of the server's child processes (the XLSX reader)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.seen, self.stop = pid, 0, 0, threading.Event()

    def run(self) -> None:
        known: set[int] = set()
        while not self.stop.is_set():
            for child in children(self.pid):
                known.add(child)
                self.peak = max(self.peak, status(child).get("VmHWM", 0))
            self.seen = len(known)
            time.sleep(0.02)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=HERE, help="the checkout whose server is attacked")
    ap.add_argument("--bomb-mib", type=int, default=1024, help="whitespace the bomb's sheet inflates to")
    ap.add_argument("--noise-mib", type=int, default=400,
                    help="a sheet that passes the ratio check (0: skip)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="upload-bomb-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(args.repo), IVR_ADMIN_PASSWORD=PASSWORD)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(tmp / "data"), str(port), str(args.repo / "prompts")],
                              cwd=args.repo, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = httpx.Client(base_url=base, timeout=600)
        csrf = client.post("/api/session", json={"name": "admin", "password": PASSWORD}).json()["csrf_token"]
        client.headers["X-CSRF-Token"] = csrf
        files = [("zip bomb", inflating_xlsx(tmp / "bomb.xlsx", args.bomb_mib, noise=False))]
        if args.noise_mib:
            files.append(("ratio-passing sheet", inflating_xlsx(tmp / "noise.xlsx", args.noise_mib, noise=True)))
        rows = "".join(f"31710123049{i:05d},Ani,in_review,,,,\n" for i in range(1, 300))
        for name, text in (("quoted field > 131,072", ",".join(HEADER) + "\n" + rows + '3171012304900401,"' + "a" * 140_000 + '",in_review,,,,\n'),
                           ("unclosed quote", ",".join(HEADER) + "\n" + '3171012304900401,"Ani,in_review,,,,\n' + rows),
                           ("NUL after 4 KB", ",".join(HEADER) + "\n" + rows + "3171012304900401,A\x00ni,in_review,,,,\n")):
            (tmp / f"{len(files)}.csv").write_text(text)
            files.append((name, tmp / f"{len(files)}.csv"))
        print(f"server {args.repo} (pid {server.pid})")
        print(f"{'upload':28} {'size':>9} {'status':>6} {'time s':>7} {'RSS before':>11} {'peak before':>11} "
              f"{'RSS after':>10} {'peak after':>10} {'reader peak':>11}  answer")
        for name, path in files:
            before = status(server.pid)
            watcher = ChildPeak(server.pid)
            watcher.start()
            t = time.perf_counter()
            r = client.post("/api/recipients/uploads", files={"file": (path.name, path.read_bytes())})
            if r.status_code == 202:            # checked in the background: follow the job
                job = r.json()["id"]
                while (r := client.get(f"/api/recipients/jobs/{job}")).json()["state"] == "running":
                    time.sleep(0.1)
                body = r.json()
                r = httpx.Response(200, json=body["preview"] or {"problems": [{"reason": body["error"]}]})
            took = time.perf_counter() - t
            watcher.stop.set()
            watcher.join()
            after = status(server.pid)
            try:
                body = r.json()
                answer = (body.get("problems") or [{}])[0].get("reason", "") if isinstance(body, dict) else str(body)
                answer = answer or str(body)[:80]
            except ValueError:
                answer = r.text[:80]
            reader = f"{watcher.peak} MB" if watcher.seen else "none"
            print(f"{name:28} {path.stat().st_size / 1e6:7.2f}MB {r.status_code:>6} {took:7.2f} "
                  f"{before.get('VmRSS', 0):>8} MB {before.get('VmHWM', 0):>8} MB "
                  f"{after.get('VmRSS', 0):>7} MB {after.get('VmHWM', 0):>7} MB "
                  f"{reader:>11}  {answer[:90]}")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

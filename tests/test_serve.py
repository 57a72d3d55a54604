"""`ivr serve` as an administrator starts it: embedded defaults work, and a bad setting
stops it with a clear message and a non-zero exit status."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def ivr(args, tmp_path, env=None, timeout=60, **kw):
    full = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    full["PYTHONPATH"] = str(REPO)          # this checkout's ivr, whatever else is installed
    full.update({"IVR_DATA_DIR": str(tmp_path / "data"), "IVR_WEB_ENABLED": "false",
                 "IVR_SPEECH_ENABLED": "false"})
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "ivr", *args], cwd=tmp_path, env=full, capture_output=True,
                          text=True, timeout=timeout, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_port_in_use_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = ivr(["serve"], tmp_path, {"IVR_AGI_PORT": str(port), "IVR_PROMPTS_DIR": str(REPO / "prompts")})
    assert result.returncode == 2
    assert f"port {port} is already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_database_url_is_a_clear_error(tmp_path):
    result = ivr(["serve"], tmp_path, {"IVR_DATABASE_URL": "nosuchdb://whatever", "IVR_AGI_PORT": str(free_port()),
                                       "IVR_PROMPTS_DIR": str(REPO / "prompts")})
    assert result.returncode == 2
    assert "IVR_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_missing_prompt_directory_is_a_clear_error(tmp_path):
    result = ivr(["serve"], tmp_path, {"IVR_PROMPTS_DIR": str(tmp_path / "nowhere"),
                                       "IVR_AGI_PORT": str(free_port())})
    assert result.returncode == 2
    assert "IVR_PROMPTS_DIR" in result.stderr and "does not exist" in result.stderr


def test_bad_number_setting_names_the_variable(tmp_path):
    result = ivr(["serve"], tmp_path, {"IVR_AGI_PORT": "not-a-port"})
    assert result.returncode == 2
    assert "IVR_AGI_PORT" in result.stderr


def test_production_refuses_a_missing_secret(tmp_path):
    result = ivr(["serve"], tmp_path, {"IVR_ENV": "production", "IVR_AGI_PORT": str(free_port()),
                                       "IVR_PROMPTS_DIR": str(REPO / "prompts")})
    assert result.returncode == 2
    assert "IVR_SECRET_KEY" in result.stderr


def test_serve_on_embedded_defaults_answers_a_call(tmp_path):
    """The README's first command: a fresh folder, no settings but the port; a call gets through."""
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    full["PYTHONPATH"] = str(REPO)          # this checkout's ivr, whatever else is installed
    full.update({"IVR_AGI_PORT": str(port), "IVR_WEB_ENABLED": "false", "IVR_PROMPTS_DIR": str(REPO / "prompts"),
                 "IVR_GRAMMARS_DIR": str(REPO / "grammars")})
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=tmp_path, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = proc.stdout.readline()
        deadline = time.monotonic() + 60
        while "answering" not in banner and time.monotonic() < deadline and proc.poll() is None:
            banner = proc.stdout.readline()
        assert "answering FastAGI calls on port" in banner, banner
        call = subprocess.run([sys.executable, "-m", "ivr", "call", "--port", str(port),
                               "--keys", "3172014508850001", "--keys", "1"],
                              cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)
        assert call.returncode == 0, call.stdout + call.stderr
        assert "status/scheduled" in call.stdout
        assert (tmp_path / "var" / "hotline.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def test_serve_does_not_believe_forwarded_for_from_a_local_peer(tmp_path):
    """uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise; `ivr serve`
    tells it otherwise.  With no IVR_TRUSTED_PROXIES, guesses from a local peer that each
    claim another address are throttled on the real address, and the audit log writes the
    real address."""
    import httpx

    agi, web = free_port(), free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    full["PYTHONPATH"] = str(REPO)          # this checkout's ivr, whatever else is installed
    full.update({"IVR_AGI_PORT": str(agi), "IVR_WEB_PORT": str(web), "IVR_WEB_HOST": "127.0.0.1",
                 "IVR_SPEECH_ENABLED": "false", "IVR_PROMPTS_DIR": str(REPO / "prompts"),
                 "IVR_ADMIN_PASSWORD": "admin-password-123", "IVR_DATA_DIR": str(tmp_path / "data")})
    proc = subprocess.Popen([sys.executable, "-m", "ivr", "serve"], cwd=tmp_path, env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{web}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=10) as c:
            while True:                       # readiness: the web app answers its health check
                assert proc.poll() is None and time.monotonic() < deadline, "ivr serve did not start"
                try:
                    if c.get("/health").status_code in (200, 503):
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            r = c.post("/api/session", json={"name": "admin", "password": "admin-password-123"},
                       headers={"X-Forwarded-For": "203.0.113.77"})
            assert r.status_code == 200, r.text
            audit = c.get("/api/audit", headers={"X-CSRF-Token": r.json()["csrf_token"]}).json()
            assert [e["detail"] for e in audit if e["action"] == "sign_in"] == ["127.0.0.1"]
        codes = []
        for i in range(7):
            with httpx.Client(base_url=base, timeout=10) as c:
                codes.append(c.post("/api/session", json={"name": f"guess{i}", "password": "bad-password"},
                                    headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code)
        assert codes == [401] * 5 + [429] * 2
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()

"""docker-compose and the Asterisk configuration agree on the AudioSocket transport."""

from __future__ import annotations

from ivr.config import Settings
from tests.test_deployment import ASTERISK, COMPOSE, ivr_env, mounts, service


def test_audiosocket_port_is_exposed_and_the_host_is_the_service():
    env = ivr_env()
    assert env["IVR_SPEECH_TRANSPORT"] == "audiosocket"
    assert env["IVR_AUDIOSOCKET_HOST"] == "ivr" and "ivr" in COMPOSE["services"]
    assert env["IVR_AUDIOSOCKET_PORT"] in [str(p) for p in service("ivr")["expose"]]
    settings = Settings(speech_transport=env["IVR_SPEECH_TRANSPORT"], audiosocket_host=env["IVR_AUDIOSOCKET_HOST"],
                        audiosocket_port=int(env["IVR_AUDIOSOCKET_PORT"]))
    assert settings.audiosocket_port == 4574


def test_asterisk_loads_the_audiosocket_application():
    assert mounts("asterisk")["/etc/asterisk/modules.conf"] == "./deploy/asterisk/modules.conf"
    # modules.conf repeats "load" keys, so read it line by line as Asterisk does
    entries = []
    for raw in (ASTERISK / "modules.conf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if "=" in line:
            key, _, value = line.partition("=")
            entries.append((key.strip().rstrip(">").strip(), value.strip()))
    assert ("autoload", "yes") in entries
    assert ("load", "res_audiosocket.so") in entries and ("load", "app_audiosocket.so") in entries
    assert not any(key == "noload" and "audiosocket" in value for key, value in entries)

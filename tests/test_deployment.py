"""Docker cannot run here, so this checks that docker-compose.yml, the Asterisk
configuration and the service's settings agree with one another."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import yaml

from ivr.config import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
ASTERISK = REPO / "deploy" / "asterisk"


def service(name):
    return COMPOSE["services"][name]


def ivr_env():
    return {k: str(v) for k, v in service("ivr")["environment"].items()}


def mounts(name):
    out = {}
    for vol in service(name)["volumes"]:
        source, target, *_ = vol.split(":")
        out[target] = source
    return out


def dialplan():
    return (ASTERISK / "extensions.conf").read_text()


def test_agi_url_points_at_the_service_and_its_port():
    urls = re.findall(r"AGI\(agi://([^:/]+):(\d+)/(\w+)\)", dialplan())
    assert urls, "the dialplan hands calls to the service over FastAGI"
    env = ivr_env()
    for host, port, _script in urls:
        assert host == "ivr" and host in COMPOSE["services"]
        assert port == env["IVR_AGI_PORT"]
        assert port in [str(p) for p in service("ivr")["expose"]]


def test_settings_accept_the_compose_environment():
    env = {k[4:].lower(): v for k, v in ivr_env().items()
           if k.startswith("IVR_") and "${" not in v and v != ""}
    settings = Settings(**env)
    assert settings.agi_port == 4573 and settings.web_port == 8000
    assert settings.env == "production"


def test_sounds_folder_is_the_prompts_audio_mounted_into_asterisk():
    env = ivr_env()
    sounds = env["IVR_ASTERISK_SOUNDS"]
    assert mounts("asterisk")[sounds] == "./prompts/audio"
    # SAY DIGITS with channel language id looks in sounds/id/digits
    assert mounts("asterisk")["/var/lib/asterisk/sounds/id/digits"] == "./prompts/audio/digits"
    assert sounds.startswith("/var/lib/asterisk/sounds/id/")
    assert (REPO / "prompts" / "audio" / "digits" / "0.wav").exists()


def test_recording_spool_is_one_volume_at_the_same_path_on_both_sides():
    env = ivr_env()
    assert env["IVR_SPOOL_DIR"] == env["IVR_ASTERISK_SPOOL"]
    spool = env["IVR_ASTERISK_SPOOL"]
    assert mounts("asterisk")[spool] == mounts("ivr")[spool] == "spool"
    assert "spool" in COMPOSE["volumes"]


def test_channel_language_is_indonesian_before_the_agi():
    plan = dialplan()
    hotline = plan[plan.index("[hotline]"):]
    assert hotline.index("CHANNEL(language)=id") < hotline.index("AGI(")
    pjsip = (ASTERISK / "pjsip.conf").read_text()
    assert "language=id" in pjsip


def test_operator_queue_exists_with_the_configured_name():
    env = ivr_env()
    queues = configparser.ConfigParser(strict=False, allow_no_value=True, delimiters=("=",))
    queues.read_string((ASTERISK / "queues.conf").read_text().replace("=>", "="))
    assert env["IVR_OPERATOR_APP"] == "Queue"
    assert env["IVR_OPERATOR_TARGET"] in queues.sections()


def test_ami_port_and_user_agree():
    env = ivr_env()
    manager = (ASTERISK / "manager.conf").read_text()
    assert re.search(r"^port=(\d+)", manager, re.M).group(1) == env["IVR_AMI_PORT"]
    assert "originate" in manager
    assert "AMI_SECRET" in str(service("asterisk")["environment"])
    # no secret is written in the repository
    assert not re.search(r"^secret=(?!\$\{AMI_SECRET\})", manager, re.M)


def test_every_mounted_config_file_exists():
    for target, source in mounts("asterisk").items():
        if source.startswith("./"):
            assert (REPO / source[2:]).exists(), source
    assert (REPO / service("ivr")["build"]["dockerfile"]).exists()

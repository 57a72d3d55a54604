"""Docker cannot run here, so this checks that docker-compose.yml, the Asterisk
configuration and the service's settings agree with one another."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
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
    urls = re.findall(r"agi://([^:/]+):(\d+)/(\w+)", dialplan())
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


def test_recorded_prompts_land_where_asterisk_plays_them():
    """The prompts page writes a recorded prompt into <IVR_PROMPTS_DIR>/audio (and its
    versions into <IVR_PROMPTS_DIR>/voice): the service needs the prompts folder
    read-write, and it must be the host folder whose audio Asterisk mounts."""
    env = ivr_env()
    ivr_vol = next(v for v in service("ivr")["volumes"] if v.split(":")[1] == env["IVR_PROMPTS_DIR"])
    source, target, *mode = ivr_vol.split(":")
    assert "ro" not in mode, "the service writes recorded prompts: ./prompts must not be read-only for it"
    assert mounts("asterisk")[env["IVR_ASTERISK_SOUNDS"]] == source + "/audio"
    assert Settings(prompts_dir=target).audio_dir.as_posix() == target + "/audio"


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


# --- issue 13: what a real Asterisk needs --------------------------------------------------

def dialplan_sections() -> dict[str, list[tuple[str, str]]]:
    """Context -> [(label, "App(args)")] in priority order, for exten ``s``/patterns;
    ``[globals]`` -> [(name, value)]."""
    out: dict[str, list[tuple[str, str]]] = {}
    context = None
    for raw in dialplan().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            context = line[1:-1]
            out[context] = []
            continue
        if context == "globals" and "=" in line:
            name, value = line.split("=", 1)
            out[context].append((name.strip(), value.strip()))
            continue
        m = re.match(r"^(?:exten\s*=>\s*[^,]+|same\s*=>\s*)\s*,?\s*(?:\d+|n)(?:\((\w+)\))?,(.*)$", line)
        if m:
            out[context].append((m.group(1) or "", m.group(2).strip()))
    return out


def dialplan_globals() -> dict[str, str]:
    return dict(dialplan_sections()["globals"])


def asterisklint(path: Path) -> subprocess.CompletedProcess:
    code = "import os, sys; from asterisklint.main import main; sys.exit(main(sys.argv[1:], dict(os.environ)))"
    return subprocess.run([sys.executable, "-c", code, "dialplan-check", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_dialplan_passes_asterisklint():
    done = asterisklint(ASTERISK / "extensions.conf")
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr


def test_asterisklint_does_catch_a_broken_dialplan(tmp_path):
    broken = tmp_path / "extensions.conf"
    broken.write_text(dialplan().replace("Playback(hotline/error/service_down)", "Playbak(hotline/error/service_down"))
    done = asterisklint(broken)
    assert done.returncode != 0 or done.stdout.strip() or done.stderr.strip()


def test_agi_url_in_globals_is_the_service():
    url = dialplan_globals()["HOTLINE_AGI"]
    m = re.fullmatch(r"agi://([^:/]+):(\d+)/(\w+)", url)
    assert m and m.group(1) == "ivr" and m.group(2) == ivr_env()["IVR_AGI_PORT"] and m.group(3) == "hotline"
    hotline = [app for _, app in dialplan_sections()["hotline"]]
    assert "AGI(${HOTLINE_AGI})" in hotline


def test_caller_is_never_left_in_dead_air_when_the_service_cannot_take_the_call():
    """After the AGI the service has always hung up; if the dialplan gets there the
    service was down, refused, or broke: an apology, then the operators' queue."""
    hotline = [app for _, app in dialplan_sections()["hotline"]]
    after = hotline[hotline.index("AGI(${HOTLINE_AGI})") + 1:]
    apps = [a.split("(", 1)[0] for a in after]
    assert "Hangup" not in apps[:apps.index("Queue")], after
    playback = next(a for a in after if a.startswith("Playback("))
    sound = playback[len("Playback("):-1]
    assert sound.startswith("hotline/")
    assert (REPO / "prompts" / "audio" / f"{sound[len('hotline/'):]}.wav").exists()
    queue = next(a for a in after if a.startswith("Queue("))
    name, *_, timeout = queue[len("Queue("):-1].split(",")
    assert name == ivr_env()["IVR_OPERATOR_TARGET"] and timeout == "${OPERATOR_WAIT}"
    assert dialplan_globals()["OPERATOR_WAIT"] == ivr_env()["IVR_OPERATOR_WAIT_S"]
    assert apps.index("Playback") < apps.index("Queue")


def test_first_syllable_is_not_clipped_after_answer():
    hotline = [app for _, app in dialplan_sections()["hotline"]]
    answer = next(a for a in hotline if a.startswith("Answer("))
    assert int(answer[len("Answer("):-1]) >= 300          # ms Answer() waits before going on


def test_plus_62_caller_numbers_are_folded_to_the_national_form():
    from ivr.store.protect import normalize_phone

    sections = dialplan_sections()
    assert ("", "Goto(normalise,s,1)") in sections["from-trunk"]
    steps = dict(sections["normalise"])
    assert steps["plus"] == "Set(CALLERID(num)=0${CALLERID(num):3})"
    assert steps["bare"] == "Set(CALLERID(num)=0${CALLERID(num):2})"
    assert normalize_phone("+6281234567890") == normalize_phone("6281234567890") == normalize_phone("081234567890")


def pjsip_sections() -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    name = None
    for raw in (ASTERISK / "pjsip.conf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        m = re.match(r"^\[([^\]]+)\](\(([^)]*)\))?$", line)
        if m:
            name = m.group(1) + ("" if not m.group(3) else f"<{m.group(3)}>")
            out.setdefault(name, {})
        elif "=" in line and name:
            key, value = line.split("=", 1)
            out[name][key.strip()] = value.strip()
    return out


def test_every_endpoint_is_set_up_for_nat_and_any_handsets_dtmf():
    sections = pjsip_sections()
    common = sections["endpoint-common<!>"]
    assert common["type"] == "endpoint"
    assert (common["direct_media"], common["rtp_symmetric"], common["force_rport"], common["rewrite_contact"]) == \
        ("no", "yes", "yes", "yes")
    assert common["dtmf_mode"] in ("auto", "auto_info", "inband")      # in-band tones accepted
    endpoints = [n for n in sections if "<" in n and n != "endpoint-common<!>"]
    assert endpoints and all(n.endswith("<endpoint-common>") for n in endpoints)
    transport = sections["transport-udp"]
    assert transport["external_media_address"] == transport["external_signaling_address"] == "${SIP_EXTERNAL_ADDRESS}"
    assert transport["local_net"] == "${SIP_LOCAL_NET}"
    env = service("asterisk")["environment"]
    assert "SIP_EXTERNAL_ADDRESS" in env and "SIP_LOCAL_NET" in env
    assert mounts("asterisk")["/etc/asterisk/pjsip.conf.in"] == "./deploy/asterisk/pjsip.conf"


def _entrypoint(tmp_path: Path, **env) -> Path:
    """Run the template part of hotline-entrypoint.sh against a scratch /etc/asterisk."""
    etc = tmp_path / "etc"
    etc.mkdir(parents=True)
    (etc / "manager.conf.in").write_text((ASTERISK / "manager.conf").read_text())
    (etc / "pjsip.conf.in").write_text((ASTERISK / "pjsip.conf").read_text())
    script = (ASTERISK / "hotline-entrypoint.sh").read_text().replace("/etc/asterisk", str(etc))
    script = script[: script.index("# [options] in asterisk.conf")]        # stop before users and exec
    subprocess.run(["sh", "-c", script], check=True, timeout=30,
                   env={"PATH": os.environ["PATH"], "AMI_USER": "u", "AMI_SECRET": "s", **env})
    return etc / "pjsip.conf"


def _settings_lines(path: Path) -> str:
    return "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith(";"))


def test_entrypoint_fills_in_the_nat_addresses(tmp_path):
    text = _settings_lines(_entrypoint(tmp_path / "a", SIP_EXTERNAL_ADDRESS="203.0.113.10",
                                       SIP_LOCAL_NET="10.0.0.0/8"))
    assert "external_media_address=203.0.113.10" in text and "external_signaling_address=203.0.113.10" in text
    assert "local_net=10.0.0.0/8" in text and "${" not in text
    plain = _settings_lines(_entrypoint(tmp_path / "b"))
    assert "external_media_address" not in plain and "${" not in plain


def test_rtp_range_is_published_and_sized_for_the_documented_capacity():
    rtp = configparser.ConfigParser()
    rtp.read_string((ASTERISK / "rtp.conf").read_text())
    start, end = int(rtp["general"]["rtpstart"]), int(rtp["general"]["rtpend"])
    assert f"{start}-{end}:{start}-{end}/udp" in service("asterisk")["ports"]
    calls = (end - start + 1) // 2
    assert calls >= 500
    readme = (REPO / "README.md").read_text()
    assert f"{calls} calls" in readme and f"{start}-{end}" in readme


def test_long_recordings_keep_the_line_alive_and_asterisk_is_not_root():
    script = (ASTERISK / "hotline-entrypoint.sh").read_text()
    assert "transmit_silence = yes" in script
    assert re.search(r"^exec asterisk .*-U asterisk .*-G ", script, re.M)
    dockerfile = (REPO / "deploy" / "ivr.Dockerfile").read_text()
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)


def test_waiting_callers_hear_our_own_hold_loop():
    queues = (ASTERISK / "queues.conf").read_text()
    assert re.search(r"^musicclass=hotline$", queues, re.M)
    moh = configparser.ConfigParser()
    moh.read_string((ASTERISK / "musiconhold.conf").read_text())
    folder = moh["hotline"]["directory"]
    sounds = ivr_env()["IVR_ASTERISK_SOUNDS"]
    assert folder.startswith(sounds + "/") and moh["hotline"]["mode"] == "files"
    local = REPO / "prompts" / "audio" / folder[len(sounds) + 1:]
    assert sorted(p.name for p in local.glob("*.wav")), "the hold folder has audio"
    assert mounts("asterisk")["/etc/asterisk/musiconhold.conf"] == "./deploy/asterisk/musiconhold.conf"


def test_queue_skips_operators_who_cannot_answer():
    queues = (ASTERISK / "queues.conf").read_text()
    for key in ("joinempty", "leavewhenempty"):
        rules = set(re.search(rf"^{key}=(.*)$", queues, re.M).group(1).split(","))
        assert {"unavailable", "invalid", "paused"} <= rules, key
def _section(plan: str, name: str) -> str:
    start = plan.index(f"[{name}]")
    rest = plan[start + len(name) + 2:]
    nxt = re.search(r"^\[", rest, re.M)
    return rest[:nxt.start()] if nxt else rest


def test_outbound_context_routes_each_kind_to_its_agi_script():
    from ivr.outbound.dialer import DialerConfig
    from ivr.telephony.routes import script_of

    out = _section(dialplan(), DialerConfig().context)
    for kind in ("reminder", "callback"):
        lines = [ln for ln in out.splitlines() if ln.startswith(f"exten => {kind},") or ln.startswith(" same")]
        block = out[out.index(f"exten => {kind},1"):]
        block = block[:block.index("Hangup()")]
        assert block.index("CHANNEL(language)=id") < block.index("AGI(")
        assert f"AGI(agi://ivr:4573/{kind},${{HOTLINE_ATTEMPT}})" in block, lines
        # a service that cannot take the call never leaves the resident in silence
        assert block.index("AGI(") < block.index("Playback(hotline/error/")
        if kind == "callback":
            assert "Queue(operators," in block
        from ivr.ports import CallInfo
        assert script_of(CallInfo("1", "x", request=f"agi://ivr:4573/{kind}")) == kind


def test_the_route_table_serves_every_script_the_dialplan_names(tmp_path):
    from ivr.app import agi_routes, build_hotline
    from tests.conftest import make_settings

    hotline = build_hotline(make_settings(tmp_path))
    try:
        table = agi_routes(hotline).table
    finally:
        hotline.close()
    urls = re.findall(r"agi://[^:/]+:\d+/(\w+)", dialplan())       # in AGI(...) and in [globals]
    assert set(urls) == set(table) == {"hotline", "reminder", "callback"}


def _pjsip_type(name: str) -> str:
    """``type=`` of a pjsip.conf section, following its templates (``[x](tmpl)``)."""
    sections: dict[str, tuple[list[str], dict[str, str]]] = {}
    current = None
    for raw in (ASTERISK / "pjsip.conf").read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        m = re.match(r"^\[([^\]]+)\](?:\(([^)]*)\))?$", line)
        if m:
            templates = [t.strip() for t in (m.group(2) or "").split(",") if t.strip() and t.strip() != "!"]
            current = sections.setdefault(m.group(1), ([], {}))
            current[0].extend(templates)
        elif current is not None and "=" in line:
            key, value = line.split("=", 1)
            current[1].setdefault(key.strip(), value.strip())
    templates, values = sections[name]
    if "type" in values:
        return values["type"]
    return next((_pjsip_type(t) for t in templates), "")


def test_originate_channel_names_a_pjsip_endpoint_and_ami_may_originate():
    env = {k[4:].lower(): v for k, v in ivr_env().items() if k.startswith("IVR_") and "${" not in v and v != ""}
    settings = Settings(**env)
    tech, rest = settings.outbound_channel.split("/", 1)
    endpoint = rest.split("@", 1)[1]
    assert tech == "PJSIP" and _pjsip_type(endpoint) == "endpoint"
    manager = (ASTERISK / "manager.conf").read_text()
    write = re.search(r"^write=(.*)$", manager, re.M).group(1).split(",")
    read = re.search(r"^read=(.*)$", manager, re.M).group(1).split(",")
    assert "originate" in write        # Originate needs write=originate
    assert "call" in read              # OriginateResponse and Hangup are "call" events


def test_the_home_province_is_a_nik_province_code(monkeypatch):
    import pytest
    from pydantic import ValidationError

    assert Settings().home_province == "31"
    monkeypatch.setenv("IVR_HOME_PROVINCE", "32")
    assert Settings().home_province == "32"
    for bad in ("3", "031", "3a", "00"):
        monkeypatch.setenv("IVR_HOME_PROVINCE", bad)
        with pytest.raises(ValidationError, match="home_province"):
            Settings()

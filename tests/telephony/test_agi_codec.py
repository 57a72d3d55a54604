"""The AGI codec on its own: every reply shape, the header block, command quoting."""

from __future__ import annotations

import pytest

from ivr.errors import CallerHungUp, ChannelError
from ivr.telephony import agi
from ivr.telephony.fake_asterisk import agi_environment


# --- replies --------------------------------------------------------------------------

@pytest.mark.parametrize("line, value, result, data, endpos, key", [
    ("200 result=0 endpos=12345", "0", 0, "", 12345, None),
    ("200 result=51 endpos=4000", "51", 51, "", 4000, "3"),
    ("200 result=35", "35", 35, "", None, "#"),
    ("200 result=-1 endpos=0", "-1", -1, "", 0, None),
    ("200 result=0123 (timeout)", "0123", 123, "timeout", None, None),
    ("200 result= (timeout)", "", None, "timeout", None, None),
    ("200 result=3172010101800001", "3172010101800001", 3172010101800001, "", None, None),
    ("200 result=12*4", "12*4", None, "", None, None),
    ("200 result=0 (timeout) endpos=16000", "0", 0, "timeout", 16000, None),
    ("200 result=53 (dtmf) endpos=800", "53", 53, "dtmf", 800, "5"),
    ("200 result=-1 (hangup) endpos=0", "-1", -1, "hangup", 0, None),
    ("200 result=-1 (writefile)", "-1", -1, "writefile", None, None),
    ("200 result=1 (TIMEOUT)", "1", 1, "TIMEOUT", None, None),
    ("200 result=1 (a (nested) value)", "1", 1, "a (nested) value", None, None),
    ("200 result=1 ()", "1", 1, "", None, None),
    ("200 result=6\r", "6", 6, "", None, None),
])
def test_200_replies(line, value, result, data, endpos, key):
    reply = agi.parse_reply_line(line)
    assert (reply.code, reply.value, reply.result, reply.data, reply.endpos, reply.key) == \
        (200, value, result, data, endpos, key)


def test_timeout_flag():
    assert agi.parse_reply_line("200 result=12 (timeout)").timed_out
    assert not agi.parse_reply_line("200 result=12").timed_out


def test_trying_is_skipped():
    reply = agi.parse_reply(["100 result=0 Trying...", "200 result=0 endpos=8"])
    assert (reply.code, reply.endpos) == (200, 8)
    assert agi.parse_reply_line("100 result=0 Trying...").code == 100


def test_510_is_a_channel_error():
    with pytest.raises(agi.AgiInvalidCommand) as exc:
        agi.parse_reply(["510 Invalid or unknown command"])
    assert isinstance(exc.value, ChannelError) and exc.value.code == 510


def test_511_means_caller_gone():
    with pytest.raises(CallerHungUp):
        agi.parse_reply(["511 Command Not Permitted on a dead channel or intercept routine"])


def test_520_multiline_carries_usage():
    lines = ["520-Invalid command syntax.  Proper usage follows:",
             " Usage: STREAM FILE <filename> <escape_digits> [<sample offset>]",
             "200 result=0 looks like a reply but is usage text",
             "520 End of proper usage."]
    with pytest.raises(agi.AgiUsageError) as exc:
        agi.parse_reply(lines)
    assert isinstance(exc.value, ChannelError)
    assert "STREAM FILE <filename>" in exc.value.usage
    assert "looks like a reply" in exc.value.usage


def test_520_single_line():
    with pytest.raises(agi.AgiUsageError):
        agi.parse_reply(["520 Invalid command syntax.  Proper usage not available."])


def test_bare_hangup_line():
    with pytest.raises(CallerHungUp):
        agi.parse_reply_line("HANGUP")
    with pytest.raises(CallerHungUp):
        agi.parse_reply(["HANGUP"])


def test_hangup_then_reply_keeps_the_reply_and_remembers():
    assembler = agi.ReplyAssembler()
    assert assembler.feed("HANGUP") is None
    reply = assembler.feed("200 result=-1 endpos=0")
    assert reply is not None and reply.result == -1
    assert assembler.hangup_seen


@pytest.mark.parametrize("line", [
    "hello world", "", "   ", "2000 result=1", "200", "200 foo=1", "200 resul", "ok 200 result=0",
    "200-result=0", "abc result=0",
])
def test_garbage_is_a_protocol_error(line):
    with pytest.raises(agi.AgiProtocolError):
        agi.parse_reply_line(line)


def test_other_codes_are_command_errors():
    with pytest.raises(agi.AgiCommandError) as exc:
        agi.parse_reply_line("503 result=-2 Memory allocation failure")
    assert exc.value.code == 503


@pytest.mark.parametrize("lines", [
    [], ["100 result=0 Trying..."], ["520-Invalid command syntax.  Proper usage follows:", "usage"],
])
def test_truncated_replies(lines):
    with pytest.raises(agi.AgiConnectionLost):
        agi.parse_reply(lines)


def test_error_messages_hide_digit_runs():
    with pytest.raises(agi.AgiProtocolError) as exc:
        agi.parse_reply_line("garbage 3172010101800001 081234567890")
    assert "3172010101800001" not in str(exc.value)
    assert "081234567890" not in str(exc.value)


# --- header -------------------------------------------------------------------------------

def test_header_block_to_call_info():
    env = agi_environment("10.0.0.5", 4573, caller="081234567890", uniqueid="1700000000.17")
    raw = agi.format_env(env).decode()
    assert raw.endswith("agi_threadid: " + dict(env)["agi_threadid"] + "\n\n")
    assert "agi_accountcode: \n" in raw
    info = agi.parse_env(raw.splitlines())
    assert info.uniqueid == "1700000000.17"
    assert info.caller == "081234567890"
    assert info.channel.startswith("PJSIP/")
    assert (info.language, info.extension) == ("id", "1500123")
    assert info.request == "agi://10.0.0.5:4573/hotline"
    assert info.env == tuple(env)


def test_header_stops_at_blank_line_and_tolerates_empty_values():
    info = agi.parse_env(["agi_uniqueid: 1.2", "agi_accountcode:", "", "agi_junk after blank"])
    assert info.uniqueid == "1.2"
    assert dict(info.env)["agi_accountcode"] == ""
    assert info.caller == "unknown"


@pytest.mark.parametrize("lines", [
    ["agi_uniqueid 1.2"], ["GET / HTTP/1.1"], ["uniqueid: 1.2"], ["agi_channel: PJSIP/x"],
])
def test_bad_headers(lines):
    with pytest.raises(agi.AgiProtocolError):
        agi.parse_env(lines)


def test_header_error_does_not_echo_the_line():
    with pytest.raises(agi.AgiProtocolError) as exc:
        agi.parse_env(["agi_callerid=081234567890"])
    assert "081234567890" not in str(exc.value)


# --- commands -------------------------------------------------------------------------------

def test_command_formats():
    assert agi.format_stream_file("/snd/greeting", "0123456789") == 'STREAM FILE /snd/greeting "0123456789"'
    assert agi.format_stream_file("/snd/greeting") == 'STREAM FILE /snd/greeting ""'
    assert agi.format_get_data("/snd/ask", 5000, 16) == "GET DATA /snd/ask 5000 16"
    assert agi.format_record_file("/spool/c1/nik-1", "wav", "0123456789#", 20000, silence_s=2) == \
        'RECORD FILE /spool/c1/nik-1 wav "0123456789#" 20000 s=2'
    assert agi.format_record_file("/spool/x", "wav", "#", 5000, beep=True, silence_s=3) == \
        'RECORD FILE /spool/x wav "#" 5000 BEEP s=3'
    assert agi.format_exec("Queue", "operators,t,,,300") == 'EXEC Queue "operators,t,,,300"'
    assert agi.format_exec("Hangup") == "EXEC Hangup"
    assert agi.format_set_variable("HOTLINE_OUTCOME", "found ok") == 'SET VARIABLE HOTLINE_OUTCOME "found ok"'
    assert agi.format_get_variable("QUEUESTATUS") == "GET VARIABLE QUEUESTATUS"
    assert agi.format_wait_for_digit(3000) == "WAIT FOR DIGIT 3000"
    assert (agi.format_answer(), agi.format_hangup()) == ("ANSWER", "HANGUP")


@pytest.mark.parametrize("build", [
    lambda: agi.format_stream_file("greeting\nHANGUP", ""),
    lambda: agi.format_stream_file("greet ing", ""),
    lambda: agi.format_stream_file('greeting"', ""),
    lambda: agi.format_stream_file("../etc/passwd", ""),
    lambda: agi.format_stream_file("greeting", '1"2'),
    lambda: agi.format_stream_file("greeting", "12x"),
    lambda: agi.format_set_variable("X", 'a"; HANGUP'),
    lambda: agi.format_set_variable("X", "a\nHANGUP"),
    lambda: agi.format_set_variable("X", "a\\"),
    lambda: agi.format_set_variable("X Y", "a"),
    lambda: agi.format_exec("Queue", "ops\r\nHANGUP"),
    lambda: agi.format_exec("Queue;System", "x"),
    lambda: agi.format_get_data("ask", -5, 16),
    lambda: agi.format_get_data("ask", 5000, 0),
    lambda: agi.format_record_file("x", "wav;", "#", 1000),
])
def test_injection_and_bad_arguments_rejected(build):
    with pytest.raises(ValueError):
        build()


def test_split_command_like_asterisk():
    assert agi.split_command('STREAM FILE /snd/greeting "0123"') == ["STREAM", "FILE", "/snd/greeting", "0123"]
    assert agi.split_command('STREAM FILE x ""\n') == ["STREAM", "FILE", "x", ""]
    assert agi.split_command('SET VARIABLE A "two words"') == ["SET", "VARIABLE", "A", "two words"]
    assert agi.split_command(r'SET VARIABLE A a\"b') == ["SET", "VARIABLE", "A", 'a"b']
    assert agi.split_command("  ANSWER  ") == ["ANSWER"]


def test_a_reply_that_never_ends_has_a_size_limit():
    assembler = agi.ReplyAssembler(max_bytes=1000)
    assert assembler.feed("520-Invalid command syntax.  Proper usage follows:") is None
    with pytest.raises(agi.AgiProtocolError, match="longer than 1000 bytes"):
        for _ in range(100):
            assembler.feed("u" * 50)
    # interim lines count too: an endless run of them is no reply either
    trying = agi.ReplyAssembler(max_bytes=1000)
    with pytest.raises(agi.AgiProtocolError):
        for _ in range(100):
            trying.feed("100 result=0 Trying...")


def test_a_real_usage_reply_fits_the_limit():
    lines = ["520-Invalid command syntax.  Proper usage follows:"] + ["Usage: RECORD FILE " + "x" * 70] * 40 + [
        "520 End of proper usage."]
    with pytest.raises(agi.AgiUsageError) as err:
        agi.parse_reply(lines)
    assert err.value.usage.count("\n") == 39


def test_header_block_size_limit():
    lines = ["agi_uniqueid: 1.1"] + [f"agi_arg_{n}: " + "x" * 4000 for n in range(1, 10)]
    with pytest.raises(agi.AgiProtocolError, match="too long"):
        agi.parse_env(lines)
    assert agi.parse_env(lines[:5]).uniqueid == "1.1"

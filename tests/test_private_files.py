"""Files that hold personal data are owner-only: the SQLite database and its -wal/-shm,
recordings in the spool, kept training audio (spoken NIKs), the call journal, uploads
and the secret key are 0600 in 0700 folders from the start, and what an older version
left behind is tightened at start-up."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ivr.app import check_paths, secure_data_dir
from ivr.config import Settings
from ivr.store.db import make_engine
from ivr.store.files import create_private, private_dir, spool_file, spool_folder, tighten
from ivr.telephony.fake_asterisk import Keys, Say, Silence
from tests.conftest import make_settings, run_line, voice_wav
from tests.fakes import ScriptedRecognizer
from tests.test_calls import SCHEDULED, only_call, spoken


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def all_modes(folder: Path) -> dict[str, int]:
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root, name)
            if not path.is_symlink():
                out[str(path.relative_to(folder))] = mode(path)
    return out


def assert_private(folder: Path) -> None:
    wrong = {name: oct(m) for name, m in all_modes(folder).items()
             if m != (0o700 if (folder / name).is_dir() else 0o600)}
    assert not wrong, wrong
    assert mode(folder) == 0o700


def test_sqlite_file_and_its_wal_and_shm_are_owner_only(tmp_path):
    old = os.umask(0o022)             # a usual umask: files would otherwise be 0644
    try:
        engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'hotline.db'}")
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.connect() as conn:      # an open connection keeps -wal and -shm in place
            conn.exec_driver_sql("SELECT * FROM t").all()
            files = sorted(p.name for p in (tmp_path / "new").iterdir())
            assert files == ["hotline.db", "hotline.db-shm", "hotline.db-wal"]
            assert {name: mode(tmp_path / "new" / name) for name in files} == dict.fromkeys(files, 0o600)
        engine.dispose()
        assert mode(tmp_path / "new") == 0o700
    finally:
        os.umask(old)


def test_an_existing_database_is_tightened_when_opened(tmp_path):
    db = tmp_path / "hotline.db"
    make_engine(f"sqlite:///{db}").dispose()
    os.chmod(db, 0o644)
    make_engine(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600


def test_the_generated_secret_key_is_owner_only_from_the_start(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", env="development", secret_key="")
    old = os.umask(0o022)
    try:
        key = settings.secret()
    finally:
        os.umask(old)
    assert len(key) > 40 and mode(tmp_path / "var" / "secret.key") == 0o600
    assert mode(tmp_path / "var") == 0o700
    assert settings.secret() == key                     # read back, not regenerated


def test_start_up_tightens_what_an_older_version_left(tmp_path):
    settings = make_settings(tmp_path)
    data = settings.data_dir
    for name in ("hotline.db", "hotline.db-wal", "call-journal.jsonl", "call-journal.dead.jsonl", "secret.key",
                 "spool/2026/11/abc-01.wav", "training/abc-1.wav", "uploads/list.csv"):
        path = data / name
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        path.write_bytes(b"x")
        os.chmod(path, 0o644)
    for folder in (data, data / "spool", data / "spool" / "2026", data / "training"):
        os.chmod(folder, 0o755)
    shared = tmp_path / "shared.wav"
    shared.write_bytes(b"x")
    os.chmod(shared, 0o644)
    (data / "spool" / "link.wav").symlink_to(shared)      # a link's target is not ours to change
    changed = secure_data_dir(settings)
    assert changed >= 12
    assert_private(data)
    assert mode(shared) == 0o644
    assert secure_data_dir(settings) == 0                # nothing left to do
    check_paths(settings)                                # what `ivr serve` runs first


def test_a_spool_outside_the_data_folder_is_tightened_too(tmp_path):
    settings = make_settings(tmp_path, spool_dir=tmp_path / "spool")
    (tmp_path / "spool").mkdir(mode=0o755)
    (tmp_path / "spool" / "r.wav").write_bytes(b"x")
    os.chmod(tmp_path / "spool" / "r.wav", 0o644)
    os.chmod(tmp_path / "spool", 0o755)
    secure_data_dir(settings)
    assert_private(tmp_path / "spool")


def test_helpers_create_owner_only_paths(tmp_path):
    folder = private_dir(tmp_path / "a" / "b")
    assert mode(tmp_path / "a") == 0o700 and mode(folder) == 0o700
    fd = create_private(folder / "f")
    os.close(fd)
    assert mode(folder / "f") == 0o600
    os.chmod(folder / "f", 0o666)
    os.close(create_private(folder / "f", exclusive=False))      # an existing file is narrowed too
    assert mode(folder / "f") == 0o600
    assert tighten(tmp_path / "missing") == 0


def test_recordings_and_training_audio_of_a_real_call_are_owner_only(tmp_path):
    """A call through the fake Asterisk (which writes recordings like Asterisk, with the
    usual umask): the spoken NIK kept for training and the complaint recording."""
    settings = make_settings(tmp_path, speech_enabled=True)
    recognizer = ScriptedRecognizer([spoken(SCHEDULED), "ya", "lapor"])
    wav = voice_wav(tmp_path / "caller.wav", seconds=4)
    old = os.umask(0o022)
    try:
        async def scenario(line):
            return await line.call(Say(wav), Say(wav), Say(wav), Say(wav), Silence(), Silence())

        result, line = run_line(settings, scenario, recognizer=recognizer)
    finally:
        os.umask(old)
    call = only_call(line)
    assert call.recordings, "the call recorded the caller"
    training = list((settings.data_dir / "training").iterdir())
    assert training, "the confirmed spoken NIK was kept"
    assert_private(settings.data_dir)
    for rec in call.recordings:
        assert mode(Path(rec.path)) == 0o600


def test_keypad_call_on_a_fresh_data_folder(tmp_path):
    settings = make_settings(tmp_path)
    old = os.umask(0o022)
    try:
        async def scenario(line):
            return await line.call(Keys(SCHEDULED), Keys("1"), Keys("9"), Silence(), Silence())

        run_line(settings, scenario)
    finally:
        os.umask(old)
    assert_private(settings.data_dir)


def test_a_spool_shared_with_asterisk_keeps_its_group_and_loses_others(tmp_path):
    """The compose file runs Asterisk and the service as two users sharing the spool
    through a group (2770): start-up must not lock Asterisk out, only everyone else."""
    settings = make_settings(tmp_path, spool_dir=tmp_path / "spool")
    spool = tmp_path / "spool"
    spool.mkdir()
    os.chmod(spool, 0o2770)
    (spool / "old").mkdir()
    os.chmod(spool / "old", 0o755)
    for name in ("a.wav", "old/b.wav"):
        (spool / name).write_bytes(b"x")
        os.chmod(spool / name, 0o644)
    secure_data_dir(settings)
    assert mode(spool) == 0o2770                                       # Asterisk can still write
    assert mode(spool / "a.wav") == 0o640 and mode(spool / "old/b.wav") == 0o640
    assert mode(spool / "old") == 0o750
    assert_private(settings.data_dir)                                  # the data folder stays owner-only
    # what the channel does for a recording: a new folder shared the same way, the file narrowed
    folder = spool_folder(spool / "2026" / "11")
    assert mode(spool / "2026") == 0o2770 and mode(folder) == 0o2770
    (folder / "c.wav").write_bytes(b"x")
    os.chmod(folder / "c.wav", 0o664)
    spool_file(folder / "c.wav")
    assert mode(folder / "c.wav") == 0o660
    # in an owner-only spool both are owner-only
    private = private_dir(tmp_path / "own")
    assert mode(spool_folder(private / "x")) == 0o700
    (private / "x" / "d.wav").write_bytes(b"x")
    spool_file(private / "x" / "d.wav")
    assert mode(private / "x" / "d.wav") == 0o600

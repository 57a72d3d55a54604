"""Personal-data protection: keyed hashes, reversible encryption, masks."""

from __future__ import annotations

import pytest

from ivr.errors import ConfigError
from ivr.store import protect
from ivr.store.protect import DecryptError, Protector

NIK = "3172014508850001"


def test_hash_is_keyed_and_stable():
    a, b = Protector(b"k" * 20), Protector(b"other-secret-key-x")
    assert a.nik_hash(NIK) == a.nik_hash(NIK)
    assert a.nik_hash(NIK) != b.nik_hash(NIK)
    assert len(a.nik_hash(NIK)) == 64 and NIK not in a.nik_hash(NIK)
    # NIK and phone keys differ: the same digits hash differently per kind
    assert a.nik_hash(NIK) != a.phone_hash(NIK)


def test_phone_hash_folds_country_prefix():
    p = Protector(b"k" * 20)
    assert p.phone_hash("+62 812-3456-7890") == p.phone_hash("081234567890")


def test_encrypt_round_trip_and_wrong_key():
    p = Protector(b"k" * 20)
    token = p.encrypt(NIK)
    assert NIK not in token and p.decrypt(token) == NIK
    assert p.encrypt(NIK) != token          # random nonce: equal values do not look equal
    with pytest.raises(DecryptError):
        Protector(b"other-secret-key-x").decrypt(token)
    with pytest.raises(DecryptError):
        p.decrypt(token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1])


def test_short_secret_refused():
    with pytest.raises(ConfigError):
        Protector(b"short")


def test_masks():
    assert protect.mask(NIK) == "3172********0001"
    assert protect.mask_phone("0812-3456-7890") == "0812*****890"
    assert protect.mask_digits("pressed 3172014508850001 then 1") == "pressed 3172********0001 then 1"
    assert protect.mask_digits("3172014508") == "3172******"
    spoken = "tiga satu tujuh dua nol satu empat lima nol delapan delapan lima nol nol nol satu"
    masked = protect.mask_spoken(spoken)
    assert masked.startswith("tiga satu tujuh dua * ") and masked.endswith(" nol nol nol satu")
    assert protect.mask_spoken("ya benar") == "ya benar"
    assert protect.mask_spoken("satu") == "satu"
    value, changed = protect.scrub({"alts": [spoken, "ya"], "n": 3})
    assert changed and value["alts"][1] == "ya" and "lima nol delapan" not in value["alts"][0]

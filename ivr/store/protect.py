"""Personal-data protection: keyed hashes for lookup, encryption for reveal, masks for display.

A NIK or phone number is never stored in the clear.  Each is kept three ways:

* a keyed hash (HMAC-SHA256) -- equality lookups work, but without the secret a copied
  database cannot be searched by brute force over the ~10^10 plausible Jakarta NIKs;
* a mask (``3172********0001``) for lists and logs;
* an encrypted copy, so an authorised operator can reveal the number (with an audit entry)
  or call a caller back.

Encryption is AES-256-GCM (from ``cryptography``) rather than Fernet: both are authenticated,
but Fernet costs ~34 us per value here against ~1.5 us, which dominates a million-row import,
and its tokens are twice as long.  Tokens carry a version prefix so the scheme can change.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ivr import nik as nikmod
from ivr.errors import ConfigError

_TOKEN_PREFIX = "g1."
_NONCE_BYTES = 12
_NON_DIGITS = re.compile(r"[^\d]")
# runs of digits long enough to be (part of) a NIK or a phone number
_DIGIT_RUN = re.compile(r"\d{6,}")
_NUMBER_WORDS = frozenset({
    "nol", "kosong", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan",
    "sembilan", "sepuluh", "sebelas", "belas", "puluh", "seratus", "ratus", "dobel",
})


class DecryptError(ValueError):
    """A token was not made with this secret (or was altered)."""


def _derive(secret: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"hotline-bst", info=purpose).derive(secret)


def normalize_phone(number: str) -> str:
    """Digits only, Indonesian ``+62``/``62`` prefix folded to ``0`` so one line hashes alike."""
    digits = _NON_DIGITS.sub("", number or "")
    if digits.startswith("62") and len(digits) >= 10:
        digits = "0" + digits[2:]
    return digits


class Protector:
    """Hashes, encrypts and masks personal data with keys derived from one secret."""

    def __init__(self, secret: bytes):
        if not secret or len(secret) < 16:
            raise ConfigError("the secret key must be at least 16 bytes (IVR_SECRET_KEY)")
        # separate keys per purpose: a leaked hash key must not help decrypt, and vice versa
        # keyed HMAC states, copied per value: cheaper than re-keying for every row of an import
        self._nik_mac = hmac.new(_derive(secret, b"nik-hash"), digestmod=hashlib.sha256)
        self._phone_mac = hmac.new(_derive(secret, b"phone-hash"), digestmod=hashlib.sha256)
        self._aead = AESGCM(_derive(secret, b"encrypt"))

    # --- hashes -------------------------------------------------------------------
    def nik_hash(self, nik: str) -> str:
        mac = self._nik_mac.copy()
        mac.update(nik.strip().encode())
        return mac.hexdigest()

    def phone_hash(self, number: str) -> str:
        mac = self._phone_mac.copy()
        mac.update(normalize_phone(number).encode())
        return mac.hexdigest()

    # --- encryption ---------------------------------------------------------------
    def encrypt(self, text: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, text.encode(), None)
        return _TOKEN_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def decrypt(self, token: str) -> str:
        if not token.startswith(_TOKEN_PREFIX):
            raise DecryptError("not an encrypted token")
        body = token[len(_TOKEN_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], None).decode()
        except (InvalidTag, ValueError) as exc:
            raise DecryptError("token does not match this secret key") from exc

    def encrypt_opt(self, text: str | None) -> str | None:
        return self.encrypt(text) if text else None

    def decrypt_opt(self, token: str | None) -> str | None:
        return self.decrypt(token) if token else None


# --- masks (pure; no key needed) ------------------------------------------------------

def mask(nik: str) -> str:
    return nikmod.mask(nik)


def mask_phone(number: str) -> str:
    return nikmod.mask_phone(_NON_DIGITS.sub("", number or ""))


# TECH/resource-sequence: Asterisk names a channel after the endpoint, which for a trunk or a
# Local channel may be the caller's number; the 8-hex-digit sequence (and ;1/;2) is Asterisk's own
_CHANNEL = re.compile(r"^(?P<tech>[^/]*/)?(?P<res>.*?)(?P<seq>-[0-9A-Fa-f]{8}(?:;\d)?)?$", re.S)
_NUMBER_IN_NAME = re.compile(r"\+?\d(?:[\d\-. ()]*\d)?")      # digits, maybe grouped: 0812-7777-6666


def mask_channel(channel: str) -> str:
    """``PJSIP/081277776666-00000042`` -> ``PJSIP/0812*****666-00000042``: a number in a
    channel name is masked like the caller number; technology, endpoint names such as
    ``trunk`` or ``6001`` and Asterisk's sequence suffix stay readable."""
    def number(d: re.Match) -> str:
        return mask_phone(d.group()) if len(_NON_DIGITS.sub("", d.group())) >= 5 else d.group()

    m = _CHANNEL.match(channel or "")
    if m is None:       # cannot happen (every part is optional); mask everything to be safe
        return _NUMBER_IN_NAME.sub(number, channel or "")
    return f"{m['tech'] or ''}{_NUMBER_IN_NAME.sub(number, m['res'])}{m['seq'] or ''}"


def mask_digits(text: str) -> str:
    """Mask every run of 6+ digits in free text (keys pressed, notes) like a NIK."""
    return _DIGIT_RUN.sub(lambda m: _mask_run(m.group()), text or "")


def _mask_run(run: str) -> str:
    if len(run) >= 12:
        return run[:4] + "*" * (len(run) - 8) + run[-4:]
    return run[:4] + "*" * (len(run) - 4)


def mask_spoken(text: str) -> str:
    """Mask runs of 6+ spoken number words ("tiga satu tujuh dua ...") in a transcript."""
    words = (text or "").split(" ")
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if len(run) >= 6:
            keep_tail = 4 if len(run) >= 12 else 0
            hidden = len(run) - 4 - keep_tail
            out.extend(run[:4] + ["*"] * hidden + (run[-keep_tail:] if keep_tail else []))
        else:
            out.extend(run)
        run.clear()

    for word in words:
        if word in _NUMBER_WORDS or word.isdigit():
            run.append(word)
        else:
            flush()
            out.append(word)
    flush()
    return mask_digits(" ".join(out))


def scrub(value: object) -> tuple[object, bool]:
    """Mask digit runs and spoken numbers in any JSON-like value; says whether anything changed."""
    if isinstance(value, str):
        masked = mask_spoken(value)
        return masked, masked != value
    if isinstance(value, dict):
        changed = False
        out = {}
        for k, v in value.items():
            out[k], c = scrub(v)
            changed |= c
        return out, changed
    if isinstance(value, (list, tuple)):
        items = [scrub(v) for v in value]
        return [v for v, _ in items], any(c for _, c in items)
    return value, False

"""Passwords, the first administrator, and login throttling.

Passwords are hashed with argon2id (argon2-cffi); the store only ever sees the hash.
Throttling is per user name, per client address and, as a last line against guesses
spread over many addresses and names, on all failures together; in memory (per
process), with an injectable clock so tests can move time without sleeping.  The client
address is the connecting peer's unless it is a configured proxy (``IVR_TRUSTED_PROXIES``),
so a made-up X-Forwarded-For header cannot pick a fresh address for each guess.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ivr.errors import StoreError

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin"
ADMIN_PASSWORD_ENV = "IVR_ADMIN_PASSWORD"
MIN_PASSWORD = 8
ROLES = ("operator", "admin")

_hasher = PasswordHasher()
_dummy: dict[int, str] = {}


def _dummy_hash() -> str:
    # A real hash to verify against when the user does not exist, so an unknown name costs
    # the same time as a wrong password (no user enumeration by timing).
    key = id(_hasher)
    if key not in _dummy:
        _dummy[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy[key]


def hash_password(password: str) -> str:
    check_password(password)
    return _hasher.hash(password)


def check_password(password: str) -> None:
    """Raise ValueError (in Indonesian, shown to administrators) for an unusable password."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"kata sandi minimal {MIN_PASSWORD} karakter")
    if password.strip() != password:
        raise ValueError("kata sandi tidak boleh diawali atau diakhiri spasi")


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def ensure_first_admin(store, settings) -> str | None:
    """Create the first administrator on a fresh install.

    The password comes from ``IVR_ADMIN_PASSWORD`` when set; otherwise a random one is
    generated and returned (the caller prints it once).  Returns None when an
    administrator already exists or the password came from the environment.
    """
    if any(u.role == "admin" for u in store.list_users()):
        return None
    given = os.environ.get(ADMIN_PASSWORD_ENV, "")
    password = given or secrets.token_urlsafe(12)
    try:
        store.create_user(FIRST_ADMIN, "admin", hash_password(password), by="setup")
    except StoreError:
        # another instance created it at the same moment, or the name is taken by an operator
        if any(u.role == "admin" for u in store.list_users()):
            return None
        raise
    log.info("created the first administrator %r", FIRST_ADMIN)
    return None if given else password


MAX_TRACKED = 10_000


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int = 5          # failures allowed inside the window ...
    window_s: float = 15 * 60      # ... before sign-in is refused until they age out
    global_max_failures: int = 20  # failures from all addresses and names together ...
    global_window_s: float = 60    # ... in this window pause every sign-in (0 failures: no cap)


class LoginThrottle:
    """Counts failed sign-ins per user name, per client address, and all together.

    Once either key has ``max_failures`` failures inside the window, sign-in for it is
    refused (even with the right password) until the oldest failure leaves the window.
    Once ``global_max_failures`` failures from anywhere fall inside ``global_window_s``,
    every sign-in is refused until the oldest of them leaves that window: someone is
    guessing from many addresses, and a short pause for everyone is the price of not
    letting them go on.  Sessions already signed in are not touched.
    """

    def __init__(self, policy: ThrottlePolicy = ThrottlePolicy(), clock: Callable[[], float] = time.monotonic):
        self.policy = policy
        self.clock = clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque(maxlen=max(1, policy.global_max_failures))
        self._lock = threading.Lock()
        self._paused_since: float | None = None

    def global_retry_after(self) -> float:
        """Seconds until anyone may sign in again after a burst of failures (0: now)."""
        limit = self.policy.global_max_failures
        if limit <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            if len(self._all) < limit:
                return 0.0
            wait = self._all[0] + self.policy.global_window_s - now
            if wait > 0 and self._paused_since is None:
                self._paused_since = now
                # an attack in progress: say so once per pause, without names or addresses
                log.warning("sign-in paused for everyone: %d failed sign-ins within %d s", limit,
                            int(self.policy.global_window_s))
            elif wait <= 0:
                self._paused_since = None
            return max(0.0, wait)

    def _keys(self, name: str, address: str) -> tuple[str, str]:
        return "user:" + name.strip().lower(), "addr:" + address

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] >= self.policy.window_s:
            q.popleft()
        return q

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until sign-in may be tried again (0 when it may be tried now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                q = self._prune(key, now)
                if len(q) >= self.policy.max_failures:
                    wait = max(wait, q[-self.policy.max_failures] + self.policy.window_s - now)
        return wait

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys(name, address):
                self._prune(key, now).append(now)
            self._all.append(now)           # keeps only the last ``global_max_failures``
            if len(self._failures) > MAX_TRACKED:
                # many made-up names: forget the keys whose failures have all aged out
                for key in [k for k in self._failures if not self._prune(k, now)]:
                    del self._failures[key]

    def succeeded(self, name: str, address: str) -> None:
        # the user proved who they are; the address keeps its count (one address, many names)
        with self._lock:
            self._failures.pop(self._keys(name, address)[0], None)

"""Database exceptions become ``StoreError`` whose message names the operation, never the data."""

from __future__ import annotations

import datetime as dt
import functools
from typing import Callable, ParamSpec, TypeVar

from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ivr.errors import StoreError
from ivr.store import protect

P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn database exceptions into StoreError, naming the operation but no data."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except IntegrityError as exc:
            err = StoreError(f"{fn.__name__}: constraint violated ({short(exc)})")
            err.retryable = False       # the same write will fail the same way
            raise err from None
        except SQLAlchemyError as exc:
            raise StoreError(f"{fn.__name__}: database unavailable ({short(exc)})") from None

    return wrapper


def short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else type(exc).__name__).strip().splitlines()
    # driver messages can quote values; only hashes and masks are ever bound, but mask anyway
    return protect.mask_digits(text[0] if text else type(exc).__name__)[:200]


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

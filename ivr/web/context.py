"""What every request handler needs, built once by ``create_app`` and kept on ``app.state``."""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo

from fastapi.templating import Jinja2Templates

from ivr.config import Settings
from ivr.web.auth import LoginThrottle
from ivr.web.jobs import ImportJobs
from ivr.web.sessions import SessionCodec

# render(catalog_path, audio_dir, prompt_ids) -> ivr.prompts.render.BuildReport (blocking)
Renderer = Callable[[Path, Path, list[str]], object]
# preview(text, audio_dir) -> prompt id of the rendered text under audio_dir (blocking)
Previewer = Callable[[str, Path], str]


def default_renderer(catalog_path: Path, audio_dir: Path, ids: list[str]):
    from ivr.prompts.render import build

    return build(catalog_path, audio_dir, only=ids, progress=False)


def default_previewer(text: str, audio_dir: Path) -> str:
    from ivr.prompts.render import ensure_spoken

    return ensure_spoken(text, audio_dir)


@dataclass
class WebContext:
    settings: Settings
    store: object | None                 # SqlStore; built in the lifespan when not given
    codec: SessionCodec
    throttle: LoginThrottle
    templates: Jinja2Templates
    tz: ZoneInfo
    now: Callable[[], dt.datetime]       # aware wall clock (today's date for the overview)
    renderer: Renderer = default_renderer
    previewer: Previewer = default_previewer
    max_upload_bytes: int = 20 * 1024 * 1024
    inline_check_bytes: int = 1024 * 1024     # a list up to this size is checked while the request waits
    inline_apply_rows: int = 20_000           # a checked list up to this many rows is applied likewise
    jobs: ImportJobs = field(default_factory=lambda: ImportJobs(lambda: dt.datetime.now(dt.timezone.utc)))
    overview_ttl_s: float = 60.0         # the overview's figures are reused this long (0: never)
    clock: Callable[[], float] = time.monotonic
    first_admin_password: str | None = field(default=None, repr=False)
    _catalog: tuple[float, object] | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)
    _cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def cached(self, key: tuple, ttl_s: float, compute: Callable[[], object]):
        """``compute()``'s result, reused for ``ttl_s`` seconds (a few busy pages, one query)."""
        now = self.clock()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and ttl_s > 0 and now - hit[0] < ttl_s:
                return hit[1]
        value = compute()
        with self._cache_lock:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def catalog(self):
        """The prompt catalog, re-read when the file changes (an edit on the prompts page)."""
        from ivr.prompts.catalog import CatalogError, load_catalog

        try:
            mtime = self.catalog_path.stat().st_mtime_ns
        except OSError:
            return None
        if self._catalog is None or self._catalog[0] != mtime:
            try:
                self._catalog = (mtime, load_catalog(self.catalog_path))
            except CatalogError:
                return None
        return self._catalog[1]

    @property
    def catalog_path(self) -> Path:
        return self.settings.prompts_dir / "prompts.toml"

    @property
    def uploads_dir(self) -> Path:
        return self.settings.data_dir / "uploads"

    @property
    def preview_dir(self) -> Path:
        return self.settings.data_dir / "prompt-preview"

"""Settings, built once in the entry point and passed down.

Every setting comes from the environment with the ``IVR_`` prefix (or a ``.env``
file).  Nothing here runs at import time: call :func:`get_settings` from a command.
Secrets have no fixed default: in development they are generated once and kept in
the data directory; in production a missing secret is an error.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import secrets
from pathlib import Path
from typing import Literal

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ivr.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent


def _strict_bool(value: object) -> object:
    """Only true/false: "yes", "1" or "on" are more likely typos than intent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValueError("must be true or false")


StrictBool = Annotated[bool, BeforeValidator(_strict_bool)]


def _default_prompts_dir() -> Path:
    return REPO_ROOT / "prompts"


def _default_grammars_dir() -> Path:
    return REPO_ROOT / "grammars"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IVR_", env_file=".env", extra="ignore")

    env: Literal["development", "production", "test"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""                      # default: sqlite file in data_dir
    # FastAGI listens where Asterisk connects from: loopback by default (Asterisk on this
    # machine); a container network or the Asterisk box's LAN address in deployment.
    agi_host: str = "127.0.0.1"
    agi_port: int = Field(4573, ge=0, le=65535)   # 0: any free port (tests)
    agi_header_timeout_s: float = Field(5.0, gt=0, le=60)  # Asterisk sends its header at once
    agi_max_calls: int = Field(1000, ge=1)
    web_host: str = "0.0.0.0"
    web_port: int = Field(8000, ge=1, le=65535)
    web_enabled: StrictBool = True
    trusted_proxies: str = ""                   # addresses/networks whose X-Forwarded-For is believed
    login_failures_per_minute: int = Field(20, ge=0)   # failed sign-ins, all addresses together; 0: no cap
    prompts_dir: Path = Field(default_factory=_default_prompts_dir)
    grammars_dir: Path = Field(default_factory=_default_grammars_dir)
    asterisk_sounds: str = "/var/lib/asterisk/sounds/id/hotline"
    spool_dir: Path | None = None               # service side; default data_dir/spool
    asterisk_spool: str = ""                    # same folder as Asterisk sees it; default = spool_dir
    vosk_model: Path | None = None              # default: the bundled model
    speech_enabled: StrictBool = True
    decode_workers: int = Field(0, ge=0)        # 0 = number of cores
    secret_key: str = ""                        # keys NIK hashes and encryption; generated in development
    demo_data: StrictBool = True                # load demo recipients into an empty store
    operator_app: Literal["Queue", "Dial"] = "Queue"
    operator_target: str = "operators"          # queue name, or Dial target such as PJSIP/operator
    operator_wait_s: int = Field(300, ge=10, le=3600)   # longest wait for an operator before the callback offer
    office_open: dt.time = dt.time(8, 0)
    office_close: dt.time = dt.time(16, 0)
    office_days: str = "0,1,2,3,4"              # Monday=0
    timezone: str = "Asia/Jakarta"
    max_tries: int = Field(3, ge=1, le=9)
    min_confidence: float = Field(0.5, ge=0.0, le=1.0)   # spoken yes/no/menu answers below it are asked again
    yes_margin: float = Field(4.0, ge=0.0)    # a spoken yes must beat the best no by this (log units)
    no_margin: float = Field(1.0, ge=0.0)     # ... and a spoken no the best yes by this
    home_province: str = Field("31", pattern=r"^[1-9][0-9]$")   # NIK province code of the line's callers
    record_max_s: int = Field(20, ge=3, le=120)
    record_silence_s: int = Field(2, ge=1, le=10)
    listen_start_s: int = Field(8, ge=0, le=30)  # how long a question waits for a caller to start speaking
    complaint_max_s: int = Field(90, ge=10, le=600)
    keys_timeout_ms: int = Field(6000, ge=1000, le=60000)
    speech_transport: Literal["audiosocket", "record"] = "audiosocket"
    audiosocket_host: str = "127.0.0.1"         # where Asterisk reaches our AudioSocket server
    audiosocket_port: int = Field(4574, ge=0, le=65535)   # 0: any free port (tests)
    audiosocket_bind: str = "127.0.0.1"         # the address our AudioSocket server listens on
    speech_end_s: float = Field(1.2, ge=0.5, le=5.0)           # pause that ends a yes/no or menu answer
    speech_end_digits_s: float = Field(2.0, ge=0.5, le=5.0)    # pause that ends a NIK answer
    keep_training_audio: StrictBool = True      # keep confirmed NIK utterances as training data
    max_upload_mb: int = Field(20, ge=1, le=2048)   # largest recipient list the web page takes
    log_level: str = "INFO"
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(5038, ge=1, le=65535)
    ami_user: str = ""
    ami_secret: str = ""
    # Lookups and other queries a caller waits on: slower than this (a lock held, a
    # hung server) and the caller hears the apology; call-log writes go to the journal.
    db_timeout_s: float = Field(3.0, gt=0, le=60)
    # outbound calls (reminder campaigns, callbacks); the dialer runs when AMI is configured
    outbound_enabled: StrictBool = True
    outbound_channel: str = "PJSIP/{number}@trunk-endpoint"   # Originate Channel; {number} = resident
    outbound_caller_id: str = ""                # the number residents see (the hotline's own)
    outbound_max_lines: int = Field(30, ge=1, le=1000)   # calls up at once, per instance
    callback_tries: int = Field(3, ge=1, le=10)
    callback_retry_minutes: int = Field(30, ge=1, le=1440)
    instance_name: str = ""                     # names this instance on claimed attempts; default host-pid

    @field_validator("outbound_channel")
    @classmethod
    def _channel(cls, v: str) -> str:
        if "{number}" not in v or "/" not in v or any(c in v for c in "\r\n"):
            raise ValueError("IVR_OUTBOUND_CHANNEL must look like PJSIP/{number}@endpoint")
        return v

    @field_validator("office_days")
    @classmethod
    def _days(cls, v: str) -> str:
        try:
            days = {int(x) for x in v.split(",") if x.strip()}
        except ValueError as exc:
            raise ValueError("IVR_OFFICE_DAYS must be numbers 0-6 separated by commas (Monday=0)") from exc
        if not days <= set(range(7)):
            raise ValueError("IVR_OFFICE_DAYS must be numbers 0-6 (Monday=0)")
        return v

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: str) -> str:
        for item in (x.strip() for x in v.split(",")):
            if not item:
                continue
            if item == "*":
                # anyone could then claim any address and walk past the sign-in throttle
                raise ValueError("IVR_TRUSTED_PROXIES must list the proxies' addresses; '*' is not allowed")
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"IVR_TRUSTED_PROXIES: {item!r} is not an IP address or network "
                                 "(e.g. 127.0.0.1, 10.0.0.0/8)") from None
        return v

    # --- derived values -----------------------------------------------------------
    @property
    def proxies(self) -> list[str]:
        """The trusted proxies as a list (empty: X-Forwarded-For is never believed)."""
        return [x.strip() for x in self.trusted_proxies.split(",") if x.strip()]

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'hotline.db').resolve()}"

    @property
    def spool(self) -> Path:
        return (self.spool_dir or self.data_dir / "spool").resolve()

    @property
    def asterisk_spool_dir(self) -> str:
        return self.asterisk_spool or str(self.spool)

    @property
    def audio_dir(self) -> Path:
        """Rendered prompt audio (the folder Asterisk sees as ``asterisk_sounds``)."""
        return self.prompts_dir / "audio"

    @property
    def open_days(self) -> frozenset[int]:
        return frozenset(int(x) for x in self.office_days.split(",") if x.strip())

    def secret(self) -> bytes:
        """The key for NIK hashing and personal-data encryption."""
        if self.secret_key:
            if len(self.secret_key) < 16:
                raise ConfigError("IVR_SECRET_KEY must be at least 16 characters")
            return self.secret_key.encode()
        if self.env == "production":
            raise ConfigError("IVR_SECRET_KEY must be set in production (no default secret is used)")
        key_file = self.data_dir / "secret.key"
        if not key_file.exists():
            import os

            from ivr.store.files import create_private, private_dir

            private_dir(key_file.parent)
            try:
                with os.fdopen(create_private(key_file), "w") as f:     # 0600 from the start
                    f.write(secrets.token_urlsafe(48))
            except FileExistsError:
                pass                                                    # another process made it first
        return key_file.read_text().strip().encode()


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once per process, turning validation errors into ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "IVR_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']}")
        raise ConfigError("bad setting: " + "; ".join(lines)) from None

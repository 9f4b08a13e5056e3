"""The hub's settings: one pydantic-settings object.

Precedence, highest first: environment variables with prefix ``PACS_HUB_``, the TOML file named
by ``PACS_HUB_CONFIG``, then the defaults below. Read them through :func:`get_settings`, which
caches; tests call :func:`override_settings` or ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from hub.errors import ConfigError

ENV_PREFIX = "PACS_HUB_"
#: The development placeholder secret; refused when ``environment = "production"``.
DEV_SECRET_KEY = "dev-only-insecure-secret-key-change-me"


class DicomOptions(BaseModel):
    """The ``[dicom]`` table of the TOML file: the SCP's access rules and limits."""

    #: True: only ``[[peers]]`` may open associations (C-FIND/GET/MOVE always need a peer).
    require_known_callers: bool = False
    #: Associations served at once; more are rejected (transient, "local limit exceeded").
    max_associations: int = Field(default=16, ge=1)
    #: Seconds to wait for an association request / release (ACSE).
    acse_timeout: float = Field(default=30.0, gt=0)
    #: Seconds to wait for the next DIMSE message of an open association.
    dimse_timeout: float = Field(default=60.0, gt=0)
    #: Seconds without any network traffic before an association is aborted.
    network_timeout: float = Field(default=60.0, gt=0)
    #: Largest PDU the SCP accepts (bytes); 128 KiB measured ~30 % faster than 16 KiB.
    max_pdu: int = Field(default=131072, ge=4096, le=4194304)
    #: An association open longer than this is aborted, however it trickles (seconds).
    max_association_seconds: float = Field(default=3600.0, gt=0)
    #: After the association that brought a series is released, the series is complete once
    #: this many seconds pass with nothing new (the quiet period applies otherwise).
    release_grace_seconds: float = Field(default=2.0, ge=0)
    #: Instances arriving for an already completed series: ``rerun`` (a new, marked run of
    #: its models) or ``ignore`` (stored, not routed again).
    late_instances: Literal["rerun", "ignore"] = "rerun"


class Peer(BaseModel):
    """A known DICOM node (``[[peers]]``): an allowed caller and a possible result destination."""

    name: str
    ae_title: str = Field(max_length=16)
    host: str
    port: int = Field(ge=1, le=65535)


class Route(BaseModel):
    """A routing rule (``[[routes]]``); evaluated in order, first match wins unless ``continue``."""

    name: str
    match: dict[str, str] = Field(default_factory=dict)
    models: list[str] | None = None
    send_to: list[str] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    #: Job priority of the series this route matches.
    priority: Literal["urgent", "normal", "off-peak"] = "normal"

    @field_validator("match")
    @classmethod
    def _check_match(cls, value: dict[str, str]) -> dict[str, str]:
        import re

        from pydicom.datadict import dictionary_has_tag, tag_for_keyword

        for key, pattern in value.items():
            if key not in ("calling_ae", "called_ae"):
                tag = tag_for_keyword(key)
                if tag is None or not dictionary_has_tag(tag):
                    raise ValueError(
                        f"match key {key!r} is not a DICOM keyword nor calling_ae/called_ae"
                    )
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"match {key} = {pattern!r} is not a valid regex: {exc}") from None
        return value


class InferenceOptions(BaseModel):
    """The ``[inference]`` table: how ONNX Runtime runs."""

    #: ``auto`` uses CUDA when onnxruntime offers it and CPU otherwise.
    providers: list[str] | Literal["auto"] = "auto"
    #: 0 lets ONNX Runtime choose.
    intra_op_threads: int = Field(default=0, ge=0)
    inter_op_threads: int = Field(default=0, ge=0)
    #: Slices per ``session.run`` call for 2D models (when the graph's batch axis is dynamic).
    batch_size: int = Field(default=8, ge=1)


class JobsOptions(BaseModel):
    """The ``[jobs]`` table: time limits, retries and recovery of inference jobs.

    A model's soft time limit is ``time_limits[name]`` or ``default_time_limit``; its hard limit
    (the worker process is killed) comes ``hard_limit_grace`` seconds later.
    """

    default_time_limit: float = Field(default=600.0, gt=0)
    #: Per-model overrides, ``[jobs.time_limits] "ct-lung-seg" = 600``.
    time_limits: dict[str, float] = Field(default_factory=dict)
    hard_limit_grace: float = Field(default=10.0, gt=0)
    #: Queue per model (``[jobs.queues] "ct-lung-seg" = "gpu"``); others go to ``default``.
    #: A worker consumes the queues named by ``pacs-hub worker --queues``.
    queues: dict[str, str] = Field(default_factory=dict)
    #: Retries of transient faults (database, disk, broker); deterministic errors never retry.
    max_retries: int = Field(default=3, ge=0)
    #: First retry delay in seconds; doubled for each further attempt.
    retry_backoff: float = Field(default=5.0, ge=0)
    #: A running job whose heartbeat is older than this is taken to have lost its worker
    #: and is queued again.
    lease_seconds: float = Field(default=60.0, gt=0)
    #: Processes per worker (``pacs-hub worker --concurrency``); 0 means the CPU count.
    concurrency: int = Field(default=0, ge=0)
    #: Prefix of every Redis key of the broker, so several hubs (or test runs) can share one
    #: Redis database without taking each other's messages.
    broker_key_prefix: str = ""

    def time_limit(self, model_name: str) -> float:
        """The soft time limit of ``model_name`` in seconds."""
        return float(self.time_limits.get(model_name, self.default_time_limit))

    @property
    def longest_time_limit(self) -> float:
        """The largest hard limit of any model (the Redis visibility timeout must exceed it)."""
        return max([self.default_time_limit, *self.time_limits.values()]) + self.hard_limit_grace


class StorageOptions(BaseModel):
    """The ``[storage]`` table: how received instances are written."""

    #: Free space (MiB) the data directory keeps; below it, stores fail with OutOfSpaceError
    #: and the SCP answers "out of resources".
    min_free_mb: int = Field(default=500, ge=0)
    #: Record each file's SHA-256 in the index (one extra read of the file, page-cache hot).
    checksums: bool = True


class OutboxOptions(BaseModel):
    """The ``[outbox]`` table: delivery of results to ``send_to`` peers by C-STORE."""

    #: Attempts before an item goes to the dead-letter state (re-sendable by an admin).
    max_attempts: int = Field(default=6, ge=1)
    #: First retry delay (seconds), doubled per attempt up to ``backoff_max``.
    backoff: float = Field(default=10.0, ge=0)
    backoff_max: float = Field(default=900.0, ge=0)
    #: Seconds per network step of a delivery (connect, each C-STORE response).
    timeout: float = Field(default=30.0, gt=0)


class ApiOptions(BaseModel):
    """The ``[api]`` table: limits of the REST API's uploads and waits, and readiness."""

    #: Largest request body of an upload (``/models/{name}/infer``, ``/dicom/upload``,
    #: ``/dicom/parse``) in bytes; larger ones answer 413 before or while they stream in.
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024)
    #: Files in one upload (multipart parts plus zip entries) at most.
    max_files: int = Field(default=10000, ge=1)
    #: Bytes the files of an uploaded zip may expand to at most (checked in the central
    #: directory before extracting, and counted while extracting).
    max_expanded_bytes: int = Field(default=4 * 1024**3, ge=1024)
    #: Largest ``?wait=`` of ``POST /models/{name}/infer`` (seconds).
    max_wait_seconds: float = Field(default=600.0, ge=0)
    #: Sub-checks of ``GET /api/v1/health/ready`` that make it answer 503 when they fail;
    #: the others (``scp``, ``models`` by default) are reported only.
    ready_requires: list[Literal["database", "broker", "storage", "scp", "models"]] = Field(
        default_factory=lambda: ["database", "broker", "storage"]
    )


class WebOptions(BaseModel):
    """The ``[web]`` table: the web app's sign-in throttling.

    Failed sign-ins are counted from the audit log (``login_failed`` events). At the limit, a
    password sign-in is refused with 429 (even with the right password) until enough of the
    counted failures are older than the window; a successful sign-in resets nothing.
    """

    #: Failed sign-ins for one user name (any case) within the window that lock its
    #: password sign-in.
    login_max_failures: int = Field(default=10, ge=1)
    #: Failed sign-ins from one client address (all user names together) within the window
    #: that lock password sign-in from that address.
    login_max_failures_per_ip: int = Field(default=50, ge=1)
    #: The window (minutes) in which failures count; a lock lifts once fewer than the limit
    #: are this recent.
    login_window_minutes: float = Field(default=15.0, gt=0)


class TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by ``PACS_HUB_CONFIG`` (top-level keys and tables)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.data = load_toml(os.environ.get(ENV_PREFIX + "CONFIG"))

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.data)


def load_toml(path: str | None) -> dict[str, Any]:
    """Load the configuration file, mapping upper-case scalar keys to field names."""
    if not path:
        return {}
    file = Path(path)
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"configuration file {file} (PACS_HUB_CONFIG) does not exist",
            "create it or unset PACS_HUB_CONFIG",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"configuration file {file} is not valid TOML: {exc}",
            "fix the syntax error at the position shown",
        ) from None
    return {key.lower(): value for key, value in raw.items()}


class Settings(BaseSettings):
    """All hub settings. Field names are the env variable names without ``PACS_HUB_``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", populate_by_name=True, case_sensitive=False
    )

    data_dir: Path = Path("./hub-data")
    http_port: int = Field(default=8000, ge=1, le=65535)
    dicom_port: int = Field(default=11112, ge=0, le=65535)
    ae_title: str = Field(default="PACSHUB", min_length=1, max_length=16)
    database_url: str | None = None
    broker_url: str | None = None
    series_quiet_seconds: float = Field(default=10.0, gt=0)
    #: Extra plugin modules or files to load, after built-ins and entry points.
    plugin_paths: list[str] = Field(default_factory=list)
    #: Plugin (entry-point) names or model names not to load.
    disabled_plugins: list[str] = Field(default_factory=list)
    environment: Literal["development", "production"] = "development"
    #: Signs sessions and tokens (web); set PACS_HUB_SECRET_KEY in production.
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    #: ``json``: one JSON object per log line (hub.logs); ``text``: human-readable lines.
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "WARNING"

    dicom: DicomOptions = Field(default_factory=DicomOptions)
    peers: list[Peer] = Field(default_factory=list)
    routes: list[Route] = Field(default_factory=list)
    inference: InferenceOptions = Field(default_factory=InferenceOptions)
    jobs: JobsOptions = Field(default_factory=JobsOptions)
    storage: StorageOptions = Field(default_factory=StorageOptions)
    outbox: OutboxOptions = Field(default_factory=OutboxOptions)
    api: ApiOptions = Field(default_factory=ApiOptions)
    web: WebOptions = Field(default_factory=WebOptions)

    @field_validator("ae_title")
    @classmethod
    def _check_ae_title(cls, value: str) -> str:
        if value != value.strip() or "\\" in value or not value.isascii():
            raise ValueError("an AE title is 1-16 ASCII characters without backslash")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_log_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> Settings:
        if self.environment == "production" and (
            self.secret_key.get_secret_value() == DEV_SECRET_KEY
            or len(self.secret_key.get_secret_value()) < 32
        ):
            raise ValueError(
                "secret_key is the development placeholder or shorter than 32 characters"
            )
        return self

    @model_validator(mode="after")
    def _routes_send_to_known_peers(self) -> Settings:
        names = [peer.name for peer in self.peers]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"peer names must be unique; repeated: {', '.join(duplicates)}")
        for route in self.routes:
            unknown = [name for name in route.send_to if name not in names]
            if unknown:
                raise ValueError(
                    f"route {route.name!r} sends to unknown peer(s) {', '.join(unknown)}; "
                    f"known peers: {', '.join(names) or 'none'}"
                )
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to SQLite in the data directory."""
        return self.database_url or f"sqlite:///{(self.data_dir / 'hub.sqlite3').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlSource(settings_cls))


def build_settings(**overrides: Any) -> Settings:
    """Build a fresh settings object, translating validation errors to :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        if not where:  # a check across fields; its message names them
            raise ConfigError(
                f"invalid settings: {first['msg']}",
                "fix the named setting in the environment or the PACS_HUB_CONFIG file",
            ) from None
        raise ConfigError(
            f"invalid setting '{where}': {first['msg']}", _fix_for(first["loc"])
        ) from None


def _fix_for(loc: tuple[int | str, ...]) -> str:
    """Where to set the value at ``loc``: an env variable, a TOML table key or list entry."""
    where = ".".join(str(part) for part in loc)
    if len(loc) == 1:
        return (f"set PACS_HUB_{where.upper()} or '{where}' in the PACS_HUB_CONFIG file "
                "to a valid value")
    table, rest = str(loc[0]), ".".join(str(part) for part in loc[1:])
    if isinstance(loc[1], int):
        key = ".".join(str(part) for part in loc[2:])
        what = f"'{key}' in entry {loc[1]}" if key else f"entry {loc[1]}"
        return f"correct {what} (counted from 0) of [[{table}]] in the PACS_HUB_CONFIG file"
    return (f"set '{rest}' in the [{table}] table of the PACS_HUB_CONFIG file (or "
            f"PACS_HUB_{table.upper()} to a JSON object) to a valid value")


_OVERRIDE: list[Settings] = []


@functools.cache
def _cached_settings() -> Settings:
    return build_settings()


def get_settings() -> Settings:
    """The process-wide settings, built once (or the object set by :func:`override_settings`)."""
    return _OVERRIDE[-1] if _OVERRIDE else _cached_settings()


def override_settings(**overrides: Any) -> Settings:
    """Use settings built from ``overrides`` (over env and file) until :func:`reset_settings`."""
    settings = build_settings(**overrides)
    _OVERRIDE.append(settings)
    return settings


def reset_settings() -> None:
    """Forget overrides and the cache, so the next call re-reads env and file."""
    _OVERRIDE.clear()
    _cached_settings.cache_clear()

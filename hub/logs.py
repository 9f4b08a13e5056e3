"""Logging set-up for every hub process: text or JSON lines, never patient identifiers.

``PACS_HUB_LOG_FORMAT=json`` switches to one JSON object per line with ``time``, ``level``,
``logger``, ``message`` and, when a call passes them in ``extra``, ``job_id`` and
``series_uid``::

    log.info("job started", extra={"job_id": job.pk, "series_uid": job.series_instance_uid})

Whatever the format, :class:`PatientDataFilter` sits on the handler, so it sees every record of
every logger before it is written: it drops identifying attributes passed in ``extra``
(``PatientName``, ``patient_id``, any DICOM keyword of group 0010, …) and scrubs their values, and
the values of any pydicom ``Dataset`` given as a format argument, from the message.
``PACS_HUB_LOG_LEVEL`` sets the root level (default WARNING).
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

REDACTED = "[redacted]"
#: Attributes the JSON formatter copies from ``extra`` when present.
CONTEXT_FIELDS = ("job_id", "series_uid")
#: Keywords outside group 0010 that still identify a patient or visit.
EXTRA_IDENTIFYING_KEYWORDS = frozenset({"AccessionNumber", "ReferringPhysicianName"})
#: Lines of a printed dataset holding identifying elements: everything after the VR. Two
#: shapes: pydicom's ``(0010,0010) Patient's Name   PN: 'Doe^Jane'`` and pynetdicom's
#: identifier dumps ``(0010,0010) PN [Doe^Jane]   # 1 PatientName``.
_DATASET_LINE = re.compile(
    r"(\((?:0010,[0-9a-f]{4}|0008,0050|0008,0090)\)\s*(?:[A-Z]{2}(?=\s*\[)|[^\n:]*:))[^\n]*",
    re.I,
)
#: Shortest value scrubbed by substitution (shorter ones would mangle ordinary words).
_MIN_SCRUB_LENGTH = 3
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({})))


def is_identifying(name: str) -> bool:
    """Whether an ``extra`` attribute name denotes a patient identifier."""
    squashed = name.replace("_", "").lower()
    if squashed.startswith("patient") or squashed in {"accessionnumber", "referringphysicianname"}:
        return True
    from pydicom.datadict import tag_for_keyword

    tag = tag_for_keyword(name)
    return name in EXTRA_IDENTIFYING_KEYWORDS or (tag is not None and tag >> 16 == 0x0010)


def _dataset_values(dataset: Any) -> list[str]:
    """Identifying values of a pydicom dataset (group 0010 and the extra keywords)."""
    values: list[str] = []
    try:
        elements = list(dataset)
    except Exception:  # pragma: no cover - not a dataset after all
        return values
    for element in elements:
        if element.tag.group == 0x0010 or element.keyword in EXTRA_IDENTIFYING_KEYWORDS:
            values.extend(_value_strings(element.value))
    return values


def _value_strings(value: Any) -> list[str]:
    """``value`` as the strings that could show up in a message (and a name's components)."""
    if value is None or isinstance(value, bytes | bytearray):
        return []
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return [text for item in value for text in _value_strings(item)]
    text = str(value)
    parts = [text] + [part for part in re.split(r"[\^=\s]+", text) if part != text]
    return [part for part in parts if len(part) >= _MIN_SCRUB_LENGTH]


def scrub(text: str, values: list[str]) -> str:
    """``text`` with identifying dataset lines and every one of ``values`` redacted."""
    text = _DATASET_LINE.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    for value in sorted(set(values), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


class PatientDataFilter(logging.Filter):
    """Removes patient identifiers from a record before any formatter sees it (never drops it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        values: list[str] = []
        for name in list(vars(record)):
            if name not in _RECORD_ATTRIBUTES and is_identifying(name):
                values.extend(_value_strings(getattr(record, name)))
                setattr(record, name, REDACTED)
        args = record.args if isinstance(record.args, tuple) else (record.args,)
        for arg in args:
            if type(arg).__name__ in {"Dataset", "FileDataset"}:
                values.extend(_dataset_values(arg))
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let logging report it as usual
            return True
        record.msg, record.args = scrub(message, values), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, values)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message and context."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                document[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        return json.dumps(document, default=str, ensure_ascii=False)


UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def logging_config(log_format: str = "text", level: str = "WARNING") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dict; uvicorn takes it too (for each worker)."""
    formatter: dict[str, Any] = (
        {"()": "hub.logs.JsonFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "hub",
        "filters": ["patient_data"],
    }
    propagate = {"handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"patient_data": {"()": "hub.logs.PatientDataFilter"}},
        "formatters": {"hub": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        # uvicorn's own loggers go through the same handler (and filter) as everything else.
        "loggers": {name: dict(propagate) for name in UVICORN_LOGGERS},
    }


def configure_logging(
    log_format: str | None = None, level: str | None = None, *, force: bool = False
) -> None:
    """Install the hub's handler on the root logger, from the arguments or the settings.

    Like :func:`logging.basicConfig`, does nothing when the root logger already has handlers
    that are not the hub's (an embedding application's, or pytest's), unless ``force``.
    """
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if getattr(handler, "pacs_hub", False)]
    if len(ours) != len(root.handlers) and not force:
        return
    if log_format is None or level is None:
        from hub.errors import HubError
        from hub.settings import get_settings

        try:
            settings = get_settings()
            log_format = log_format or settings.log_format
            level = level or settings.log_level
        except HubError:  # invalid settings are reported by the command that needs them
            log_format, level = log_format or "text", level or "WARNING"
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.pacs_hub = True  # type: ignore[attr-defined]
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    handler.addFilter(PatientDataFilter())
    root.addHandler(handler)
    root.setLevel(level)

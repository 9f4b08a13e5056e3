"""JSON log lines with job/series context, and no patient identifiers in any format."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from hub.logs import JsonFormatter, PatientDataFilter, is_identifying, logging_config
from hub.settings import build_settings

SECRETS = ("Doe^Jane", "Jane", "PID-998877", "19610203", "ACC123456")


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(PatientDataFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("hub.tests.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, buffer, handler
    logger.removeHandler(handler)
    logger.propagate = True


def patient_dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-998877"
    ds.PatientBirthDate = "19610203"
    ds.AccessionNumber = "ACC123456"
    ds.Modality = "CT"
    ds.SeriesInstanceUID = "1.2.3.4.5"
    return ds


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_line_has_time_level_logger_message_and_context(stream) -> None:
    logger, buffer, _ = stream
    logger.info("job %s started", 7, extra={"job_id": 7, "series_uid": "1.2.3.4"})
    (line,) = lines(buffer)
    assert line["level"] == "INFO" and line["logger"] == "hub.tests.logs"
    assert line["message"] == "job 7 started"
    assert line["job_id"] == 7 and line["series_uid"] == "1.2.3.4"
    assert str(line["time"]).endswith("+00:00")


def test_identifiers_in_extra_never_printed(stream) -> None:
    logger, buffer, _ = stream
    logger.warning(
        "received for Doe^Jane (PID-998877)",
        extra={"PatientName": "Doe^Jane", "patient_id": "PID-998877", "job_id": 1},
    )
    output = buffer.getvalue()
    assert not any(secret in output for secret in SECRETS), output
    assert lines(buffer)[0]["job_id"] == 1


def test_identifiers_in_a_formatted_dataset_never_printed(stream) -> None:
    logger, buffer, _ = stream
    ds = patient_dataset()
    logger.error("bad header:\n%s", ds)
    logger.error("repr: %r", ds)
    try:
        raise ValueError(f"cannot route {ds}")
    except ValueError:
        logger.exception("routing failed for %s", ds)
    output = buffer.getvalue()
    assert not any(secret in output for secret in SECRETS), output
    assert "1.2.3.4.5" in output and "CT" in output, "non-identifying values stay"


def test_pynetdicom_identifier_dumps_are_scrubbed(stream) -> None:
    """pynetdicom logs a query identifier as pre-formatted text: no dataset object to read the
    values from, only the dump lines (``(0010,0010) PN [value]``)."""
    logger, buffer, _ = stream
    dump = (
        "Find SCP Request Identifiers:\n"
        "(0008,0052) CS [STUDY]                                  # 1 QueryRetrieveLevel\n"
        "(0010,0010) PN [Zyxwv^Qutsr]                            # 1 PatientName\n"
        "(0010,0020) LO [ID-98765]                               # 1 PatientID\n"
        "(0008,0050) SH [ACC-5544]                               # 1 AccessionNumber\n"
    )
    logger.info(dump)
    output = buffer.getvalue()
    for secret in ("Zyxwv", "Qutsr", "ID-98765", "ACC-5544"):
        assert secret not in output, output
    assert "(0008,0052) CS [STUDY]" in output  # the rest of the dump stays


def test_text_format_filters_too() -> None:
    """The CLI's text lines pass the same filter (a subprocess, as a site runs it)."""
    code = (
        "import logging; from pydicom.dataset import Dataset\n"
        "from hub.logs import configure_logging\n"
        "configure_logging(force=True); ds = Dataset(); ds.PatientName = 'Doe^Jane'\n"
        "logging.getLogger('hub.x').warning('ds %s', ds, extra={'PatientID': 'PID-998877'})\n"
    )
    for log_format in ("text", "json"):
        env = os.environ | {"PACS_HUB_LOG_FORMAT": log_format}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert "hub.x" in done.stderr and "[redacted]" in done.stderr
        assert "Jane" not in done.stderr and "PID-998877" not in done.stderr
    assert json.loads(done.stderr.splitlines()[0])["logger"] == "hub.x"


def test_identifying_names() -> None:
    assert is_identifying("PatientName") and is_identifying("patient_birth_date")
    assert is_identifying("OtherPatientIDsSequence") and is_identifying("AccessionNumber")
    assert not is_identifying("job_id") and not is_identifying("SeriesInstanceUID")


def test_settings_select_format_and_level(tmp_path: Path) -> None:
    settings = build_settings(log_format="json", log_level="info")
    assert settings.log_level == "INFO"
    config = logging_config(settings.log_format, settings.log_level)
    assert config["formatters"]["hub"] == {"()": "hub.logs.JsonFormatter"}
    assert config["handlers"]["stderr"]["filters"] == ["patient_data"]

"""Helpers of the SCP tests: an in-process SCP on a free loopback port, dcmtk and pynetdicom
peers, and what landed in storage."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pydicom import Dataset
from pynetdicom import AE, _config
from pynetdicom.association import Association

from hub.dimse.scp import SCP
from hub.settings import get_settings, override_settings
from hub.storage import files
from hub.testing.validators import require_tool

#: The hub's AE title in these tests.
HUB_AE = "SCPHUB"


def configure(**settings: Any) -> None:
    """Settings for this test: our AE title plus ``settings`` (over env and file)."""
    override_settings(**{"ae_title": HUB_AE, **settings})


@contextmanager
def running_scp(*, store_loop: bool = True, **settings: Any) -> Iterator[SCP]:
    """An SCP on 127.0.0.1, a free port, with :func:`configure` d settings; stopped after.

    ``store_loop=False``: storage associations go through pynetdicom too.
    """
    configure(**settings)
    server = SCP(host="127.0.0.1", port=0, store_loop=store_loop).start()
    try:
        yield server
    finally:
        server.stop()


def dcmtk(name: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a dcmtk tool (``TCP_NODELAY=1``) and return what it printed (never raises)."""
    tool = require_tool(name)
    return subprocess.run(
        [tool, *args], env={**os.environ, "TCP_NODELAY": "1"},
        capture_output=True, text=True, timeout=timeout, check=False,
    )


def echoscu(port: int, *, called: str = HUB_AE, calling: str = "ECHOSCU") -> Any:
    """``echoscu`` the SCP; returns the completed process."""
    return dcmtk("echoscu", "-aet", calling, "-aec", called, "127.0.0.1", str(port))


def storescu(
    port: int, paths: list[Path], *options: str, called: str = HUB_AE, calling: str = "STORESCU"
) -> Any:
    """``storescu`` ``paths`` to the SCP (debug output, so statuses show); the completed process."""
    return dcmtk(
        "storescu", "-d", "-aet", calling, "-aec", called, *options,
        "127.0.0.1", str(port), *map(str, paths),
    )


def store_statuses(output: str) -> list[int]:
    """The C-STORE response statuses ``storescu -d`` printed, in order."""
    return [int(code, 16) for code in re.findall(r"DIMSE Status\s*: 0x([0-9A-Fa-f]{4})", output)]


def error_comments(output: str) -> list[str]:
    """The ErrorComment values of the responses ``storescu -d`` printed."""
    return re.findall(r"\(0000,0902\) LO \[(.*?)\]", output)


def associate(port: int, contexts: list[Any], *, calling: str = "PYSCU",
              called: str = HUB_AE, **kwargs: Any) -> Association:
    """A pynetdicom association to the SCP requesting ``contexts`` (SOP class UIDs)."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    for context in contexts:
        ae.add_requested_context(context, **kwargs)
    return ae.associate("127.0.0.1", port, ae_title=called)


@contextmanager
def chunked_send() -> Iterator[None]:
    """pynetdicom sends files as they are (needed for data sets a Dataset cannot describe)."""
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        yield
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old


def indexed_sop_uids() -> set[str]:
    """SOP Instance UIDs in the index."""
    from hub.storage.models import Instance

    return set(Instance.objects.values_list("sop_instance_uid", flat=True))


def stored_files() -> list[Path]:
    """Every ``.dcm`` file under ``DATA_DIR/instances`` (the spool excluded)."""
    root = files.data_dir() / files.INSTANCES
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*.dcm") if files.SPOOL not in p.parts)


def spool_files() -> list[Path]:
    """What is left in the spool folder."""
    folder = files.data_dir() / files.INSTANCES / files.SPOOL
    return sorted(folder.iterdir()) if folder.is_dir() else []


def nothing_written() -> bool:
    """No index row, no stored file and no spool leftover."""
    return not indexed_sop_uids() and not stored_files() and not spool_files()


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until true or ``timeout``; its last result."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.05)
    return check()


def status_of(rsp: Dataset | None) -> int | None:
    """The Status of a pynetdicom response (None when it never came)."""
    return None if rsp is None or "Status" not in rsp else int(rsp.Status)


def min_free_mb_unreachable() -> int:
    """A ``[storage] min_free_mb`` above the free space of the data directory's disk."""
    import shutil

    free = shutil.disk_usage(get_settings().data_dir.resolve().anchor or "/").free
    return free // (1024 * 1024) + 1024 * 1024


def encoded_associate_rq(
    contexts: list[tuple[int, str, list[str]]],
    *,
    called: str = HUB_AE,
    calling: str = "RAWSCU",
    max_pdu: int | None = 16384,
    implementation_uid: str = "1.2.826.0.1.3680043.9.3811.3.0.4",
    version_name: str | None = None,
    extra: list[object] | None = None,
    application_context: str = "1.2.840.10008.3.1.1.1",
) -> bytes:
    """An A-ASSOCIATE-RQ encoded by pynetdicom (what a real requestor sends); ``contexts`` are
    (context ID, abstract syntax, transfer syntaxes), ``extra`` more user information items."""
    from pynetdicom.pdu import A_ASSOCIATE_RQ
    from pynetdicom.pdu_primitives import (
        A_ASSOCIATE,
        ImplementationClassUIDNotification,
        ImplementationVersionNameNotification,
        MaximumLengthNotification,
    )
    from pynetdicom.presentation import build_context

    primitive = A_ASSOCIATE()
    primitive.application_context_name = application_context
    primitive.calling_ae_title = calling
    primitive.called_ae_title = called
    definitions = []
    for context_id, abstract, syntaxes in contexts:
        context = build_context(abstract, syntaxes)
        context.context_id = context_id
        definitions.append(context)
    primitive.presentation_context_definition_list = definitions
    user: list[object] = []
    if max_pdu is not None:
        item = MaximumLengthNotification()
        item.maximum_length_received = max_pdu
        user.append(item)
    uid = ImplementationClassUIDNotification()
    uid.implementation_class_uid = implementation_uid
    user.append(uid)
    if version_name is not None:
        name = ImplementationVersionNameNotification()
        name.implementation_version_name = version_name
        user.append(name)
    primitive.user_information = [*user, *(extra or [])]
    return A_ASSOCIATE_RQ(primitive).encode()


def encoded_command(message: Any, primitive: object) -> bytes:
    """The command set of DIMSE ``message`` (a pynetdicom message class instance) filled from
    ``primitive``, encoded as pynetdicom sends it (implicit VR little endian)."""
    from pynetdicom.dsutils import encode

    message.primitive_to_message(primitive)
    return encode(message.command_set, True, True)  # type: ignore[no-any-return]

"""Sending retrieved instances: C-MOVE sub-association contexts and the datasets to yield.

The stored files keep the transfer syntax they arrived in. A C-MOVE sub-association proposes,
per SOP class, the uncompressed syntaxes plus one context per other stored syntax, so a peer
that accepts a compressed syntax gets the file as it is; for a syntax the association did not
accept (C-MOVE peer or C-GET requestor), the file is decompressed (losslessly decoded, same
SOP Instance UID) before it is sent.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from pydicom import Dataset, dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt

from hub.storage import files

if TYPE_CHECKING:
    from pynetdicom.association import Association

    from hub.storage.models import Instance

log = logging.getLogger(__name__)

#: Offered for every SOP class of a C-MOVE sub-association.
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
#: Presentation contexts one association may propose (PS3.8 limit).
MAX_CONTEXTS = 128
PENDING = 0xFF00
CANCEL = 0xFE00


class SubAssociation:
    """Catches the C-MOVE sub-association when it connects (and sets TCP_NODELAY on it)."""

    def __init__(self) -> None:
        self.assoc: Association | None = None

    def opened(self, event: evt.Event) -> None:
        """EVT_CONN_OPEN of the sub-association."""
        self.assoc = event.assoc
        sock = getattr(event.assoc.dul.socket, "socket", None)
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass


def move_contexts(instances: list[Instance]) -> list[Any]:
    """Per SOP class the uncompressed syntaxes, then one context per other stored syntax."""
    wanted: dict[tuple[str, tuple[str, ...]], None] = {}
    for instance in instances:
        if instance.sop_class_uid:
            wanted[(instance.sop_class_uid, UNCOMPRESSED)] = None
    for instance in instances:
        syntax = instance.transfer_syntax_uid
        if instance.sop_class_uid and syntax and syntax not in UNCOMPRESSED:
            wanted[(instance.sop_class_uid, (syntax,))] = None
    return [build_context(sop, list(syntaxes)) for sop, syntaxes in list(wanted)[:MAX_CONTEXTS]]


def datasets(event: evt.Event, instances: list[Instance],
             assoc: Callable[[], Association | None]) -> Iterator[tuple[int, Dataset | None]]:
    """(Pending, dataset) per instance; Cancel when the peer sends C-CANCEL."""
    for done, instance in enumerate(instances):
        if event.is_cancelled:
            log.info("retrieve cancelled after %d of %d instance(s)", done, len(instances))
            yield CANCEL, None
            return
        yield PENDING, load(instance, assoc())


def load(instance: Instance, assoc: Association | None) -> Dataset:
    """The stored dataset, decompressed when ``assoc`` did not accept its transfer syntax.

    A file that cannot be read or decoded becomes a dataset without file meta, which
    pynetdicom fails to send: a failed sub-operation naming the SOP Instance UID.
    """
    try:
        ds = dcmread(files.data_dir() / instance.path)
    except (OSError, InvalidDicomError, ValueError, EOFError) as exc:
        log.warning("stored instance %s cannot be read: %s", instance.sop_instance_uid,
                    type(exc).__name__)
        return _unsendable(instance)
    syntax = UID(str(ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian)))
    if assoc is not None and syntax.is_compressed and not _accepted(assoc, ds, syntax):
        try:
            ds.decompress(generate_instance_uid=False)
        except Exception as exc:  # any decoder failure: this sub-operation fails
            log.warning("instance %s: peer refused %s and decompressing failed: %s",
                        instance.sop_instance_uid, syntax.name, type(exc).__name__)
            return _unsendable(instance)
    return ds


def _accepted(assoc: Association, ds: Dataset, syntax: UID) -> bool:
    sop_class = ds.get("SOPClassUID")
    return any(
        cx.abstract_syntax == sop_class and cx.transfer_syntax[0] == syntax and cx.as_scu
        for cx in assoc.accepted_contexts
    )


def _unsendable(instance: Instance) -> Dataset:
    ds = Dataset()
    if instance.sop_class_uid:
        ds.SOPClassUID = instance.sop_class_uid
    ds.SOPInstanceUID = instance.sop_instance_uid
    return ds

"""Q/R handlers seen from a pynetdicom SCU and from fake events: error comments, C-GET with a
compressed syntax accepted, a missing file as a failed sub-operation, C-CANCEL, faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless
from pynetdicom import AE, build_role, evt
from pynetdicom.association import Association
from pynetdicom.sop_class import (
    CTImageStorage,
    MRImageStorage,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from qr_helpers import HUB_AE, VIEWER_AE, Store, configure_peers, fill_store, qr_server

from hub.dimse import qr
from hub.settings import get_settings

FIND = StudyRootQueryRetrieveInformationModelFind
GET = StudyRootQueryRetrieveInformationModelGet
MOVE = StudyRootQueryRetrieveInformationModelMove


@pytest.fixture
def store(index_tables: None, tmp_path: Path) -> Store:
    """Studies A and B in this test's DATA_DIR and index."""
    return fill_store(tmp_path / "source")


@pytest.fixture
def hub(store: Store) -> Iterator[int]:
    """The Q/R AE's port (peers: VIEWER may query; DEST has no listener)."""
    configure_peers()
    with qr_server() as port:
        yield port


Stored = list[tuple[str, Dataset]]


def associate(port: int, caller: str = VIEWER_AE, stored: Stored | None = None,
              syntaxes: tuple[str, ...] = (ExplicitVRLittleEndian,)) -> Association:
    """A viewer association proposing Q/R and CT/MR storage (SCP role for C-GET)."""
    ae = AE(ae_title=caller)
    for context in (FIND, GET, MOVE):
        ae.add_requested_context(context)
    for sop_class in (CTImageStorage, MRImageStorage):
        ae.add_requested_context(sop_class, list(syntaxes))

    def on_store(event: evt.Event) -> int:
        if stored is not None:
            stored.append((str(event.context.transfer_syntax), event.dataset))
        return 0x0000

    roles = [build_role(sop, scp_role=True) for sop in (CTImageStorage, MRImageStorage)]
    assoc = ae.associate("127.0.0.1", port, ae_title=HUB_AE, ext_neg=roles,
                         evt_handlers=[(evt.EVT_C_STORE, on_store)])
    assert assoc.is_established
    return assoc


def study_identifier(*study_uids: str, level: str = "STUDY") -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    ds.StudyInstanceUID = list(study_uids) if len(study_uids) > 1 else study_uids[0]
    return ds


def final(responses: list[tuple[Dataset, Any]]) -> Dataset:
    return responses[-1][0]


def test_get_and_move_refusals_carry_error_comments(hub: int, store: Store):
    assoc = associate(hub, caller="STRANGER")
    try:
        got = final(list(assoc.send_c_get(study_identifier(store.a.study_uid), GET)))
        moved = final(list(assoc.send_c_move(study_identifier(store.a.study_uid), "DEST", MOVE)))
    finally:
        assoc.release()
    for status in (got, moved):
        assert status.Status == qr.UNKNOWN_CALLER
        assert status.ErrorComment == "calling AE STRANGER is not a known peer; add it to [[peers]]"
    assert got.get("NumberOfCompletedSuboperations", 0) == 0


def test_move_without_unique_key_is_refused_before_any_sub_association(hub: int, store: Store):
    identifier = study_identifier(store.a.study_uid, level="SERIES")
    assoc = associate(hub)
    try:
        status = final(list(assoc.send_c_move(identifier, "DEST", MOVE)))
    finally:
        assoc.release()
    assert status.Status == 0xC000  # not 0xA801: DEST (nothing listening) was never called
    assert status.ErrorComment == "a SERIES retrieve needs SeriesInstanceUID"


def test_get_sends_compressed_as_is_when_accepted(hub: int, store: Store):
    stored: Stored = []
    assoc = associate(hub, stored=stored, syntaxes=(RLELossless,))
    try:
        status = final(list(assoc.send_c_get(study_identifier(store.b.study_uid), GET)))
    finally:
        assoc.release()
    assert status.Status == 0x0000 and status.NumberOfCompletedSuboperations == 2
    assert {syntax for syntax, _ in stored} == {RLELossless}
    assert {str(ds.SOPInstanceUID) for _, ds in stored} == store.b.sop_uids


def test_missing_file_is_a_failed_sub_operation(hub: int, store: Store):
    from hub.storage.models import Instance

    lost = Instance.objects.get(sop_instance_uid=store.a.series[store.ct_series][0])
    (get_settings().data_dir / lost.path).unlink()
    stored: Stored = []
    assoc = associate(hub, stored=stored)
    try:
        identifier = study_identifier(store.a.study_uid, level="SERIES")
        identifier.SeriesInstanceUID = store.ct_series
        status, failed = list(assoc.send_c_get(identifier, GET))[-1]
    finally:
        assoc.release()
    assert status.Status == 0xB000  # warning: some sub-operations failed
    assert (status.NumberOfCompletedSuboperations, status.NumberOfFailedSuboperations) == (2, 1)
    assert failed.FailedSOPInstanceUIDList == lost.sop_instance_uid
    assert len(stored) == 2


class FakeEvent:
    """Enough of a pynetdicom event for the handlers; cancelled after ``cancel_after`` checks."""

    def __init__(self, identifier: Dataset, sop_class: str, *, caller: str = VIEWER_AE,
                 cancel_after: int | None = None) -> None:
        self.identifier = identifier
        self.request = SimpleNamespace(AffectedSOPClassUID=sop_class, MessageID=1,
                                       MoveDestination="DEST")
        self.assoc = SimpleNamespace(requestor=SimpleNamespace(ae_title=caller))
        self.move_destination = "DEST"
        self._checks = 0
        self._cancel_after = cancel_after

    @property
    def is_cancelled(self) -> bool:
        self._checks += 1
        return self._cancel_after is not None and self._checks > self._cancel_after


def test_find_stops_on_cancel(store: Store):
    configure_peers()
    identifier = study_identifier("", level="STUDY")
    answers = list(qr.handle_find(FakeEvent(identifier, str(FIND), cancel_after=1)))
    assert [status for status, _ in answers] == [qr.PENDING, qr.CANCEL]


def test_get_stops_on_cancel(store: Store):
    configure_peers()
    answers = list(qr.handle_get(FakeEvent(study_identifier(store.a.study_uid), str(GET),
                                           cancel_after=1)))
    assert answers[0] == 4  # sub-operations announced
    assert [status for status, _ in answers[1:]] == [qr.PENDING, qr.CANCEL]


def test_search_fault_is_a_failure_with_comment(store: Store, monkeypatch: pytest.MonkeyPatch):
    configure_peers()

    def broken(*args: object, **kwargs: object) -> Iterator[Any]:
        raise OSError("disk gone")

    monkeypatch.setattr(qr, "find", broken)
    [(status, identifier)] = list(qr.handle_find(FakeEvent(study_identifier(""), str(FIND))))
    assert status.Status == qr.INTERNAL_ERROR and identifier is None
    assert status.ErrorComment == "the hub failed to search; see its log"

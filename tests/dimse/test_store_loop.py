"""The storage fast path (hub.dimse.store_loop) against a running SCP on loopback: which
associations it serves, and what it answers to well-formed and broken peers.

Hand-built PDUs go through a raw socket (:class:`RawPeer`); they are encoded, and what comes
back decoded, with pynetdicom's own PDU classes, so neither side is checked against itself.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    generate_uid,
)
from pynetdicom import AE, build_role, dimse_messages, dimse_primitives
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import A_ABORT_RQ, A_ASSOCIATE_AC, A_ASSOCIATE_RJ, P_DATA_TF
from pynetdicom.pdu_primitives import (
    A_ASSOCIATE,
    P_DATA,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification
from scp_helpers import (
    HUB_AE,
    associate,
    encoded_associate_rq,
    encoded_command,
    indexed_sop_uids,
    nothing_written,
    running_scp,
    spool_files,
    status_of,
    stored_files,
    wait_for,
)

from hub.dimse import store_loop
from hub.dimse.scp import SCP

VIEWER = "VIEWER"
PEERS = [{"name": "viewer", "ae_title": VIEWER, "host": "127.0.0.1", "port": 104}]
#: A SOP class nobody supports: its context is rejected (abstract syntax not supported).
UNKNOWN_SOP_CLASS = "1.2.826.0.1.3680043.9.9999.1"

# A-ABORT and A-ASSOCIATE-RJ values (PS3.8 9.3.4, 9.3.8)
PROVIDER = 2
UNRECOGNISED_PDU = 1
UNEXPECTED_PDU = 2
INVALID_PARAMETER = 6
LOCAL_LIMIT_EXCEEDED = (2, 3, 2)
CALLED_AE_NOT_RECOGNISED = (1, 1, 7)
APPLICATION_CONTEXT_NOT_SUPPORTED = (1, 1, 2)


# -- what a peer sends -------------------------------------------------------------------------


def ct_dataset(size: int = 8, seed: int = 0) -> Dataset:
    """A small CT image with random pixels."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-LOOP"
    ds.Modality = "CT"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    pixels = np.random.default_rng(seed).integers(-1000, 1000, (size, size), dtype=np.int16)
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()  # what pynetdicom's send_c_store chooses the context by
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def explicit_le(ds: Dataset) -> bytes:
    data = encode(ds, False, True)
    assert data is not None
    return data


associate_rq = encoded_associate_rq


def p_data(*pdvs: tuple[int, int, bytes]) -> bytes:
    """A P-DATA-TF encoded by pynetdicom; each PDV is (context ID, control header, fragment)."""
    primitive = P_DATA()
    primitive.presentation_data_value_list = [  # type: ignore[assignment]
        [context_id, bytes([control]) + fragment] for context_id, control, fragment in pdvs
    ]
    return P_DATA_TF(primitive).encode()


def store_command(ds: Dataset, message_id: int = 1) -> bytes:
    """A C-STORE-RQ command set for ``ds`` as pynetdicom encodes it."""
    primitive = dimse_primitives.C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = ds.SOPClassUID
    primitive.AffectedSOPInstanceUID = ds.SOPInstanceUID
    primitive.Priority = 0
    primitive.DataSet = BytesIO(b"\x00")  # any: makes CommandDataSetType say one follows
    return encoded_command(dimse_messages.C_STORE_RQ(), primitive)


def echo_command(message_id: int = 1) -> bytes:
    primitive = dimse_primitives.C_ECHO()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = Verification
    return encoded_command(dimse_messages.C_ECHO_RQ(), primitive)


def find_command(message_id: int = 1) -> bytes:
    primitive = dimse_primitives.C_FIND()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    primitive.Priority = 0
    primitive.Identifier = BytesIO(b"\x00")
    return encoded_command(dimse_messages.C_FIND_RQ(), primitive)


class RawPeer:
    """A DICOM peer over a bare socket: sends bytes, reads whole PDUs."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _exactly(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise EOFError(f"connection closed after {len(data)} of {count} bytes")
            data += chunk
        return data

    def read(self) -> tuple[int, bytes]:
        """(PDU type, whole PDU) of the next PDU."""
        head = self._exactly(6)
        pdu_type, _, length = struct.unpack(">BBL", head)
        return pdu_type, head + self._exactly(length)

    def at_eof(self) -> bool:
        """True when the SCP closed the connection (nothing more to read)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def associate(
        self, contexts: list[tuple[int, str, list[str]]], **kwargs: object
    ) -> A_ASSOCIATE:
        """Send an A-ASSOCIATE-RQ; the A-ASSOCIATE-AC as pynetdicom decodes it."""
        self.send(associate_rq(contexts, **kwargs))  # type: ignore[arg-type]
        pdu_type, data = self.read()
        assert pdu_type == 0x02, (pdu_type, data)
        ac = A_ASSOCIATE_AC()
        ac.decode(data)
        return ac.to_primitive()

    def rejection(self, rq: bytes) -> tuple[int, int, int]:
        """Send ``rq``; (result, source, reason) of the A-ASSOCIATE-RJ that must come back."""
        self.send(rq)
        pdu_type, data = self.read()
        assert pdu_type == 0x03, (pdu_type, data)
        rj = A_ASSOCIATE_RJ()
        rj.decode(data)
        assert self.at_eof()
        return rj.result, rj.source, rj.reason_diagnostic

    def abort_reason(self) -> tuple[int, int]:
        """(source, reason) of the A-ABORT that must come next; the connection then closes."""
        pdu_type, data = self.read()
        assert pdu_type == 0x07, (pdu_type, data)
        abort = A_ABORT_RQ()
        abort.decode(data)
        assert self.at_eof()
        return abort.source, abort.reason_diagnostic

    def response(self) -> tuple[int, Dataset]:
        """(context ID, command set) of the next P-DATA-TF, one whole command PDV."""
        pdu_type, data = self.read()
        assert pdu_type == 0x04, (pdu_type, data)
        pdata = P_DATA_TF()
        pdata.decode(data)
        [(context_id, value)] = pdata.to_primitive().presentation_data_value_list
        assert value[0] == 0x03  # command, last fragment
        return context_id, decode(BytesIO(value[1:]), True, True)

    def release(self) -> None:
        self.send(struct.pack(">BBL", 0x05, 0, 4) + bytes(4))
        pdu_type, _ = self.read()
        assert pdu_type == 0x06
        assert self.at_eof()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def loops(monkeypatch: pytest.MonkeyPatch) -> list[store_loop.StoreLoop]:
    """Every StoreLoop the SCP creates in this test (the connections the loop served)."""
    created: list[store_loop.StoreLoop] = []

    class Recorded(store_loop.StoreLoop):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            created.append(self)

    monkeypatch.setattr(store_loop, "StoreLoop", Recorded)
    return created


@pytest.fixture
def scp(index_tables: None) -> Iterator[SCP]:
    with running_scp(peers=PEERS) as server:
        yield server


@pytest.fixture
def peer(scp: SCP) -> Iterator[RawPeer]:
    raw = RawPeer(scp.port)
    yield raw
    raw.close()


def pynetdicom_alive(scp: SCP) -> int:
    return sum(1 for tracked in scp._snapshot() if tracked.assoc.is_alive())


def spooled_bytes() -> int:
    """Bytes in the spool folder now (files may come and go meanwhile)."""
    total = 0
    for path in spool_files():
        try:
            total += path.stat().st_size
        except FileNotFoundError:
            pass
    return total


def all_ended(scp: SCP) -> bool:
    return scp.active_associations == 0


# -- which path serves an association ----------------------------------------------------------


def test_storage_and_verification_association_is_served_by_the_loop(
    scp: SCP, loops: list[store_loop.StoreLoop]
):
    ds = ct_dataset()
    assoc = associate(scp.port, [Verification, CTImageStorage], calling="MODALITY")
    try:
        assert assoc.is_established
        assert len(scp._loops_snapshot()) == 1 and pynetdicom_alive(scp) == 0
        assert scp.active_associations == 1
        echo = assoc.send_c_echo()
        store = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status_of(echo) == 0 and status_of(store) == 0
    assert indexed_sop_uids() == {ds.SOPInstanceUID}
    [path] = stored_files()
    got = pydicom.dcmread(path)
    assert got.PixelData == ds.PixelData
    assert got.file_meta.SourceApplicationEntityTitle == "MODALITY"
    assert got.file_meta.ImplementationClassUID == store_loop.IMPLEMENTATION_CLASS_UID
    assert wait_for(lambda: all_ended(scp))
    [loop] = loops
    assert (loop.how, loop.counts.stored, loop.calling_ae) == ("released", 1, "MODALITY")


def test_query_retrieve_association_goes_to_pynetdicom_and_finds(
    scp: SCP, loops: list[store_loop.StoreLoop]
):
    ds = ct_dataset()
    assoc = associate(scp.port, [CTImageStorage, StudyRootQueryRetrieveInformationModelFind],
                      calling=VIEWER)
    try:
        assert assoc.is_established
        assert wait_for(lambda: pynetdicom_alive(scp) == 1)
        assert scp._loops_snapshot() == [] and scp.active_associations == 1
        stored = assoc.send_c_store(ds)
        query = Dataset()
        query.QueryRetrieveLevel = "STUDY"
        query.StudyInstanceUID = ds.StudyInstanceUID
        answers = list(assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind))
    finally:
        assoc.release()
    assert status_of(stored) == 0
    statuses = [status_of(status) for status, _ in answers]
    assert statuses == [0xFF00, 0x0000]
    assert answers[0][1].StudyInstanceUID == ds.StudyInstanceUID
    assert loops == []
    assert indexed_sop_uids() == {ds.SOPInstanceUID}


def _user_identity() -> UserIdentityNegotiation:
    identity = UserIdentityNegotiation()
    identity.user_identity_type = 1
    identity.primary_field = b"radiographer"
    return identity


@pytest.mark.parametrize(
    "item",
    [lambda: build_role(CTImageStorage, scu_role=True), _user_identity],
    ids=["role-selection", "user-identity"],
)
def test_extended_negotiation_goes_to_pynetdicom_and_stores(
    scp: SCP, loops: list[store_loop.StoreLoop], item: Callable[[], object]
):
    ds = ct_dataset()
    ae = AE(ae_title="EXTSCU")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 10
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", scp.port, ae_title=HUB_AE, ext_neg=[item()])
    try:
        assert assoc.is_established
        assert wait_for(lambda: pynetdicom_alive(scp) == 1)
        assert scp._loops_snapshot() == []
        stored = assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert status_of(stored) == 0
    assert loops == []
    assert indexed_sop_uids() == {ds.SOPInstanceUID}


def test_negotiation_matches_the_pynetdicom_path(index_tables: None):
    """The same request gets the same presentation context results on both paths."""
    rq = [
        (1, CTImageStorage, [ImplicitVRLittleEndian, JPEGBaseline8Bit, ExplicitVRLittleEndian]),
        (3, CTImageStorage, [ImplicitVRLittleEndian]),
        (5, UNKNOWN_SOP_CLASS, [ExplicitVRLittleEndian]),
        (7, CTImageStorage, ["1.2.826.0.1.3680043.9.9999.2"]),  # no transfer syntax of ours
        (9, Verification, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
    ]
    results = {}
    for use_loop in (True, False):
        with running_scp(store_loop=use_loop, dicom={"max_pdu": 65536}) as server:
            raw = RawPeer(server.port)
            try:
                ac = raw.associate(rq)
                raw.release()
            finally:
                raw.close()
        results[use_loop] = [
            (c.context_id, c.result, c.transfer_syntax[0] if c.result == 0 else None)
            for c in ac.presentation_context_definition_results_list
        ]
        assert ac.maximum_length_received == 65536
    # pynetdicom lists accepted contexts first; the order of the items carries no meaning
    assert sorted(results[True]) == sorted(results[False])
    assert [result for _, result, _ in sorted(results[True])] == [0, 0, 3, 4, 0]


# -- the association limit counts both paths ---------------------------------------------------


def test_open_pynetdicom_association_counts_against_the_loop(index_tables: None):
    with running_scp(peers=PEERS, dicom={"max_associations": 1}) as scp:
        qr = associate(scp.port, [StudyRootQueryRetrieveInformationModelFind], calling=VIEWER)
        try:
            assert qr.is_established
            assert wait_for(lambda: pynetdicom_alive(scp) == 1)
            raw = RawPeer(scp.port)
            refused = raw.rejection(associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])]))
            raw.close()
        finally:
            qr.release()
        assert wait_for(lambda: all_ended(scp))
        again = RawPeer(scp.port)
        ac = again.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
        again.release()
    assert refused == LOCAL_LIMIT_EXCEEDED
    assert ac.presentation_context_definition_results_list[0].result == 0


def test_open_loop_association_counts_against_pynetdicom(index_tables: None):
    with running_scp(peers=PEERS, dicom={"max_associations": 1}) as scp:
        storage = RawPeer(scp.port)
        storage.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
        assert len(scp._loops_snapshot()) == 1
        raw = RawPeer(scp.port)
        refused = raw.rejection(
            associate_rq([(1, StudyRootQueryRetrieveInformationModelFind,
                           [ImplicitVRLittleEndian])], calling=VIEWER))
        raw.close()
        # a second storage association is refused by the loop just the same
        raw = RawPeer(scp.port)
        refused_storage = raw.rejection(associate_rq([(1, Verification,
                                                       [ImplicitVRLittleEndian])]))
        raw.close()
        storage.release()
        assert wait_for(lambda: all_ended(scp))
        qr = associate(scp.port, [StudyRootQueryRetrieveInformationModelFind], calling=VIEWER)
        accepted = qr.is_established
        qr.release()
    assert refused == LOCAL_LIMIT_EXCEEDED
    assert refused_storage == LOCAL_LIMIT_EXCEEDED
    assert accepted


# -- association refusals ----------------------------------------------------------------------


def test_non_dicom_application_context_is_rejected(peer: RawPeer, loops: list):
    rq = associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])],
                      application_context="1.2.826.0.1.3680043.9.9999.3")
    assert peer.rejection(rq) == APPLICATION_CONTEXT_NOT_SUPPORTED
    [loop] = loops
    assert loop.how == "rejected" and not loop.accepted


@pytest.mark.parametrize("use_loop", [True, False], ids=["store-loop", "pynetdicom"])
def test_wrong_called_ae_is_rejected_alike_on_both_paths(
    index_tables: None, loops: list, use_loop: bool
):
    with running_scp(store_loop=use_loop) as scp:
        raw = RawPeer(scp.port)
        rejection = raw.rejection(
            associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])], called="NOTTHEHUB"))
        raw.close()
        assert wait_for(lambda: all_ended(scp))
    assert rejection == CALLED_AE_NOT_RECOGNISED
    assert len(loops) == (1 if use_loop else 0)
    assert nothing_written()


def test_protocol_version_without_bit_0_is_rejected(peer: RawPeer, loops: list):
    rq = bytearray(associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])]))
    rq[6:8] = struct.pack(">H", 2)
    assert peer.rejection(bytes(rq)) == (1, 2, 2)  # protocol version not supported
    assert len(loops) == 1


def test_limit_and_wrong_called_ae_answered_alike_on_both_paths(index_tables: None):
    """At the association limit, a request to the wrong AE title gets the same A-ASSOCIATE-RJ
    whichever path serves it (permanent, not a transient 'try again later')."""
    with running_scp(peers=PEERS, dicom={"max_associations": 1}) as scp:
        storage = RawPeer(scp.port)
        storage.associate([(1, Verification, [ImplicitVRLittleEndian])])
        answers = {}
        for path, sop_class in [("loop", CTImageStorage),
                                ("pynetdicom", StudyRootQueryRetrieveInformationModelFind)]:
            raw = RawPeer(scp.port)
            answers[path] = raw.rejection(associate_rq(
                [(1, sop_class, [ImplicitVRLittleEndian])], called="NOTTHEHUB", calling=VIEWER))
            raw.close()
        storage.release()
    assert answers["pynetdicom"] == CALLED_AE_NOT_RECOGNISED
    assert answers["loop"] == answers["pynetdicom"]


def test_request_arriving_in_pieces_is_still_served_by_the_loop(
    peer: RawPeer, scp: SCP, loops: list
):
    rq = associate_rq([(1, Verification, [ImplicitVRLittleEndian])])
    for piece in (rq[:3], rq[3:40], rq[40:]):  # the header itself split, then the items
        peer.send(piece)
        time.sleep(0.05)
    pdu_type, data = peer.read()
    assert pdu_type == 0x02
    assert len(scp._loops_snapshot()) == 1
    peer.send(p_data((1, 0x03, echo_command(3))))
    _, rsp = peer.response()
    peer.release()
    assert (rsp.MessageIDBeingRespondedTo, rsp.Status) == (3, 0)
    assert len(loops) == 1


def test_stopping_the_scp_ends_a_loop_association_in_the_middle_of_a_data_set(
    index_tables: None,
):
    ds = ct_dataset(size=32)
    with running_scp() as scp:
        raw = RawPeer(scp.port)
        raw.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
        raw.send(p_data((1, 0x03, store_command(ds)), (1, 0x00, explicit_le(ds)[:500])))
        assert wait_for(lambda: len(spool_files()) == 1)
        start = time.monotonic()
        scp.stop()
        took = time.monotonic() - start
        assert scp._loops_snapshot() == []
    try:
        pdu_type, _ = raw.read()
    except (EOFError, ConnectionResetError):
        pdu_type = None
    raw.close()
    assert pdu_type in (None, 0x07)  # closed, or aborted first
    assert took < 3
    assert nothing_written()


# -- PDUs the loop aborts on -------------------------------------------------------------------


def test_p_data_larger_than_our_max_pdu_is_aborted(index_tables: None):
    ds = ct_dataset()
    with running_scp(dicom={"max_pdu": 4096}) as scp:
        raw = RawPeer(scp.port)
        ac = raw.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
        assert ac.maximum_length_received == 4096
        raw.send(p_data((1, 0x03, store_command(ds))))
        assert wait_for(lambda: len(spool_files()) == 1)  # the data set's spool file is open
        raw.send(struct.pack(">BBL", 0x04, 0, 4097))  # one byte more than we announced
        reason = raw.abort_reason()
        raw.close()
        assert wait_for(lambda: all_ended(scp))
    assert reason == (PROVIDER, INVALID_PARAMETER)
    assert nothing_written()


def test_pdv_on_a_context_not_accepted_is_aborted(scp: SCP):
    aborts = []
    for context_id in (3, 99):  # rejected (abstract syntax not supported), never proposed
        peer = RawPeer(scp.port)
        ac = peer.associate([(1, Verification, [ImplicitVRLittleEndian]),
                             (3, UNKNOWN_SOP_CLASS, [ImplicitVRLittleEndian])])
        assert [c.result for c in ac.presentation_context_definition_results_list] == [0, 3]
        peer.send(p_data((context_id, 0x03, echo_command())))
        aborts.append(peer.abort_reason())
        peer.close()
    assert aborts == [(PROVIDER, INVALID_PARAMETER)] * 2
    assert wait_for(lambda: all_ended(scp))


def _abort_for_pdu_type(scp: SCP, pdu_type: int) -> tuple[int, int]:
    peer = RawPeer(scp.port)
    try:
        peer.associate([(1, Verification, [ImplicitVRLittleEndian])])
        peer.send(struct.pack(">BBL", pdu_type, 0, 0))
        return peer.abort_reason()
    finally:
        peer.close()


def test_unknown_or_unexpected_pdu_type_is_aborted(scp: SCP):
    got = {pdu_type: _abort_for_pdu_type(scp, pdu_type)
           for pdu_type in (0x0A, 0x08, 0xFF, 0x01, 0x02, 0x03, 0x06)}
    assert got == {
        0x0A: (PROVIDER, UNRECOGNISED_PDU), 0x08: (PROVIDER, UNRECOGNISED_PDU),
        0xFF: (PROVIDER, UNRECOGNISED_PDU),
        # PDU types PS3.8 defines, but never sent to an association acceptor now
        0x01: (PROVIDER, UNEXPECTED_PDU), 0x02: (PROVIDER, UNEXPECTED_PDU),
        0x03: (PROVIDER, UNEXPECTED_PDU), 0x06: (PROVIDER, UNEXPECTED_PDU),
    }
    assert wait_for(lambda: all_ended(scp))


def test_pdu_type_zero_is_unrecognised(scp: SCP):
    assert _abort_for_pdu_type(scp, 0x00) == (PROVIDER, UNRECOGNISED_PDU)


def test_c_find_on_a_storage_context_is_aborted(peer: RawPeer, scp: SCP):
    peer.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
    peer.send(p_data((1, 0x03, find_command())))
    assert peer.abort_reason() == (PROVIDER, UNEXPECTED_PDU)
    assert wait_for(lambda: all_ended(scp))


def test_release_in_the_middle_of_a_data_set_is_aborted_and_nothing_kept(
    peer: RawPeer, scp: SCP
):
    ds = ct_dataset(size=32)
    data = explicit_le(ds)
    peer.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
    peer.send(p_data((1, 0x03, store_command(ds)), (1, 0x00, data[:1000])))
    # the File Meta and the first fragment are in the spool
    assert wait_for(lambda: spooled_bytes() > 1000)
    peer.send(struct.pack(">BBL", 0x05, 0, 4) + bytes(4))  # A-RELEASE-RQ
    assert peer.abort_reason() == (PROVIDER, UNEXPECTED_PDU)
    assert wait_for(lambda: all_ended(scp))
    assert wait_for(lambda: spool_files() == [])
    assert nothing_written()


@pytest.mark.parametrize("how", ["a-abort", "close"])
def test_peer_leaving_in_the_middle_of_a_data_set_leaves_nothing(
    peer: RawPeer, scp: SCP, how: str
):
    ds = ct_dataset(size=32)
    peer.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
    peer.send(p_data((1, 0x03, store_command(ds)), (1, 0x00, explicit_le(ds)[:500])))
    assert wait_for(lambda: len(spool_files()) == 1)
    if how == "a-abort":
        peer.send(struct.pack(">BBL", 0x07, 0, 4) + bytes((0, 0, 0, 0)))
        assert peer.at_eof()  # the SCP does not answer an A-ABORT, it closes
    else:
        peer.close()
    assert wait_for(lambda: all_ended(scp))
    assert wait_for(lambda: spool_files() == [])
    assert nothing_written()


def test_peer_gone_before_our_answer_ends_the_association_quietly(
    peer: RawPeer, scp: SCP, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    """A peer that vanishes before our A-RELEASE-RP (sending it fails) ends the association
    like any closed connection: no traceback logged, nothing escaping the connection thread."""
    caplog.set_level(logging.WARNING, logger="hub.dimse")
    escaped: list[type[BaseException]] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_type))
    peer.associate([(1, Verification, [ImplicitVRLittleEndian])])
    [loop] = scp._loops_snapshot()
    loop.sock.shutdown(socket.SHUT_WR)  # what the SCP sends now fails, as after a reset
    peer.send(struct.pack(">BBL", 0x05, 0, 4) + bytes(4))  # A-RELEASE-RQ
    assert peer.at_eof()
    assert wait_for(lambda: all_ended(scp))
    assert wait_for(lambda: not any(
        thread.name == "scp-connection" for thread in threading.enumerate()))
    assert escaped == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_empty_associate_rq_is_answered_at_once(index_tables: None):
    """A 6-byte A-ASSOCIATE-RQ (length 0) is no request for the loop: pynetdicom answers it
    with an A-ABORT at once (as it does with ``store_loop=False``), burning no CPU meanwhile."""
    with running_scp(dicom={"acse_timeout": 1.0}) as scp:
        raw = RawPeer(scp.port, timeout=0.6)
        cpu = time.process_time()
        raw.send(struct.pack(">BBL", 0x01, 0, 0))
        try:
            pdu_type, _ = raw.read()
        except (TimeoutError, EOFError):
            pdu_type = None
        used = time.process_time() - cpu
        raw.close()
    assert pdu_type == 0x07
    assert used < 0.3


# -- timeouts ----------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["idle", "inside-a-pdu"])
def test_silent_association_is_aborted_after_the_network_timeout(index_tables: None, where: str):
    with running_scp(dicom={"network_timeout": 0.5}) as scp:
        raw = RawPeer(scp.port)
        raw.associate([(1, Verification, [ImplicitVRLittleEndian])])
        if where == "inside-a-pdu":
            raw.send(struct.pack(">BBL", 0x04, 0, 100) + b"\x00" * 10)
        start = time.monotonic()
        reason = raw.abort_reason()
        waited = time.monotonic() - start
        raw.close()
        assert wait_for(lambda: all_ended(scp))
    assert reason == (PROVIDER, 0)
    assert 0.4 <= waited < 2.5


def test_association_busy_past_the_network_timeout_is_not_aborted(index_tables: None):
    """The timeout is for silence only: traffic every 0.25 s keeps a 0.5 s timeout away."""
    with running_scp(dicom={"network_timeout": 0.5}) as scp:
        raw = RawPeer(scp.port)
        raw.associate([(1, Verification, [ImplicitVRLittleEndian])])
        statuses = []
        for message_id in range(1, 5):
            time.sleep(0.25)
            raw.send(p_data((1, 0x03, echo_command(message_id))))
            _, rsp = raw.response()
            statuses.append((rsp.MessageIDBeingRespondedTo, rsp.Status))
        raw.release()
        raw.close()
    assert statuses == [(1, 0), (2, 0), (3, 0), (4, 0)]


# -- fragmentation -----------------------------------------------------------------------------


def test_data_set_in_many_small_pdus_and_fragments_is_stored_intact(index_tables: None):
    ds = ct_dataset(size=64, seed=7)
    data = explicit_le(ds)
    command = store_command(ds, message_id=42)
    with running_scp(dicom={"max_pdu": 4096}) as scp:
        raw = RawPeer(scp.port)
        raw.associate([(1, Verification, [ImplicitVRLittleEndian]),
                       (3, CTImageStorage, [ExplicitVRLittleEndian])])
        # the command in two fragments, in two PDUs
        raw.send(p_data((3, 0x01, command[:20])))
        raw.send(p_data((3, 0x03, command[20:])))
        # one PDU exactly as large as we announced (4096: header of 6 bytes not counted) ...
        first = 4096 - 6
        full = p_data((3, 0x00, data[:first]))
        assert struct.unpack_from(">L", full, 2)[0] == 4096
        raw.send(full)
        offset = first
        # ... then PDUs holding several odd-sized PDVs each ...
        for _ in range(20):
            raw.send(p_data(*[(3, 0x00, data[offset + k * 37 : offset + (k + 1) * 37])
                              for k in range(5)]))
            offset += 5 * 37
        # ... then one-byte fragments, each in its own PDU, split across TCP writes ...
        for _ in range(200):
            encoded = p_data((3, 0x00, data[offset : offset + 1]))
            raw.send(encoded[:3])
            raw.send(encoded[3:])
            offset += 1
        # ... and the rest, the last fragment
        raw.send(p_data((3, 0x00, data[offset:-10]), (3, 0x02, data[-10:])))
        context_id, rsp = raw.response()
        # the association still serves an echo after it
        raw.send(p_data((1, 0x03, echo_command(43))))
        echo_context, echo = raw.response()
        raw.release()
        raw.close()
    assert offset < len(data) - 10
    assert context_id == 3
    assert (rsp.CommandField, rsp.MessageIDBeingRespondedTo, rsp.Status) == (0x8001, 42, 0)
    assert rsp.AffectedSOPInstanceUID == ds.SOPInstanceUID
    assert rsp.AffectedSOPClassUID == CTImageStorage
    assert (echo_context, echo.CommandField, echo.Status) == (1, 0x8030, 0)
    assert indexed_sop_uids() == {ds.SOPInstanceUID}
    [path] = stored_files()
    got = pydicom.dcmread(path)
    assert got.PixelData == ds.PixelData
    assert np.array_equal(got.pixel_array, ds.pixel_array)
    assert got.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert got.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert spool_files() == []


def test_c_store_refused_by_storage_gets_its_status_and_comment(peer: RawPeer, scp: SCP):
    ds = ct_dataset()
    del ds.StudyInstanceUID
    peer.associate([(1, CTImageStorage, [ImplicitVRLittleEndian])])
    peer.send(p_data((1, 0x03, store_command(ds, message_id=5)),
                     (1, 0x02, encode(ds, True, True))))  # type: ignore[arg-type]
    _, rsp = peer.response()
    peer.release()
    assert (rsp.MessageIDBeingRespondedTo, rsp.Status) == (5, 0xA900)
    assert rsp.ErrorComment == "missing StudyInstanceUID"
    assert nothing_written()


# -- what is not an association request --------------------------------------------------------


def _malformed_rq() -> bytes:
    rq = associate_rq([(1, CTImageStorage, [ExplicitVRLittleEndian])])
    extra = struct.pack(">BBH", 0x33, 0, 2) + b"xx"  # an item type PS3.8 does not define
    return struct.pack(">BBL", 0x01, 0, len(rq) - 6 + len(extra)) + rq[6:] + extra


@pytest.mark.parametrize(
    "first",
    [b"GET / HTTP/1.1\r\nHost: hub\r\n\r\n", _malformed_rq()],
    ids=["http-request", "malformed-associate-rq"],
)
def test_garbage_first_pdu_is_left_to_pynetdicom_and_harms_no_one(
    index_tables: None, loops: list, first: bytes
):
    ds = ct_dataset()
    # pynetdicom holds a connection it aborted until its ARTIM timer (the ACSE timeout) ends
    with running_scp(dicom={"acse_timeout": 0.5}) as scp:
        garbage = RawPeer(scp.port)
        garbage.send(first)
        pdu_type, answer = garbage.read()
        garbage.close()
        assert loops == []  # the loop never took it
        # a modality storing meanwhile is served by the loop as ever
        raw = RawPeer(scp.port)
        raw.associate([(1, CTImageStorage, [ExplicitVRLittleEndian])])
        raw.send(p_data((1, 0x03, store_command(ds)), (1, 0x02, explicit_le(ds))))
        _, rsp = raw.response()
        raw.release()
        raw.close()
        assert wait_for(lambda: all_ended(scp), timeout=5)
    assert pdu_type in (0x03, 0x07), answer  # pynetdicom rejected or aborted it
    assert rsp.Status == 0
    assert len(loops) == 1
    assert indexed_sop_uids() == {ds.SOPInstanceUID}

"""hub.dimse.pdu against pynetdicom's own PDU and DIMSE classes (and pydicom) as the reference:
what pynetdicom encodes we parse, what we encode pynetdicom (or pydicom) decodes as meant."""

from __future__ import annotations

import struct
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import Dataset
from pydicom.uid import (
    CTImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)
from pynetdicom import dimse_messages, dimse_primitives
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import (
    A_ABORT_RQ,
    A_ASSOCIATE_AC,
    A_ASSOCIATE_RJ,
    A_RELEASE_RP,
    P_DATA_TF,
)
from pynetdicom.pdu_primitives import (
    P_DATA,
    AsynchronousOperationsWindowNegotiation,
    SCP_SCU_RoleSelectionNegotiation,
    UserIdentityNegotiation,
)
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification
from scp_helpers import encoded_associate_rq, encoded_command

from hub.dimse import pdu
from hub.dimse.pdu import PduError

# -- helpers: pynetdicom builds what a real requestor sends -----------------------------------


def rq_bytes(contexts: list[tuple[int, str, list[str]]], **options: object) -> bytes:
    """An encoded A-ASSOCIATE-RQ built from pynetdicom's A-ASSOCIATE primitive."""
    defaults: dict[str, object] = {
        "called": "HUB", "calling": "MODALITY1", "max_pdu": 32768,
        "version_name": "PYNETDICOM_304",
    }
    return encoded_associate_rq(contexts, **{**defaults, **options})  # type: ignore[arg-type]


def store_rq_command(message_id: int = 7, sop_instance_uid: str = "1.2.3.4.5") -> bytes:
    """A C-STORE-RQ command set as pynetdicom encodes it (a data set follows)."""
    primitive = dimse_primitives.C_STORE()
    primitive.MessageID = message_id
    primitive.AffectedSOPClassUID = CTImageStorage
    primitive.AffectedSOPInstanceUID = sop_instance_uid
    primitive.Priority = 0
    primitive.MoveOriginatorApplicationEntityTitle = "MOVER"
    primitive.MoveOriginatorMessageID = 3
    primitive.DataSet = BytesIO(b"\x08\x00\x16\x00\x00\x00\x00\x00")
    message = dimse_messages.C_STORE_RQ()
    message.primitive_to_message(primitive)
    return encode(message.command_set, True, True)  # type: ignore[return-value]


command_of = encoded_command


def decoded_command(data: bytes) -> Dataset:
    """A command set decoded by pydicom (implicit VR little endian)."""
    return decode(BytesIO(data), True, True)


def elements(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, value) of each implicit VR LE element in ``data``, read by hand."""
    found = []
    offset = 0
    while offset < len(data):
        group, element, length = struct.unpack_from("<HHL", data, offset)
        found.append((group << 16 | element, data[offset + 8 : offset + 8 + length]))
        offset += 8 + length
    assert offset == len(data)
    return found


# -- A-ASSOCIATE-RQ ----------------------------------------------------------------------------


def test_parse_associate_rq_built_by_pynetdicom():
    raw = rq_bytes(
        [
            (1, CTImageStorage, [ExplicitVRLittleEndian, ImplicitVRLittleEndian]),
            (3, Verification, [ImplicitVRLittleEndian]),
            (5, "1.2.840.10008.5.1.4.1.1.4", [JPEGBaseline8Bit]),
        ],
        called="SCPHUB", calling="CT_SCANNER_01",
    )
    request = pdu.parse_associate_rq(raw)
    assert request.protocol_version == 1
    assert request.called_ae == "SCPHUB" and request.calling_ae == "CT_SCANNER_01"
    assert request.called_raw == b"SCPHUB".ljust(16) and len(request.calling_raw) == 16
    assert request.application_context == pdu.APPLICATION_CONTEXT
    assert request.contexts == [
        pdu.ProposedContext(1, CTImageStorage, (ExplicitVRLittleEndian, ImplicitVRLittleEndian)),
        pdu.ProposedContext(3, Verification, (ImplicitVRLittleEndian,)),
        pdu.ProposedContext(5, "1.2.840.10008.5.1.4.1.1.4", (JPEGBaseline8Bit,)),
    ]
    assert request.max_pdu == 32768
    assert request.implementation_class_uid == "1.2.826.0.1.3680043.9.3811.3.0.4"
    assert request.implementation_version_name == "PYNETDICOM_304"
    assert request.other_user_items == set()


def test_parse_associate_rq_odd_length_uid_and_no_optional_items():
    # pynetdicom leaves the odd-length implementation UID unpadded; no version name, max PDU 0
    raw = rq_bytes([(1, Verification, [ImplicitVRLittleEndian])], max_pdu=0,
                   implementation_uid="1.2.3", version_name=None)
    request = pdu.parse_associate_rq(raw)
    assert request.max_pdu == 0
    assert request.implementation_class_uid == "1.2.3"
    assert request.implementation_version_name == ""


def test_role_selection_and_user_identity_land_in_other_user_items():
    role = SCP_SCU_RoleSelectionNegotiation()
    role.sop_class_uid = CTImageStorage
    role.scu_role = True
    role.scp_role = True
    identity = UserIdentityNegotiation()
    identity.user_identity_type = 2
    identity.primary_field = b"radiographer"
    identity.secondary_field = b"secret"
    window = AsynchronousOperationsWindowNegotiation()
    window.maximum_number_operations_invoked = 1
    window.maximum_number_operations_performed = 1
    raw = rq_bytes([(1, CTImageStorage, [ExplicitVRLittleEndian])],
                   extra=[window, role, identity])
    request = pdu.parse_associate_rq(raw)
    # the asynchronous operations window is understood (default answer), the others are not
    assert request.other_user_items == {pdu.ROLE_SELECTION, 0x58}
    assert request.max_pdu == 32768  # the other sub-items did not disturb the known ones
    assert request.implementation_version_name == "PYNETDICOM_304"


def test_application_context_is_reported_as_sent():
    raw = rq_bytes([(1, Verification, [ImplicitVRLittleEndian])], application_context="1.2.3.4")
    assert pdu.parse_associate_rq(raw).application_context == "1.2.3.4"


# -- what we encode, decoded by pynetdicom -----------------------------------------------------


def test_associate_ac_decoded_by_pynetdicom():
    raw = rq_bytes(
        [(1, CTImageStorage, [ImplicitVRLittleEndian, ExplicitVRLittleEndian]),
         (3, "1.2.3.4.5", [ImplicitVRLittleEndian]),
         (5, Verification, [JPEGBaseline8Bit])],
        called="SCPHUB", calling="CT01",
    )
    request = pdu.parse_associate_rq(raw)
    results = [
        (1, pdu.ACCEPTANCE, ExplicitVRLittleEndian),
        (3, pdu.ABSTRACT_SYNTAX_NOT_SUPPORTED, ImplicitVRLittleEndian),
        (5, pdu.TRANSFER_SYNTAXES_NOT_SUPPORTED, JPEGBaseline8Bit),
    ]
    encoded = pdu.encode_associate_ac(
        request, results, max_pdu=131072, implementation_class_uid="2.25.1234",
        implementation_version_name="PACSHUB_1",
    )
    assert pdu.header(encoded) == (pdu.ASSOCIATE_AC, len(encoded) - pdu.HEADER_SIZE)
    ac = A_ASSOCIATE_AC()
    ac.decode(encoded)
    assert ac.protocol_version == 1
    assert (ac.called_ae_title, ac.calling_ae_title) == ("SCPHUB", "CT01")
    assert ac.application_context_name == pdu.APPLICATION_CONTEXT
    primitive = ac.to_primitive()
    got = [
        (context.context_id, context.result, context.transfer_syntax[0])
        for context in primitive.presentation_context_definition_results_list
    ]
    assert got == results
    assert primitive.maximum_length_received == 131072
    assert primitive.implementation_class_uid == "2.25.1234"
    assert ac.user_information.implementation_version_name == "PACSHUB_1"
    assert ac.encode() == encoded  # pynetdicom re-encodes it byte for byte


def test_associate_rj_release_rp_and_abort_decoded_by_pynetdicom():
    rj = A_ASSOCIATE_RJ()
    rj.decode(pdu.encode_associate_rj(*pdu.APPLICATION_CONTEXT_NOT_SUPPORTED))
    assert (rj.result, rj.source, rj.reason_diagnostic) == (1, 1, 2)
    rj.decode(pdu.encode_associate_rj(2, 3, 2))
    assert (rj.result, rj.source, rj.reason_diagnostic) == (2, 3, 2)
    assert pdu.encode_release_rp() == A_RELEASE_RP().encode()
    abort = A_ABORT_RQ()
    abort.decode(pdu.encode_abort(pdu.ABORT_SOURCE_PROVIDER, pdu.ABORT_INVALID_PARAMETER))
    assert (abort.source, abort.reason_diagnostic) == (2, 6)
    abort.decode(pdu.encode_abort())
    assert (abort.source, abort.reason_diagnostic) == (2, 0)


def test_command_pdata_decoded_by_pynetdicom():
    command = pdu.encode_response(pdu.C_ECHO_RSP, 9, Verification, 0)
    encoded = pdu.encode_command_pdata(7, command)
    assert pdu.header(encoded) == (pdu.P_DATA_TF, len(encoded) - pdu.HEADER_SIZE)
    pdata = P_DATA_TF()
    pdata.decode(encoded)
    # one PDV on context 7: command (bit 0) and last fragment (bit 1)
    assert pdata.to_primitive().presentation_data_value_list == [(7, b"\x03" + command)]


def test_iter_pdvs_of_a_pynetdicom_p_data_tf():
    primitive = P_DATA()
    pdvs = [[1, b"\x01" + b"cmd-part"], [1, b"\x03" + b"command!"],
            [3, b"\x00" + b"data" * 10], [3, b"\x02" + b""]]
    primitive.presentation_data_value_list = pdvs  # type: ignore[assignment]
    encoded = P_DATA_TF(primitive).encode()
    pdu_type, length = pdu.header(encoded)
    assert (pdu_type, length) == (pdu.P_DATA_TF, len(encoded) - 6)
    got = [(cid, control, bytes(fragment))
           for cid, control, fragment in pdu.iter_pdvs(memoryview(encoded)[6:])]
    assert got == [(cid, value[0], value[1:]) for cid, value in pdvs]


# -- command sets ------------------------------------------------------------------------------


def test_parse_c_store_rq_command_encoded_by_pynetdicom():
    command = pdu.parse_command(store_rq_command(message_id=513, sop_instance_uid="1.2.3.45"))
    assert command == pdu.Command(
        command_field=pdu.C_STORE_RQ, message_id=513, has_data_set=True,
        sop_class_uid=CTImageStorage, sop_instance_uid="1.2.3.45",  # odd UID: NUL padding gone
    )


def test_parse_c_echo_and_c_find_rq_commands_encoded_by_pynetdicom():
    echo = dimse_primitives.C_ECHO()
    echo.MessageID = 65535
    echo.AffectedSOPClassUID = Verification
    command = pdu.parse_command(command_of(dimse_messages.C_ECHO_RQ(), echo))
    assert (command.command_field, command.message_id, command.has_data_set) == (
        pdu.C_ECHO_RQ, 65535, False)
    assert command.sop_class_uid == Verification
    find = dimse_primitives.C_FIND()
    find.MessageID = 2
    find.AffectedSOPClassUID = StudyRootQueryRetrieveInformationModelFind
    find.Priority = 0
    find.Identifier = BytesIO(b"\x08\x00\x52\x00\x06\x00\x00\x00STUDY ")
    command = pdu.parse_command(command_of(dimse_messages.C_FIND_RQ(), find))
    assert (command.command_field, command.has_data_set) == (0x0020, True)
    assert command.sop_class_uid == StudyRootQueryRetrieveInformationModelFind


@pytest.mark.parametrize(
    ("status", "comment", "instance"),
    [(0x0000, "", "1.2.3.45"), (0xA900, "SOPClassUID differs", "1.2.3.4"),
     (0xC000, "invalid SOPInstanceUID", "")],
)
def test_store_response_is_byte_identical_to_pynetdicom(status: int, comment: str, instance: str):
    primitive = dimse_primitives.C_STORE()
    primitive.MessageIDBeingRespondedTo = 7
    primitive.AffectedSOPClassUID = CTImageStorage
    if instance:
        primitive.AffectedSOPInstanceUID = instance
    primitive.Status = status
    if comment:
        primitive.ErrorComment = comment
    expected = command_of(dimse_messages.C_STORE_RSP(), primitive)
    got = pdu.encode_response(pdu.C_STORE_RSP, 7, CTImageStorage, status,
                              sop_instance_uid=instance, error_comment=comment)
    assert got == expected


def test_echo_response_is_byte_identical_to_pynetdicom():
    primitive = dimse_primitives.C_ECHO()
    primitive.MessageIDBeingRespondedTo = 300
    primitive.AffectedSOPClassUID = Verification
    primitive.Status = 0
    expected = command_of(dimse_messages.C_ECHO_RSP(), primitive)
    assert pdu.encode_response(pdu.C_ECHO_RSP, 300, Verification, 0) == expected


def test_encode_response_decoded_by_pydicom_with_group_length_and_even_values():
    sop_class = "1.2.840.10008.5.1.4.1.1.2"  # 25 characters: padded
    instance = "1.2.3.456"  # odd
    comment = "bad thing"  # odd
    data = pdu.encode_response(pdu.C_STORE_RSP, 65535, sop_class, 0xA701,
                               sop_instance_uid=instance, error_comment=comment)
    ds = decoded_command(data)
    assert ds.CommandGroupLength == len(data) - 12
    assert ds.AffectedSOPClassUID == sop_class
    assert ds.CommandField == pdu.C_STORE_RSP
    assert ds.MessageIDBeingRespondedTo == 65535
    assert ds.CommandDataSetType == pdu.NO_DATA_SET
    assert ds.Status == 0xA701
    assert ds.ErrorComment == comment
    assert ds.AffectedSOPInstanceUID == instance
    found = elements(data)
    tags = [tag for tag, _ in found]
    assert tags == sorted(tags) and tags[0] == 0
    assert all(len(value) % 2 == 0 for _, value in found)
    values = dict(found)
    assert values[pdu.AFFECTED_SOP_CLASS_UID].endswith(b"\x00")  # UI pads with NUL
    assert values[pdu.AFFECTED_SOP_INSTANCE_UID] == b"1.2.3.456\x00"
    assert values[pdu.ERROR_COMMENT] == b"bad thing "  # LO pads with a space
    assert pdu.MESSAGE_ID not in values  # a response names the ID it answers instead


# -- File Meta Information ---------------------------------------------------------------------


def test_file_meta_with_a_data_set_read_back_by_pydicom(tmp_path: Path):
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"  # odd length: padded with NUL
    ds.PatientName = "Doe^Jane"
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated = 16
    ds.PixelData = np.arange(16, dtype=np.uint16).tobytes()
    body = encode(ds, False, True)
    assert body is not None
    meta = pdu.file_meta(
        ds.SOPClassUID, ds.SOPInstanceUID, ExplicitVRLittleEndian,
        implementation_class_uid="2.25.78944049805331451933070507840424836616",
        implementation_version_name="PACSHUB_1.0", source_ae="CT01",
    )
    assert meta[:128] == bytes(128) and meta[128:132] == b"DICM"
    path = tmp_path / "x.dcm"
    path.write_bytes(meta + body)
    got = pydicom.dcmread(path)
    fm = got.file_meta
    assert fm.FileMetaInformationGroupLength == len(meta) - 132 - 12
    assert fm.FileMetaInformationVersion == b"\x00\x01"
    assert fm.MediaStorageSOPClassUID == CTImageStorage
    assert fm.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert fm.TransferSyntaxUID == ExplicitVRLittleEndian
    assert fm.ImplementationClassUID == "2.25.78944049805331451933070507840424836616"
    assert fm.ImplementationVersionName == "PACSHUB_1.0"
    assert fm.SourceApplicationEntityTitle == "CT01"
    assert got.SOPInstanceUID == ds.SOPInstanceUID
    assert got.PatientName == "Doe^Jane"
    assert got.PixelData == ds.PixelData
    # every File Meta element has an even length (PS3.10 7.1: padded)
    assert len(meta) % 2 == 0


def test_file_meta_without_source_ae_and_with_implicit_syntax(tmp_path: Path):
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = "1.2.3"
    ds.Modality = "CT"
    meta = pdu.file_meta(CTImageStorage, "1.2.3", ImplicitVRLittleEndian,
                         implementation_class_uid="1.2.3.4", implementation_version_name="V1")
    path = tmp_path / "y.dcm"
    path.write_bytes(meta + encode(ds, True, True))  # type: ignore[operator]
    got = pydicom.dcmread(path)
    assert "SourceApplicationEntityTitle" not in got.file_meta
    assert got.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert got.file_meta.MediaStorageSOPInstanceUID == "1.2.3"
    assert got.file_meta.FileMetaInformationGroupLength == len(meta) - 144
    assert got.Modality == "CT"


# -- malformed input ---------------------------------------------------------------------------


def _valid_rq() -> bytes:
    return rq_bytes([(1, CTImageStorage, [ExplicitVRLittleEndian])])


def _with_body(body: bytes) -> bytes:
    """A PDU header (type A-ASSOCIATE-RQ) for ``body``."""
    return struct.pack(">BBL", 1, 0, len(body)) + body


def _fixed_fields() -> bytes:
    return struct.pack(">HH", 1, 0) + b"HUB".ljust(16) + b"SCU".ljust(16) + bytes(32)


def _item(item_type: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value) if length is None else length) + value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("shorter than the fixed fields", _with_body(_fixed_fields()[:60])),
        ("length field says more", _valid_rq() + b"\x00\x00"),
        ("length field says less", _valid_rq()[:-3]),
        ("not an A-ASSOCIATE-RQ", b"\x02" + _valid_rq()[1:]),
        ("truncated item header", _with_body(_fixed_fields() + b"\x10\x00")),
        ("item past its PDU", _with_body(_fixed_fields() + _item(0x10, b"1.2.3", length=40))),
        ("unknown item type", _with_body(_fixed_fields() + _item(0x33, b"xx"))),
        ("context item under 4 bytes", _with_body(_fixed_fields() + _item(0x20, b"\x01\x00"))),
        ("context without transfer syntax",
         _with_body(_fixed_fields() + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"1.2")))),
        ("context with an unknown sub-item",
         _with_body(_fixed_fields() + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"1.2")
                                            + _item(0x40, b"1.2.840.10008.1.2")
                                            + _item(0x41, b"x")))),
        ("sub-item past its context",
         _with_body(_fixed_fields() + _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"1.2",
                                                                              length=9)))),
        ("maximum length not 4 bytes",
         _with_body(_fixed_fields() + _item(0x50, _item(pdu.MAX_LENGTH, b"\x00\x01")))),
    ],
)
def test_malformed_associate_rq_raises(name: str, raw: bytes):
    with pytest.raises(PduError):
        pdu.parse_associate_rq(raw)


def test_well_formed_minimal_rq_parses():
    # the hand-built pieces above are right when nothing is wrong with them
    context = _item(0x20, b"\x01\x00\x00\x00" + _item(0x30, b"1.2")
                    + _item(0x40, b"1.2.840.10008.1.2"))
    raw = _with_body(_fixed_fields() + _item(0x10, pdu.APPLICATION_CONTEXT.encode()) + context
                     + _item(0x50, _item(pdu.MAX_LENGTH, struct.pack(">L", 4096))))
    request = pdu.parse_associate_rq(raw)
    assert request.contexts == [pdu.ProposedContext(1, "1.2", ("1.2.840.10008.1.2",))]
    assert (request.called_ae, request.calling_ae, request.max_pdu) == ("HUB", "SCU", 4096)


def _pdv(context_id: int, control: int, data: bytes, length: int | None = None) -> bytes:
    size = len(data) + 2 if length is None else length
    return struct.pack(">LBB", size, context_id, control) + data


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("PDV length under 2", _pdv(1, 3, b"", length=1)),
        ("PDV length 0", struct.pack(">L", 0) + b"\x01\x03"),
        ("PDV past its PDU", _pdv(1, 3, b"abcd", length=20)),
        ("truncated PDV header", _pdv(1, 3, b"ab") + b"\x00\x00\x00"),
    ],
)
def test_malformed_pdvs_raise(name: str, body: bytes):
    with pytest.raises(PduError):
        list(pdu.iter_pdvs(memoryview(body)))


def test_an_empty_pdv_is_allowed():
    assert [(c, m, bytes(f)) for c, m, f in pdu.iter_pdvs(memoryview(_pdv(3, 2, b"")))] == [
        (3, 2, b"")]


def _cmd_element(group: int, element: int, value: bytes, length: int | None = None) -> bytes:
    return struct.pack("<HHL", group, element, len(value) if length is None else length) + value


_FIELD = _cmd_element(0, 0x0100, struct.pack("<H", 1))
_ID = _cmd_element(0, 0x0110, struct.pack("<H", 1))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("element outside group 0000", _FIELD + _ID + _cmd_element(8, 0x16, b"1.2.")),
        ("element past its end", _FIELD + _ID + _cmd_element(0, 0x1000, b"1.2.", length=12)),
        ("undefined length", _FIELD + _ID + _cmd_element(0, 0x1000, b"", length=0xFFFFFFFF)),
        ("truncated element header", _FIELD + _ID + b"\x00\x00\x02\x00"),
        ("CommandField not US", _cmd_element(0, 0x0100, b"\x01\x00\x00\x00") + _ID),
        ("no CommandField", _ID),
        ("no MessageID", _FIELD),
    ],
)
def test_malformed_command_sets_raise(name: str, data: bytes):
    with pytest.raises(PduError):
        pdu.parse_command(data)


def test_minimal_command_set_defaults():
    command = pdu.parse_command(_FIELD + _ID)
    assert command == pdu.Command(pdu.C_STORE_RQ, 1, has_data_set=False)
    with_data = pdu.parse_command(
        _FIELD + _ID + _cmd_element(0, 0x0800, struct.pack("<H", 0x0000)))
    assert with_data.has_data_set

"""The DICOM upper-layer PDUs and DIMSE command sets the storage loop needs (PS3.8, PS3.7).

Pure encoding and decoding, no sockets: :mod:`hub.dimse.store_loop` serves storage and
verification associations with these, while pynetdicom keeps everything else (see there).

Only what a Storage/Verification SCP receives and answers is covered: A-ASSOCIATE-RQ (parsed),
A-ASSOCIATE-AC/-RJ, A-RELEASE-RP and A-ABORT (encoded), P-DATA-TF presentation data values, and
the C-STORE/C-ECHO request and response command sets (implicit VR little endian, PS3.7 E.1).
Anything malformed raises :class:`PduError`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

#: PDU types (PS3.8 9.3.1).
ASSOCIATE_RQ = 0x01
ASSOCIATE_AC = 0x02
ASSOCIATE_RJ = 0x03
P_DATA_TF = 0x04
RELEASE_RQ = 0x05
RELEASE_RP = 0x06
ABORT = 0x07

#: The DICOM application context name (PS3.7 A.2.1).
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

#: Presentation context results (PS3.8 9.3.3.2).
ACCEPTANCE = 0
ABSTRACT_SYNTAX_NOT_SUPPORTED = 3
TRANSFER_SYNTAXES_NOT_SUPPORTED = 4

#: A-ABORT sources and reasons (PS3.8 9.3.8).
ABORT_SOURCE_PROVIDER = 2
ABORT_NOT_SPECIFIED = 0
ABORT_UNRECOGNISED_PDU = 1
ABORT_UNEXPECTED_PDU = 2
ABORT_INVALID_PARAMETER = 6

#: A-ASSOCIATE-RJ (result, source, diagnostic) for what only this module detects.
APPLICATION_CONTEXT_NOT_SUPPORTED = (0x01, 0x01, 0x02)
PROTOCOL_VERSION_NOT_SUPPORTED = (0x01, 0x02, 0x02)

#: User information sub-item types (PS3.7 D.3.3).
MAX_LENGTH = 0x51
IMPLEMENTATION_CLASS_UID = 0x52
ASYNC_OPERATIONS = 0x53
ROLE_SELECTION = 0x54
IMPLEMENTATION_VERSION_NAME = 0x55

#: DIMSE command fields (PS3.7 E.1).
C_STORE_RQ = 0x0001
C_STORE_RSP = 0x8001
C_ECHO_RQ = 0x0030
C_ECHO_RSP = 0x8030
C_CANCEL_RQ = 0x0FFF
#: CommandDataSetType: no data set follows.
NO_DATA_SET = 0x0101

#: PDU header: type, reserved, length (big endian).
_HEADER = struct.Struct(">BBL")
HEADER_SIZE = _HEADER.size


class PduError(ValueError):
    """A PDU or command set that does not follow PS3.8/PS3.7."""


@dataclass(frozen=True)
class ProposedContext:
    """One presentation context of an A-ASSOCIATE-RQ."""

    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...]


@dataclass
class AssociateRequest:
    """What an A-ASSOCIATE-RQ asks for."""

    protocol_version: int
    #: The raw 16-byte AE title fields, returned unchanged in the A-ASSOCIATE-AC.
    called_raw: bytes
    calling_raw: bytes
    application_context: str
    contexts: list[ProposedContext] = field(default_factory=list)
    #: The requestor's largest P-DATA-TF variable field; 0 means no limit.
    max_pdu: int = 0
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    #: Types of user information sub-items this module does not understand (role selection,
    #: extended negotiation, user identity...).
    other_user_items: set[int] = field(default_factory=set)

    @property
    def called_ae(self) -> str:
        return _ae(self.called_raw)

    @property
    def calling_ae(self) -> str:
        return _ae(self.calling_raw)


def _ae(raw: bytes) -> str:
    return raw.decode("ascii", "replace").strip(" \x00")


def _uid(raw: bytes) -> str:
    return raw.decode("ascii", "replace").rstrip("\x00 ")


def header(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(PDU type, length of the rest) from the first :data:`HEADER_SIZE` bytes."""
    pdu_type, _, length = _HEADER.unpack_from(data)
    return pdu_type, length


def _items(data: bytes, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(item type, value) of the items (type, reserved, 2-byte length) in ``data[start:end]``."""
    offset = start
    while offset < end:
        if offset + 4 > end:
            raise PduError("truncated item header")
        item_type = data[offset]
        (length,) = struct.unpack_from(">H", data, offset + 2)
        value_end = offset + 4 + length
        if value_end > end:
            raise PduError(f"item 0x{item_type:02X} runs past its PDU")
        yield item_type, data[offset + 4 : value_end]
        offset = value_end


def parse_associate_rq(pdu: bytes) -> AssociateRequest:
    """Decode a whole A-ASSOCIATE-RQ PDU (header included)."""
    if len(pdu) < 74:
        raise PduError("A-ASSOCIATE-RQ shorter than its fixed fields")
    pdu_type, length = header(pdu)
    if pdu_type != ASSOCIATE_RQ or length != len(pdu) - HEADER_SIZE:
        raise PduError("not a whole A-ASSOCIATE-RQ")
    (version,) = struct.unpack_from(">H", pdu, 6)
    request = AssociateRequest(
        protocol_version=version, called_raw=pdu[10:26], calling_raw=pdu[26:42],
        application_context="",
    )
    for item_type, value in _items(pdu, 74, len(pdu)):
        if item_type == 0x10:
            request.application_context = _uid(value)
        elif item_type == 0x20:
            request.contexts.append(_proposed_context(value))
        elif item_type == 0x50:
            _user_information(value, request)
        else:
            raise PduError(f"unexpected item 0x{item_type:02X} in A-ASSOCIATE-RQ")
    return request


def _proposed_context(value: bytes) -> ProposedContext:
    if len(value) < 4:
        raise PduError("truncated presentation context item")
    abstract = ""
    transfers: list[str] = []
    for sub_type, sub in _items(value, 4, len(value)):
        if sub_type == 0x30:
            abstract = _uid(sub)
        elif sub_type == 0x40:
            transfers.append(_uid(sub))
        else:
            raise PduError(f"unexpected sub-item 0x{sub_type:02X} in a presentation context")
    if not abstract or not transfers:
        raise PduError("a presentation context without abstract or transfer syntax")
    return ProposedContext(value[0], abstract, tuple(transfers))


def _user_information(value: bytes, request: AssociateRequest) -> None:
    for sub_type, sub in _items(value, 0, len(value)):
        if sub_type == MAX_LENGTH:
            if len(sub) != 4:
                raise PduError("maximum length sub-item is not 4 bytes")
            (request.max_pdu,) = struct.unpack(">L", sub)
        elif sub_type == IMPLEMENTATION_CLASS_UID:
            request.implementation_class_uid = _uid(sub)
        elif sub_type == IMPLEMENTATION_VERSION_NAME:
            request.implementation_version_name = _ae(sub)
        elif sub_type != ASYNC_OPERATIONS:  # default window (1, 1) when not answered
            request.other_user_items.add(sub_type)


def _item(item_type: int, value: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(value)) + value


def _pdu(pdu_type: int, body: bytes) -> bytes:
    return _HEADER.pack(pdu_type, 0, len(body)) + body


def encode_associate_ac(
    request: AssociateRequest,
    results: list[tuple[int, int, str]],
    *,
    max_pdu: int,
    implementation_class_uid: str,
    implementation_version_name: str,
) -> bytes:
    """An A-ASSOCIATE-AC answering ``request``; ``results`` holds (context ID, result,
    transfer syntax) per proposed context."""
    body = bytearray(struct.pack(">HH", 1, 0))
    body += request.called_raw + request.calling_raw + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for context_id, result, syntax in results:
        body += _item(
            0x21, struct.pack(">BBBB", context_id, 0, result, 0) + _item(0x40, syntax.encode())
        )
    user = (
        _item(MAX_LENGTH, struct.pack(">L", max_pdu))
        + _item(IMPLEMENTATION_CLASS_UID, implementation_class_uid.encode())
        + _item(IMPLEMENTATION_VERSION_NAME, implementation_version_name.encode())
    )
    body += _item(0x50, user)
    return _pdu(ASSOCIATE_AC, bytes(body))


def encode_associate_rj(result: int, source: int, reason: int) -> bytes:
    """An A-ASSOCIATE-RJ."""
    return _pdu(ASSOCIATE_RJ, bytes((0, result, source, reason)))


def encode_release_rp() -> bytes:
    """An A-RELEASE-RP."""
    return _pdu(RELEASE_RP, bytes(4))


def encode_abort(source: int = ABORT_SOURCE_PROVIDER, reason: int = ABORT_NOT_SPECIFIED) -> bytes:
    """An A-ABORT."""
    return _pdu(ABORT, bytes((0, 0, source, reason)))


def encode_command_pdata(context_id: int, command: bytes) -> bytes:
    """A P-DATA-TF carrying the whole command set ``command`` as its last fragment."""
    pdv = struct.pack(">LBB", len(command) + 2, context_id, 0x03) + command
    return _pdu(P_DATA_TF, pdv)


def iter_pdvs(body: memoryview) -> Iterator[tuple[int, int, memoryview]]:
    """(context ID, message control header, fragment) of each PDV in a P-DATA-TF's body."""
    offset = 0
    end = len(body)
    while offset < end:
        if offset + 6 > end:
            raise PduError("truncated presentation data value")
        (length,) = struct.unpack_from(">L", body, offset)
        if length < 2 or offset + 4 + length > end:
            raise PduError("a presentation data value runs past its PDU")
        yield body[offset + 4], body[offset + 5], body[offset + 6 : offset + 4 + length]
        offset += 4 + length


# -- command sets (implicit VR little endian) --------------------------------------------------

AFFECTED_SOP_CLASS_UID = 0x00000002
COMMAND_FIELD = 0x00000100
MESSAGE_ID = 0x00000110
MESSAGE_ID_RESPONDED_TO = 0x00000120
COMMAND_DATA_SET_TYPE = 0x00000800
STATUS = 0x00000900
ERROR_COMMENT = 0x00000902
AFFECTED_SOP_INSTANCE_UID = 0x00001000
_US_TAGS = frozenset({COMMAND_FIELD, MESSAGE_ID, COMMAND_DATA_SET_TYPE})
_TEXT_TAGS = frozenset({AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID})


@dataclass(frozen=True)
class Command:
    """The fields of a request command set this loop acts on."""

    command_field: int
    message_id: int
    has_data_set: bool
    sop_class_uid: str = ""
    sop_instance_uid: str = ""


def parse_command(data: bytes) -> Command:
    """Decode a request command set (implicit VR little endian)."""
    values: dict[int, object] = {}
    offset = 0
    end = len(data)
    while offset < end:
        if offset + 8 > end:
            raise PduError("truncated command element")
        group, element, length = struct.unpack_from("<HHL", data, offset)
        tag = group << 16 | element
        start = offset + 8
        offset = start + length
        if group != 0x0000 or offset > end:
            raise PduError("a command set element outside group 0000 or past its end")
        if tag in _US_TAGS:
            if length != 2:
                raise PduError(f"command element ({group:04X},{element:04X}) is not US")
            (values[tag],) = struct.unpack_from("<H", data, start)
        elif tag in _TEXT_TAGS:
            values[tag] = _uid(data[start:offset])
    if COMMAND_FIELD not in values or MESSAGE_ID not in values:
        raise PduError("a command set without CommandField or MessageID")
    return Command(
        command_field=int(values[COMMAND_FIELD]),  # type: ignore[call-overload]
        message_id=int(values[MESSAGE_ID]),  # type: ignore[call-overload]
        has_data_set=values.get(COMMAND_DATA_SET_TYPE, NO_DATA_SET) != NO_DATA_SET,
        sop_class_uid=str(values.get(AFFECTED_SOP_CLASS_UID, "")),
        sop_instance_uid=str(values.get(AFFECTED_SOP_INSTANCE_UID, "")),
    )


def _element(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, len(value)) + value


def _even(text: str, pad: bytes) -> bytes:
    raw = text.encode("ascii", "replace")
    return raw + pad if len(raw) % 2 else raw


def encode_response(
    command_field: int,
    message_id: int,
    sop_class_uid: str,
    status: int,
    *,
    sop_instance_uid: str = "",
    error_comment: str = "",
) -> bytes:
    """A response command set (no data set), elements in tag order with its group length."""
    elements = _element(AFFECTED_SOP_CLASS_UID, _even(sop_class_uid, b"\x00"))
    elements += _element(COMMAND_FIELD, struct.pack("<H", command_field))
    elements += _element(MESSAGE_ID_RESPONDED_TO, struct.pack("<H", message_id))
    elements += _element(COMMAND_DATA_SET_TYPE, struct.pack("<H", NO_DATA_SET))
    elements += _element(STATUS, struct.pack("<H", status))
    if error_comment:
        elements += _element(ERROR_COMMENT, _even(error_comment, b" "))
    if sop_instance_uid:
        elements += _element(AFFECTED_SOP_INSTANCE_UID, _even(sop_instance_uid, b"\x00"))
    return _element(0x00000000, struct.pack("<L", len(elements))) + elements


# -- File Meta Information (PS3.10 7.1) --------------------------------------------------------


def _explicit(tag: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB",):
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def file_meta(
    sop_class_uid: str,
    sop_instance_uid: str,
    transfer_syntax_uid: str,
    *,
    implementation_class_uid: str,
    implementation_version_name: str,
    source_ae: str = "",
) -> bytes:
    """Preamble, ``DICM`` and the File Meta group of a received instance."""
    group = _explicit(0x00020001, b"OB", b"\x00\x01")
    group += _explicit(0x00020002, b"UI", _even(sop_class_uid, b"\x00"))
    group += _explicit(0x00020003, b"UI", _even(sop_instance_uid, b"\x00"))
    group += _explicit(0x00020010, b"UI", _even(transfer_syntax_uid, b"\x00"))
    group += _explicit(0x00020012, b"UI", _even(implementation_class_uid, b"\x00"))
    group += _explicit(0x00020013, b"SH", _even(implementation_version_name, b" "))
    if source_ae:
        group += _explicit(0x00020016, b"AE", _even(source_ae, b" "))
    length = _explicit(0x00020000, b"UL", struct.pack("<L", len(group)))
    return bytes(128) + b"DICM" + length + group

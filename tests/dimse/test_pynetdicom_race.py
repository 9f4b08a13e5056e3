"""The fix for pynetdicom 3.0's lost-response race (hub.dimse.pynetdicom_race), on real
pynetdicom objects: a response the reactor takes while a ``send_*`` waits goes back to it."""

from __future__ import annotations

import logging

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_ECHO, C_STORE

from hub.dimse import pynetdicom_race


@pytest.fixture
def assoc() -> Association:
    pynetdicom_race.install()
    return Association(AE(ae_title="HUBTEST"), "requestor")


def store_response() -> C_STORE:
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = 1
    rsp.AffectedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    rsp.AffectedSOPInstanceUID = "1.2.3.4"
    rsp.Status = 0x0000
    return rsp


def test_a_response_taken_while_a_sender_waits_goes_back_to_the_queue(assoc: Association):
    rsp = store_response()
    assoc._reactor_checkpoint.clear()  # what send_c_store() does before sending
    assoc._serve_request(rsp, 3)
    assert assoc.dimse.msg_queue.get_nowait() == (3, rsp)


def test_a_response_with_no_sender_waiting_is_dropped_as_before(
    assoc: Association, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger="pynetdicom")
    assoc._reactor_checkpoint.set()
    assoc._serve_request(store_response(), 3)
    assert assoc.dimse.msg_queue.empty()
    assert "Received unexpected C-STORE service message" in caplog.text


def test_requests_still_go_to_pynetdicom(assoc: Association, monkeypatch: pytest.MonkeyPatch):
    seen: list[object] = []
    monkeypatch.setattr(pynetdicom_race, "_ORIGINAL", lambda self, msg, cx: seen.append(msg))
    request = C_ECHO()
    request.MessageID = 5
    request.AffectedSOPClassUID = "1.2.840.10008.1.1"
    assert request.is_valid_request
    assoc._reactor_checkpoint.clear()
    assoc._serve_request(request, 1)
    assert seen == [request] and assoc.dimse.msg_queue.empty()


def test_install_is_idempotent():
    pynetdicom_race.install()
    pynetdicom_race.install()
    assert Association._serve_request is pynetdicom_race._serve_request
    assert pynetdicom_race._ORIGINAL is not pynetdicom_race._serve_request

"""store_instance: durable write under the UID path, the index, idempotency, refusals."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest
from django.db import connection
from pydicom import dcmread
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite
from storage_helpers import PATIENT_ID, PATIENT_NAME, SERIES, STUDY, make_instance

from hub.errors import InputError
from hub.settings import get_settings, override_settings
from hub.storage import files
from hub.storage.errors import InvalidUIDError, MissingAttributeError, OutOfSpaceError
from hub.storage.store import store_instance

pytestmark = [
    pytest.mark.usefixtures("index_tables"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR UI", "ignore:The value length"),
]


def models() -> tuple[type, type]:
    """The index models (imported once Django is set up by the ``database`` fixture)."""
    from hub.storage.models import Instance, Series

    return Series, Instance


def stored_files() -> list[Path]:
    """Every file under DATA_DIR/instances (temp files included)."""
    root = get_settings().data_dir / "instances"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def encoded(number: int = 1, **overrides: object) -> bytes:
    buffer = DicomBytesIO()
    dcmwrite(buffer, make_instance(number, **overrides), enforce_file_format=True)
    return buffer.getvalue()


def test_store_dataset_writes_uid_path_and_indexes():
    Series, Instance = models()
    result = store_instance(make_instance(1), calling_ae="MODALITY", called_ae="PACSHUB")
    expected = get_settings().data_dir.resolve() / "instances" / STUDY / SERIES / f"{SERIES}.1.dcm"
    assert result.path == expected and expected.is_file()
    assert not result.duplicate
    assert result.size == expected.stat().st_size and len(result.sha256) == 64
    ds = dcmread(expected)
    assert ds.SOPInstanceUID == f"{SERIES}.1" and ds.PatientName == PATIENT_NAME
    series = Series.objects.get()
    assert (series.series_instance_uid, series.study_instance_uid) == (SERIES, STUDY)
    assert (series.modality, series.body_part_examined) == ("CT", "CHEST")
    assert series.series_description == "Thorax 1mm"
    assert (series.calling_ae, series.called_ae) == ("MODALITY", "PACSHUB")
    assert series.instance_count == 1 and series.state == Series.State.RECEIVING
    row = Instance.objects.get()
    assert row.path == f"instances/{STUDY}/{SERIES}/{SERIES}.1.dcm"
    assert row.series == series and row.size == result.size and row.sha256 == result.sha256
    assert row.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert row.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2" and row.source == "scp"
    assert stored_files() == [expected]


def test_store_bytes_keeps_them_as_sent():
    Series, Instance = models()
    data = encoded(2)
    result = store_instance(data, source="stow")
    assert result.path.read_bytes() == data
    assert Instance.objects.get().source == "stow"


def test_store_spooled_file_is_renamed_not_reencoded():
    spool = files.new_spool_file()
    data = encoded(3)
    spool.write_bytes(data)
    inode = spool.stat().st_ino
    result = store_instance(spool)
    assert not spool.exists()
    assert result.path.read_bytes() == data and result.path.stat().st_ino == inode
    assert stored_files() == [result.path]


def test_store_file_from_elsewhere_is_taken_over(tmp_path):
    outside = tmp_path / "incoming.dcm"
    outside.write_bytes(encoded(4))
    result = store_instance(outside)
    assert not outside.exists() and result.path.is_file()


def test_file_on_another_file_system_is_copied_then_removed(tmp_path, monkeypatch):
    outside = tmp_path / "incoming.dcm"
    outside.write_bytes(encoded(5))
    real_replace = os.replace

    def cross_device(source, target):
        if Path(source) == outside:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", cross_device)
    result = store_instance(outside)
    assert not outside.exists() and result.path.read_bytes() == encoded(5)
    assert stored_files() == [result.path]


def test_same_instance_again_is_one_row_and_duplicate():
    Series, Instance = models()
    first = store_instance(make_instance(1))
    again = store_instance(make_instance(1, SeriesDescription="Thorax resent"))
    assert again.duplicate and not first.duplicate
    assert Instance.objects.count() == 1 and Series.objects.get().instance_count == 1
    assert dcmread(again.path).SeriesDescription == "Thorax resent"
    assert stored_files() == [again.path]


def test_instance_moving_to_another_series_moves_file_and_counts():
    Series, Instance = models()
    store_instance(make_instance(1))
    other = SERIES + ".9"
    moved = store_instance(make_instance(1, SeriesInstanceUID=other))
    assert moved.duplicate and stored_files() == [moved.path]
    counts = dict(Series.objects.values_list("series_instance_uid", "instance_count"))
    assert counts == {SERIES: 0, other: 1}


def test_several_instances_count():
    Series, Instance = models()
    for number in range(1, 6):
        store_instance(make_instance(number))
    assert Series.objects.get().instance_count == 5 == Instance.objects.count()


BAD_UIDS = [
    ("SOPInstanceUID", "1.2/../3"),
    ("SOPInstanceUID", "1.2..3"),
    ("SeriesInstanceUID", "01.2"),
    ("StudyInstanceUID", "1" * 65),
    ("StudyInstanceUID", "../../etc"),
    ("SOPClassUID", "1.2.x"),
]


@pytest.mark.parametrize(("keyword", "value"), BAD_UIDS)
@pytest.mark.parametrize("form", ["dataset", "bytes", "spool"])
def test_invalid_uid_refused_and_nothing_written(keyword, value, form):
    Series, Instance = models()
    ds = make_instance(1, **{keyword: value})
    data: object = ds
    if form != "dataset":
        buffer = DicomBytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        data = buffer.getvalue()
    if form == "spool":
        spool = files.new_spool_file()
        spool.write_bytes(data)
        data = spool
    with pytest.raises(InvalidUIDError) as info:
        store_instance(data)
    assert info.value.field == keyword and value[:10] in info.value.cause
    assert stored_files() == [] and Instance.objects.count() == 0 == Series.objects.count()


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"])
def test_missing_uid_refused_naming_it(keyword):
    Series, Instance = models()
    with pytest.raises(MissingAttributeError, match=keyword) as info:
        store_instance(make_instance(1, **{keyword: None}))
    assert isinstance(info.value, InputError) and info.value.field == keyword
    assert stored_files() == [] and Instance.objects.count() == 0


def test_not_dicom_refused():
    Series, Instance = models()
    spool = files.new_spool_file()
    spool.write_bytes(b"hello, not DICOM")
    with pytest.raises(InputError, match="not a readable DICOM"):
        store_instance(spool)
    with pytest.raises(InputError):
        store_instance(b"\x00" * 10)
    assert stored_files() == [] and Instance.objects.count() == 0


def test_watermark_refuses_before_writing():
    Series, Instance = models()
    override_settings(storage={"min_free_mb": 10**12})
    spool = files.new_spool_file()
    spool.write_bytes(encoded(1))
    for data in (make_instance(1), encoded(1), spool):
        with pytest.raises(OutOfSpaceError, match="min_free_mb") as info:
            store_instance(data)
        assert info.value.fix
    assert stored_files() == [] and Instance.objects.count() == 0 == Series.objects.count()


def test_watermark_default_is_500_mb():
    assert get_settings().storage.min_free_mb == 500


def test_checksums_can_be_off():
    Series, Instance = models()
    override_settings(storage={"checksums": False})
    result = store_instance(make_instance(1))
    assert result.sha256 == "" and Instance.objects.get().sha256 == ""
    assert result.size == result.path.stat().st_size


def test_crash_between_write_and_index_leaves_nothing(monkeypatch):
    Series, Instance = models()

    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("hub.storage.store.index_instance", broken)
    with pytest.raises(RuntimeError, match="went away"):
        store_instance(make_instance(1))
    assert stored_files() == [] and Instance.objects.count() == 0 == Series.objects.count()


def test_failure_inside_index_transaction_rolls_back(monkeypatch):
    Series, Instance = models()

    def broken(series_pk, delta):
        raise RuntimeError("count failed")

    from hub.storage import index

    monkeypatch.setattr(index, "_count", broken)
    with pytest.raises(RuntimeError):
        store_instance(make_instance(1))
    assert stored_files() == [] and Instance.objects.count() == 0 == Series.objects.count()


def test_failed_index_of_a_resend_keeps_the_indexed_file(monkeypatch):
    Series, Instance = models()
    first = store_instance(make_instance(1))
    monkeypatch.setattr("hub.storage.store.index_instance", lambda *a, **k: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        store_instance(make_instance(1))
    assert stored_files() == [first.path] and Instance.objects.count() == 1


def test_write_failure_leaves_no_temp_file(monkeypatch):
    Series, Instance = models()

    def failing_sync(path, checksum):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files, "sync_and_digest", failing_sync)
    with pytest.raises(OutOfSpaceError):
        store_instance(make_instance(1))
    assert stored_files() == [] and Instance.objects.count() == 0


def test_concurrent_stores_into_one_series():
    Series, Instance = models()
    errors: list[BaseException] = []
    numbers = iter(range(1, 41))
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                with lock:
                    number = next(numbers, None)
                if number is None:
                    return
                # every instance twice: duplicates racing with first stores
                store_instance(make_instance(number))
                store_instance(make_instance(number))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    series = Series.objects.get()
    assert series.instance_count == 40 == Instance.objects.count()
    assert len([p for p in stored_files() if p.suffix == ".dcm"]) == 40
    assert all(p.suffix == ".dcm" for p in stored_files())


def test_no_patient_identifiers_in_the_index():
    Series, Instance = models()
    store_instance(make_instance(1))
    for model in (Series, Instance):
        for row in model.objects.values():
            for value in row.values():
                assert PATIENT_NAME not in str(value) and PATIENT_ID not in str(value)
                assert "Doe" not in str(value) and "19700101" not in str(value)
    names = {f.name.lower() for m in (Series, Instance) for f in m._meta.get_fields()}
    assert not any("patient" in name or "birth" in name for name in names)

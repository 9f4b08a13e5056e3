"""Storage: the durable write and the index of received DICOM instances.

One path for every way an instance arrives (C-STORE SCP, REST upload, STOW-RS):
:func:`hub.storage.store.store_instance` validates the UIDs, writes the file under
``DATA_DIR/instances/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` (temp file,
fsync, atomic rename, directory fsync) and indexes it in one transaction. Paths are built only
from UIDs that passed :func:`hub.storage.uids.validate_uid`.
"""

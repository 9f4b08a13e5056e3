"""The Orthanc harness (hub.testing.orthanc): start, REST helpers, push to the hub, stop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scp_helpers import HUB_AE, indexed_sop_uids, running_scp, wait_for

from hub.testing.dicom import write_series
from hub.testing.orthanc import OrthancError, running_orthanc
from hub.testing.validators import require_tool


def test_orthanc_pushes_a_study_to_the_hub(index_tables: None, tmp_path: Path):
    require_tool("Orthanc")
    paths = write_series(np.zeros((3, 16, 16)), tmp_path / "ct", seed="orthanc-harness",
                         body_part="CHEST")
    with running_scp() as scp:
        hub = {"hub": (HUB_AE, "127.0.0.1", scp.port)}
        with running_orthanc(tmp_path / "orthanc", aet="PACSTEST", modalities=hub) as pacs:
            config = json.loads((pacs.folder / "orthanc.json").read_text())
            assert config["RemoteAccessAllowed"] is False
            assert config["DicomAet"] == "PACSTEST"
            for path in paths:
                assert pacs.upload(path)["Status"] == "Success"
            (study,) = pacs.studies()
            (series,) = pacs.series(study["ID"])
            assert series["MainDicomTags"]["BodyPartExamined"] == "CHEST"
            instances = pacs.instances(series["ID"])
            assert len(instances) == 3
            tags = pacs.tags(instances[0]["ID"])
            assert tags["Modality"] == "CT"
            assert pacs.file(instances[0]["ID"])[128:132] == b"DICM"
            found = pacs.find("Series", {"Modality": "CT"})
            assert [s["ID"] for s in found] == [series["ID"]]
            pacs.echo("hub")
            answer = pacs.store_to("hub", study["ID"])
            assert answer.get("FailedInstancesCount", 0) == 0
            with pytest.raises(OrthancError, match="HTTP 404"):
                pacs.get("/studies/does-not-exist")
        assert pacs.process.poll() is not None  # stopped on leaving the block
    sent = {i["MainDicomTags"]["SOPInstanceUID"] for i in instances}
    assert wait_for(lambda: indexed_sop_uids() == sent)

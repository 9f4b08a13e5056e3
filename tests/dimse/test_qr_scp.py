"""Query/Retrieve through the hub's real SCP (hub.dimse.scp.SCP): what dcmtk storescu stored is
found by findscu and moved by movescu to a dcmtk storescp peer; strangers are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom import dcmread
from qr_helpers import DEST_AE, HUB_AE, VIEWER_AE, configure_peers, received, run_tool, storescp

from hub.testing.dicom import write_series


def test_store_find_move_through_the_scp(index_tables: None, tmp_path: Path):
    from hub.dimse.scp import SCP

    volume = np.linspace(-1000, 1000, 4 * 16 * 16).reshape(4, 16, 16)
    paths = write_series(volume, tmp_path / "ct", seed="qr-scp", series_description="QR SCP")
    series_uid = str(dcmread(paths[0], stop_before_pixels=True).SeriesInstanceUID)
    with storescp(tmp_path / "dest") as dest_port:
        configure_peers(dest_port)
        with SCP(host="127.0.0.1", port=0) as scp:
            port = str(scp.port)
            stored = run_tool("storescu", "-aet", "MODALITY", "-aec", HUB_AE,
                              "127.0.0.1", port, *map(str, paths))
            assert stored.returncode == 0, stored.stderr
            out = tmp_path / "rsp"
            out.mkdir()
            found = run_tool("findscu", "-S", "-aet", VIEWER_AE, "-aec", HUB_AE, "-X",
                             "-od", str(out), "-k", "QueryRetrieveLevel=SERIES",
                             "-k", "SeriesDescription=QR*", "-k", "SeriesInstanceUID",
                             "-k", "NumberOfSeriesRelatedInstances", "127.0.0.1", port)
            assert found.returncode == 0, found.stderr
            [response] = [dcmread(path) for path in out.glob("rsp*.dcm")]
            assert response.SeriesInstanceUID == series_uid
            assert response.NumberOfSeriesRelatedInstances == 4
            moved = run_tool("movescu", "-S", "-aet", VIEWER_AE, "-aem", DEST_AE,
                             "-aec", HUB_AE, "-k", "QueryRetrieveLevel=SERIES",
                             "-k", f"SeriesInstanceUID={series_uid}", "127.0.0.1", port)
            assert moved.returncode == 0, moved.stderr
            refused = run_tool("findscu", "-S", "-aet", "STRANGER", "-aec", HUB_AE,
                               "-k", "QueryRetrieveLevel=STUDY", "127.0.0.1", port)
    assert len(received(tmp_path / "dest")) == 4
    assert "0xc001: Failed" in refused.stdout + refused.stderr

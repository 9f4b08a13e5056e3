"""``pacs-hub series list|show|complete`` and ``pacs-hub routes test``: output and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from routing_helpers import routes, write

from hub.cli.main import main

pytestmark = pytest.mark.usefixtures("hub_db")

CT_CHEST = {
    "name": "ct-chest",
    "match": {"Modality": "CT", "BodyPartExamined": "CHEST|LUNG", "calling_ae": "CT0[1-9]"},
    "models": ["ct-lung-seg", "mr-brain-extract"],
    "priority": "urgent",
}


def run(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_series_list_show_and_complete(store_series, capsys):
    routes(CT_CHEST)
    code, out, _ = run(["series", "list"], capsys)
    assert code == 0 and out.strip() == "no series"
    uid = store_series(calling_ae="CT01")

    code, out, _ = run(["series", "list"], capsys)
    assert code == 0 and uid in out and "receiving" in out and "CT01" in out
    code, out, _ = run(["series", "list", "--state", "complete", "--json"], capsys)
    assert json.loads(out) == []

    code, out, _ = run(["series", "complete", uid], capsys)
    assert code == 0 and f"series {uid} completed (run 1); jobs: " in out

    code, out, _ = run(["series", "show", uid, "--json"], capsys)
    shown = json.loads(out)
    assert shown["state"] == "complete" and shown["completion_reason"] == "forced"
    assert shown["instances"] == 8 and shown["calling_ae"] == "CT01"
    assert "PatientName" not in out and "PatientID" not in out
    reasons = [d["reason"] for d in shown["decisions"]]
    assert "route ct-chest matched: Modality=CT, BodyPartExamined=CHEST, calling_ae=CT01" in reasons
    assert (
        "model mr-brain-extract skipped: series Modality is 'CT'; model mr-brain-extract "
        "accepts modalities ['MR']"
    ) in reasons
    [job] = shown["jobs"]
    assert (job["model"], job["state"], job["route"], job["priority"]) == (
        "ct-lung-seg@1.0.0", "queued", "ct-chest", "urgent",
    )

    code, out, _ = run(["series", "show", uid], capsys)
    assert code == 0 and "routing decisions" in out and "route ct-chest matched" in out
    assert "ct-lung-seg@1.0.0" in out
    code, out, _ = run(["series", "list", "--state", "complete", "--json"], capsys)
    assert [row["SeriesInstanceUID"] for row in json.loads(out)] == [uid]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["series", "show", "1.2.3.999"], "error: no series 1.2.3.999 in the index (fix: list"),
        (["series", "complete", "1.2.3.999"], "error: no series 1.2.3.999 in the index"),
        (["series", "list", "--state", "done"], "error: unknown series state 'done' (fix: use"),
        (["routes", "test", "/no/such/folder"], "error: /no/such/folder does not exist"),
    ],
)
def test_errors_name_cause_and_fix(args, message, capsys):
    code, _, err = run(args, capsys)
    assert code != 0 and err.startswith(message), err
    assert len(err.strip().splitlines()) == 1


def test_completing_a_complete_series_is_an_error(store_series, capsys):
    uid = store_series()
    assert run(["series", "complete", uid], capsys)[0] == 0
    code, _, err = run(["series", "complete", uid], capsys)
    assert code == 2 and "is already complete (run 1)" in err and "fix:" in err


def test_routes_test_evaluates_files_without_storing_or_running(tmp_path: Path, capsys):
    from hub.jobs.models import Job
    from hub.storage.models import Series

    routes(CT_CHEST)
    write(tmp_path / "ct", slices=8)
    write(tmp_path / "mr", modality="MR", slices=16, body_part="HEAD")
    code, out, _ = run(["routes", "test", str(tmp_path), "--calling-ae", "CT01", "--json"], capsys)
    assert code == 0
    report = {entry["Modality"]: entry for entry in json.loads(out)["series"]}
    assert report["CT"]["would_run"] == [
        {"model": "ct-lung-seg", "route": "ct-chest", "also_routes": [], "priority": "urgent"}
    ]
    assert report["CT"]["slices"] == 8 and report["CT"]["called_ae"] == "PACSHUB"
    assert report["MR"]["would_run"] == []
    assert report["MR"]["decisions"][-1]["reason"].startswith("no route matched")

    code, out, _ = run(["routes", "test", str(tmp_path / "ct"), "--calling-ae", "CT10"], capsys)
    assert code == 0
    assert "calling_ae=CT10 does not match 'CT0[1-9]'" in out
    assert "=> would run: nothing" in out
    assert not Series.objects.exists() and not Job.objects.exists()


ALL_CT = {"name": "all-ct", "match": {"Modality": "CT"}, "models": ["ct-lung-seg"],
          "send_to": ["archive"], "continue": True}
PEERS = [{"name": name, "ae_title": "PACS", "host": "127.0.0.1", "port": 104}
         for name in ("archive", "pacs")]


def test_routes_test_and_series_show_name_the_routes_a_model_delivers_to(
    store_series, tmp_path: Path, capsys
):
    routes(ALL_CT, {**CT_CHEST, "send_to": ["pacs"]}, peers=PEERS)
    write(tmp_path / "ct", slices=8)
    code, out, _ = run(["routes", "test", str(tmp_path), "--calling-ae", "CT01", "--json"], capsys)
    assert code == 0
    [entry] = json.loads(out)["series"]
    assert entry["would_run"] == [
        {"model": "ct-lung-seg", "route": "all-ct", "also_routes": ["ct-chest"],
         "priority": "normal"}
    ]
    text = ("model ct-lung-seg already chosen by route all-ct; its results also go to route "
            "ct-chest's send_to")
    assert text in [d["reason"] for d in entry["decisions"]]
    code, out, _ = run(["routes", "test", str(tmp_path), "--calling-ae", "CT01"], capsys)
    assert code == 0 and text in out
    assert "=> would run: ct-lung-seg (all-ct + ct-chest, normal)" in out

    uid = store_series(calling_ae="CT01")
    assert run(["series", "complete", uid], capsys)[0] == 0
    code, out, _ = run(["series", "show", uid, "--json"], capsys)
    shown = json.loads(out)
    [job] = shown["jobs"]
    assert (job["route"], job["also_routes"]) == ("all-ct", ["ct-chest"])
    assert f"{text}: job {job['id']}" in [d["reason"] for d in shown["decisions"]]
    code, out, _ = run(["series", "show", uid], capsys)
    assert code == 0 and "all-ct + ct-chest" in out
    code, out, _ = run(["jobs", "show", str(job["id"])], capsys)
    assert code == 0 and "also_routes" in out and "ct-chest" in out


def test_routes_test_without_routes_shows_the_fallback(tmp_path: Path, capsys):
    write(tmp_path / "mr", modality="MR", slices=16, body_part="HEAD")
    (tmp_path / "readme.txt").write_text("not DICOM")
    code, out, _ = run(["routes", "test", str(tmp_path)], capsys)
    assert code == 0
    assert "no [[routes]] configured" in out
    assert "=> would run: mr-brain-extract (no routes, normal)" in out
    assert "1 file(s) skipped: not readable DICOM" in out


def test_routes_test_on_files_that_are_not_dicom(tmp_path: Path, capsys):
    (tmp_path / "a.txt").write_text("hello")
    code, _, err = run(["routes", "test", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: no readable DICOM file")


def test_routes_test_and_routing_skip_a_switched_off_model(tmp_path: Path, capsys):
    from hub.jobs.toggles import set_enabled

    routes(CT_CHEST)
    write(tmp_path / "ct", slices=8)
    set_enabled("ct-lung-seg", False, changed_by="admin")
    try:
        code, out, _ = run(
            ["routes", "test", str(tmp_path), "--calling-ae", "CT01", "--json"], capsys
        )
    finally:
        set_enabled("ct-lung-seg", True, changed_by="admin")
    assert code == 0
    (entry,) = json.loads(out)["series"]
    assert entry["would_run"] == []
    assert any("switched off by an administrator" in d["reason"] for d in entry["decisions"])

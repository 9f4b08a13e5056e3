"""Reports: the SR content (measurements with units, model and version, the AI disclaimer),
and the radiologist's accept/reject, stored, audited and shown in the worklist."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ui_helpers import Study, add_job, csrf_token, write_study


def test_report_shows_measurements_with_units_model_and_disclaimer(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    answer = client_for("radiologist").get(f"/reports/{study.study_uid}/")
    assert answer.status_code == 200
    page = answer.content.decode()
    assert "AI-generated, not a diagnosis" in page
    assert "ct-lung-seg" in page and "version 1.0.0" in page
    assert "Right lung" in page and "Left lung" in page
    assert "Volume" in page
    assert "1,234.50" in page and "987.25" in page
    assert '<abbr title="milliliter">ml</abbr>' in page or ">ml</abbr>" in page
    assert "Rossi, Phantom" in page and study.patient_id in page
    assert 'name="decision" value="accepted"' in page
    assert "@media print" not in page  # print rules live in the stylesheet
    from hub.web.ui.models import AuditEvent

    event = AuditEvent.objects.get(action="report_viewed")
    assert event.target == study.study_uid and event.username == "radiologist"


def test_report_reads_the_sr_not_the_job_summary(study: Study) -> None:
    from hub.web.ui.results import study_results

    (entry,) = study_results(study.study_uid)
    assert entry.report is not None and entry.report.algorithm_name == "ct-lung-seg"
    assert entry.report.algorithm_version == "1.0.0"
    values = {(m.name, m.value, m.unit) for g in entry.report.groups for m in g.measurements}
    assert ("Volume", 1234.5, "ml") in values and ("Volume", 987.25, "ml") in values
    assert {(g.tracking_id, g.finding_site) for g in entry.report.groups} == {
        ("Right lung", "Right Lung"), ("Left lung", "Left Lung")}
    assert all(not g.evaluations for g in entry.report.groups)  # category, family: descriptive


def test_report_falls_back_to_stored_sr_then_job_summary(study: Study) -> None:
    from hub.jobs.models import Job
    from hub.web.ui.results import study_results

    result = dict(study.job.result)
    result["sr"] = {"uid": result["sr"]["uid"], "path": "/nonexistent/sr.dcm"}
    Job.objects.filter(pk=study.job.pk).update(result=result, output_dir="")
    (entry,) = study_results(study.study_uid)
    assert entry.report is None and "no longer on disk" in entry.report_error
    assert {s["name"] for s in entry.segments} == {"Right lung", "Left lung"}
    assert {(m.name, m.unit) for m in entry.measurements} == {
        ("right_lung_volume", "ml"), ("left_lung_volume", "ml")}


def test_failed_and_running_results_are_listed_without_review(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    add_job(study, "failed", model="ct-nodule-cls")
    page = client_for("radiologist").get(f"/reports/{study.study_uid}/").content.decode()
    assert "The model failed: InferenceError: the model ran out of memory" in page
    assert page.count('name="decision" value="accepted"') == 1


def test_accept_and_reject_are_stored_audited_and_shown(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    from hub.web.ui.models import AuditEvent, ResultReview

    client = client_for("radiologist")
    token = csrf_token(client, f"/reports/{study.study_uid}/")
    url = f"/reports/{study.study_uid}/review/{study.job.pk}/"
    answer = client.post(url, {"decision": "accepted", "comment": "looks right",
                               "csrfmiddlewaretoken": token})
    assert answer.status_code == 302
    review = ResultReview.objects.get()
    assert (review.decision, review.comment, review.reviewer_name) == (
        "accepted", "looks right", "radiologist")
    event = AuditEvent.objects.get(action="review_accepted")
    assert event.target == study.study_uid and f"job {study.job.pk}" in event.detail
    worklist = client.get("/worklist/").content.decode()
    assert 'class="review review-accepted"' in worklist
    report = client.get(f"/reports/{study.study_uid}/").content.decode()
    assert "looks right" in report and "review-accepted" in report

    client.post(url, {"decision": "rejected", "comment": "", "csrfmiddlewaretoken": token})
    assert AuditEvent.objects.filter(action="review_rejected").count() == 1
    assert 'class="review review-rejected"' in client.get("/worklist/").content.decode()
    assert ResultReview.objects.count() == 2


def test_review_needs_a_finished_result_of_this_study(
    client_for: Callable[[str | None], Any], study: Study
) -> None:
    from hub.web.ui.models import ResultReview

    client = client_for("admin")
    token = csrf_token(client)
    running = add_job(study, "running", model="ct-nodule-cls")
    answer = client.post(f"/reports/{study.study_uid}/review/{running.pk}/",
                         {"decision": "accepted", "csrfmiddlewaretoken": token})
    assert answer.status_code == 302 and not ResultReview.objects.exists()
    other = client.post(f"/reports/1.2.3/review/{running.pk}/",
                        {"decision": "accepted", "csrfmiddlewaretoken": token})
    assert other.status_code == 404
    bad = client.post(f"/reports/{study.study_uid}/review/{running.pk}/",
                      {"decision": "maybe", "csrfmiddlewaretoken": token})
    assert bad.status_code == 302 and not ResultReview.objects.exists()


def test_unknown_study_is_404(client_for: Callable[[str | None], Any], people: Any) -> None:
    client = client_for("radiologist")
    assert client.get("/reports/1.2.3.4/").status_code == 404
    assert client.get("/reports/not-a-uid/").status_code == 404


def test_classifier_report_shows_the_finding_and_confidence(tmp_path: Any) -> None:
    from pathlib import Path

    from hub.inference.volume import load_series
    from hub.results.writer import write_results
    from hub.sdk import CODES, Code, FindingSpec, ModelManifest, Result, TensorSpec
    from hub.web.ui.srreport import read_report

    manifest = ModelManifest(
        name="ct-nodule-cls", version="2.1.0", modalities=("CT",),
        model_file=Path("unused.onnx"), sha256="f" * 64,
        inputs=(TensorSpec("image", (1, 1, None, None, None)),), outputs=("SR",),
        dimensionality="3d",
        findings=(FindingSpec("nodule", Code("27925004", "SCT", "Nodule"),
                              {"present": CODES["yes"], "absent": CODES["no"]}),),
    )
    paths, _ = write_study(tmp_path, "classified")
    files = write_results(load_series(paths, workers=1), manifest,
                          Result(findings={"nodule": "present"}, scores={"nodule": 0.87}),
                          tmp_path / "out")
    report = read_report(files.sr_path)
    assert (report.algorithm_name, report.algorithm_version) == ("ct-nodule-cls", "2.1.0")
    evaluations = [(e.name, e.value) for g in report.groups for e in g.evaluations]
    assert ("Nodule", "Yes") in evaluations
    scores = [m for g in report.groups for m in g.measurements]
    assert [(m.name, m.value, m.display_unit) for m in scores] == [
        ("Model confidence score", 0.87, "")]

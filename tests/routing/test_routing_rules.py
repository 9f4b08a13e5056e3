"""[[routes]] evaluation: order, continue, fallback, regex semantics, manifest acceptance."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from routing_helpers import write

from hub.plugins.manager import load_registry
from hub.plugins.registry import Registry
from hub.routing.facts import facts_from_paths
from hub.routing.rules import Outcome, SeriesFacts, evaluate, match_route
from hub.settings import Route


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The example plugins installed in the venv (ct-lung-seg, mr-brain-extract, ...)."""
    found = load_registry()
    names = {m.manifest.name for m in found.enabled()}
    assert {"ct-lung-seg", "mr-brain-extract"} <= names, "install the example plugins"
    return found


def facts(
    *, modality: str = "CT", slices: int = 8, calling_ae: str = "CT01", called_ae: str = "HUB",
    **attributes: object,
) -> SeriesFacts:
    header = Dataset()
    header.Modality = modality
    header.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    for keyword, value in attributes.items():
        setattr(header, keyword, value)
    return SeriesFacts("1.2.3.4", "1.2.3", header, calling_ae, called_ae, slices)


def route(name: str, match: dict | None = None, **options: object) -> Route:
    return Route.model_validate({"name": name, "match": match or {}, **options})


def accepted(plan) -> list[tuple[str, str, str]]:
    return [(d.model, d.route, d.priority) for d in plan.accepted]


def test_no_routes_sends_the_series_to_every_model_that_accepts_it(registry):
    plan = evaluate(facts(BodyPartExamined="CHEST"), [], registry)
    assert accepted(plan) == [("ct-lung-seg", "", "normal")]
    first = plan.decisions[0]
    assert first.outcome == Outcome.MATCHED and "no [[routes]] configured" in first.reason
    skipped = {d.model: d.reason for d in plan.decisions if d.outcome == Outcome.SKIPPED}
    assert skipped["mr-brain-extract"] == (
        "model mr-brain-extract skipped: series Modality is 'CT'; model mr-brain-extract "
        "accepts modalities ['MR']"
    )


def test_first_matching_route_wins(registry):
    rules = [
        route("mr", {"Modality": "MR"}, models=["mr-brain-extract"]),
        route("ct-chest", {"Modality": "CT", "BodyPartExamined": "CHEST|LUNG"},
              models=["ct-lung-seg"], priority="urgent"),
        route("ct-all", {"Modality": "CT"}, models=["ct-lung-seg"]),
    ]
    plan = evaluate(facts(BodyPartExamined="LUNG"), rules, registry)
    assert accepted(plan) == [("ct-lung-seg", "ct-chest", "urgent")]
    assert [d.route for d in plan.decisions if d.outcome in ("matched", "not_matched")] == [
        "mr", "ct-chest",
    ]  # ct-all is never evaluated
    assert plan.decisions[0].reason == "route mr not matched: Modality=CT does not match 'MR'"
    assert plan.decisions[1].reason == (
        "route ct-chest matched: Modality=CT, BodyPartExamined=LUNG"
    )


def test_continue_evaluates_later_routes_and_runs_each_model_once(registry):
    rules = [
        route("ct", {"Modality": "CT"}, models=["ct-lung-seg"], **{"continue": True}),
        route("everything", {}, priority="off-peak"),
    ]
    plan = evaluate(facts(), rules, registry)
    assert accepted(plan) == [("ct-lung-seg", "ct", "normal")]
    reasons = [d.reason for d in plan.decisions]
    assert "route everything matched: no conditions" in reasons
    assert (
        "model ct-lung-seg already chosen by route ct; its results also go to route "
        "everything's send_to (none configured)"
    ) in reasons
    assert plan.also_routes == {"ct-lung-seg": ["everything"]}


def test_a_model_chosen_again_runs_once_and_its_results_go_to_every_route(registry):
    rules = [
        route("all-ct", {"Modality": "CT"}, models=["ct-lung-seg"], send_to=["archive"],
              **{"continue": True}),
        route("mr", {"Modality": "MR"}, models=["mr-brain-extract"], send_to=["mr-pacs"],
              **{"continue": True}),
        route("chest-ct", {"Modality": "CT", "BodyPartExamined": "CHEST"},
              models=["ct-lung-seg", "ct-lung-seg"], send_to=["chest-pacs"], priority="urgent",
              **{"continue": True}),
        route("every-model", {}, send_to=["archive", "research"]),
        route("never-evaluated", {}, models=["ct-lung-seg"], send_to=["other"]),
    ]
    plan = evaluate(facts(BodyPartExamined="CHEST"), rules, registry)
    assert accepted(plan) == [("ct-lung-seg", "all-ct", "normal")]  # first route's priority
    assert plan.also_routes == {"ct-lung-seg": ["chest-ct", "every-model"]}
    again = [(d.route, d.outcome, d.reason) for d in plan.decisions
             if d.model == "ct-lung-seg" and d.outcome != Outcome.ACCEPTED]
    assert again == [
        ("chest-ct", Outcome.SKIPPED, "model ct-lung-seg already chosen by route all-ct; its "
         "results also go to route chest-ct's send_to"),
        ("chest-ct", Outcome.SKIPPED, "model ct-lung-seg already chosen by route all-ct"),
        ("every-model", Outcome.SKIPPED, "model ct-lung-seg already chosen by route all-ct; "
         "its results also go to route every-model's send_to"),
    ]


def test_a_model_chosen_by_one_route_has_no_extra_routes(registry):
    rules = [
        route("all-ct", {"Modality": "CT"}, models=["ct-lung-seg"], send_to=["archive"],
              **{"continue": True}),
        route("chest-ct", {"BodyPartExamined": "CHEST"}, models=["ct-lung-seg"]),
    ]
    plan = evaluate(facts(BodyPartExamined="HEAD"), rules, registry)
    assert accepted(plan) == [("ct-lung-seg", "all-ct", "normal")]
    assert plan.also_routes == {}
    assert not any("already chosen" in d.reason for d in plan.decisions)


def test_routes_configured_but_none_matching_route_nowhere(registry):
    plan = evaluate(facts(modality="MR", slices=20), [route("ct", {"Modality": "CT"})], registry)
    assert plan.accepted == []
    last = plan.decisions[-1]
    assert last.outcome == Outcome.NOT_ROUTED
    assert last.reason.startswith("no route matched (1 configured); not routed")


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("CT", "CT", True),
        ("C", "CT", False),  # the whole value must match (re.fullmatch)
        ("T", "CT", False),
        ("CT|MR", "MR", True),
        ("ct", "CT", False),  # case-sensitive
        ("(?i)ct", "CT", True),
        (".*", "", True),  # an absent attribute is the empty string
        ("CHEST", "", False),
    ],
)
def test_keyword_patterns_are_case_sensitive_full_matches(pattern, value, matches):
    attributes = {"BodyPartExamined": value} if value else {}
    rule = route("r", {"BodyPartExamined": pattern})
    hit, reason = match_route(rule, facts(**attributes))
    assert hit is matches, reason
    if not value and not matches:
        assert "BodyPartExamined=(empty) does not match 'CHEST'" in reason


@pytest.mark.parametrize(
    ("calling", "matches"), [("CT01", True), ("CT09", True), ("CT10", False), ("XCT01", False)]
)
def test_calling_ae_pattern(calling, matches):
    hit, _ = match_route(route("r", {"calling_ae": "CT0[1-9]"}), facts(calling_ae=calling))
    assert hit is matches


def test_called_ae_pattern():
    rule = route("r", {"called_ae": "HUB|PACSHUB"})
    assert match_route(rule, facts(called_ae="PACSHUB"))[0]
    hit, reason = match_route(rule, facts(called_ae="OTHER"))
    assert not hit and "called_ae=OTHER does not match 'HUB|PACSHUB'" in reason


@pytest.mark.parametrize(
    ("pattern", "matches"), [("AXIAL", True), ("ORIGINAL", True), ("LOCALIZER", False)]
)
def test_multi_valued_attribute_matches_when_any_value_does(pattern, matches):
    series = facts(ImageType=["ORIGINAL", "PRIMARY", "AXIAL"])
    hit, reason = match_route(route("r", {"ImageType": pattern}), series)
    assert hit is matches
    if matches:
        assert reason == f"route r matched: ImageType={pattern}"
    else:
        assert "ImageType=ORIGINAL\\PRIMARY\\AXIAL does not match" in reason


def test_sequences_never_match():
    series = facts(ProcedureCodeSequence=Sequence([Dataset()]))
    hit, reason = match_route(route("r", {"ProcedureCodeSequence": ".*"}), series)
    assert not hit and "a sequence or binary value" in reason


def test_series_description_and_every_key_must_match():
    rule = route("r", {"Modality": "CT", "SeriesDescription": ".*[Tt]horax.*"})
    assert match_route(rule, facts(SeriesDescription="CT Thorax 1mm"))[0]
    hit, reason = match_route(rule, facts(SeriesDescription="Abdomen"))
    assert not hit and "SeriesDescription=Abdomen does not match" in reason


def test_patient_identifiers_are_redacted_in_reasons():
    series = facts(PatientID="PID-4711", PatientName="Doe^Jane")
    hit, reason = match_route(route("r", {"PatientID": "PID-.*"}), series)
    assert hit and reason == "route r matched: PatientID=[redacted]"
    hit, reason = match_route(route("r", {"PatientName": "X"}), series)
    assert not hit and reason == "route r not matched: PatientName=[redacted] does not match 'X'"


def test_unknown_and_disabled_models_are_skipped_with_a_reason():
    registry = load_registry()
    for model in registry.models:
        if model.manifest.name == "mr-brain-extract":
            model.enabled = False
    rules = [route("all", {}, models=["nope", "mr-brain-extract", "ct-lung-seg"])]
    plan = evaluate(facts(), rules, registry)
    reasons = {d.model: d.reason for d in plan.decisions if d.model}
    assert reasons["nope"] == "model nope not installed"
    assert reasons["mr-brain-extract"].startswith(
        "model mr-brain-extract skipped: model 'mr-brain-extract' is disabled"
    )
    assert accepted(plan) == [("ct-lung-seg", "all", "normal")]


def test_named_models_are_still_checked_against_their_manifests(registry):
    rules = [route("all", {}, models=["ct-lung-seg", "mr-brain-extract"])]
    plan = evaluate(facts(slices=4), rules, registry)
    assert plan.accepted == []
    reasons = {d.model: d.reason for d in plan.decisions if d.model}
    assert reasons["ct-lung-seg"] == (
        "model ct-lung-seg skipped: series has 4 slices; model ct-lung-seg needs min_slices=8"
    )
    mr = evaluate(facts(modality="MR", slices=16), rules, registry)
    assert accepted(mr) == [("mr-brain-extract", "all", "normal")]


def test_summary_reads_as_one_line(registry):
    rules = [route("ct-chest", {"Modality": "CT", "BodyPartExamined": "CHEST"},
                   models=["mr-brain-extract"])]
    plan = evaluate(facts(BodyPartExamined="CHEST"), rules, registry)
    assert plan.summary() == (
        "route ct-chest matched: Modality=CT, BodyPartExamined=CHEST; model mr-brain-extract "
        "skipped: series Modality is 'CT'; model mr-brain-extract accepts modalities ['MR']"
    )


def test_facts_from_paths_groups_files_by_series(tmp_path: Path):
    write(tmp_path / "ct", slices=9)
    write(tmp_path / "mr", modality="MR", slices=3, body_part="")
    (tmp_path / "notes.txt").write_text("not DICOM")
    found = facts_from_paths([tmp_path], calling_ae="CT01", called_ae="HUB")
    counts = sorted((f.values("Modality")[0], f.slice_count) for f in found.facts)
    assert counts == [("CT", 9), ("MR", 3)]
    assert all(f.calling_ae == "CT01" and f.called_ae == "HUB" for f in found.facts)
    assert [path.name for path, _ in found.unreadable] == ["notes.txt"]

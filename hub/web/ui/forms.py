"""Forms of the web app (validation of every query and POST)."""

from __future__ import annotations

from django import forms

from hub.accounts.roles import SCOPES
from hub.jobs.models import Job
from hub.web.ui.models import AuditEvent, ResultReview

SORTS = [
    ("-received", "Newest arrival"),
    ("received", "Oldest arrival"),
    ("-date", "Study date (newest)"),
    ("date", "Study date (oldest)"),
    ("patient", "Patient name"),
    ("patient_id", "Patient ID"),
    ("modality", "Modality"),
]
STATUSES = [
    ("", "Any"),
    ("none", "No AI"),
    ("queued", "Queued"),
    ("running", "Running"),
    ("done", "Done"),
    ("failed", "Failed"),
    ("to-review", "Done, not reviewed"),
    ("accepted", "Accepted"),
    ("rejected", "Rejected"),
]


class WorklistFilter(forms.Form):
    """The worklist's filter, search, sort and page (all optional, GET)."""

    q = forms.CharField(label="Search", required=False, max_length=64,
                        help_text="Patient name, patient ID or accession number")
    modality = forms.ChoiceField(label="Modality", required=False)
    date_from = forms.DateField(label="Study date from", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="to", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(label="AI status", required=False, choices=STATUSES)
    sort = forms.ChoiceField(label="Sort", required=False, choices=SORTS)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: object, modalities: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["modality"].choices = [("", "Any"), *((m, m) for m in modalities)]


class ReviewForm(forms.Form):
    """A radiologist's decision on one AI result."""

    decision = forms.ChoiceField(choices=ResultReview.Decision.choices)
    comment = forms.CharField(label="Comment", required=False, max_length=2000,
                              widget=forms.Textarea(attrs={"rows": 2}))


class ToggleForm(forms.Form):
    """Enable or disable one model name."""

    model = forms.SlugField(max_length=64)
    enabled = forms.TypedChoiceField(choices=[("1", "enable"), ("0", "disable")],
                                     coerce=lambda v: v == "1")
    reason = forms.CharField(label="Reason", required=False, max_length=200)


class JobFilter(forms.Form):
    """The jobs list's filters (GET)."""

    state = forms.ChoiceField(required=False, choices=[("", "Any"), *Job.State.choices])
    model = forms.CharField(required=False, max_length=64)
    study = forms.CharField(label="Study UID", required=False, max_length=64)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class TokenForm(forms.Form):
    """A new personal API token."""

    name = forms.CharField(label="Name", max_length=64)
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=[(s, s) for s in SCOPES], widget=forms.CheckboxSelectMultiple,
        help_text="read: studies and results; infer: run models; admin: all your role allows",
    )
    expires_in_days = forms.IntegerField(label="Expires in (days)", required=False,
                                         min_value=1, max_value=3650)


class AuditFilter(forms.Form):
    """The audit page's filters (GET)."""

    user = forms.CharField(label="User", required=False, max_length=150)
    action = forms.ChoiceField(required=False, choices=[("", "Any"), *AuditEvent.Action.choices])
    target = forms.CharField(label="Target contains", required=False, max_length=200)
    date_from = forms.DateField(label="From", required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)


class EchoForm(forms.Form):
    """C-ECHO one configured peer."""

    peer = forms.CharField(max_length=64)

"""The worklist query: filter, search, sort and page the studies (see :mod:`.studies`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.paginator import Page, Paginator

from hub.web.ui.studies import StudyRow, attach_headers, attach_models, study_rows

PAGE_SIZE = 25
#: Sort keys that need the file headers of every study (see the cost in :mod:`.studies`).
HEADER_SORTS = {"date", "-date", "patient", "patient_id"}


@dataclass(frozen=True)
class Query:
    """A validated worklist query (from :class:`hub.web.ui.forms.WorklistFilter`)."""

    q: str = ""
    modality: str = ""
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    sort: str = "-received"
    page: int = 1

    @classmethod
    def from_form(cls, data: dict[str, Any]) -> Query:
        return cls(
            q=(data.get("q") or "").strip(),
            modality=data.get("modality") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            status=data.get("status") or "",
            sort=data.get("sort") or "-received",
            page=data.get("page") or 1,
        )

    @property
    def needs_headers(self) -> bool:
        return bool(self.q or self.date_from or self.date_to or self.sort in HEADER_SORTS)


def matches_text(row: StudyRow, text: str) -> bool:
    """Case-insensitive substring search in patient name, patient ID and accession number."""
    needle = text.casefold()
    header = row.header
    return any(
        needle in value.casefold()
        for value in (header.patient_name, header.patient_id, header.accession_number)
    )


def in_dates(row: StudyRow, start: date | None, end: date | None) -> bool:
    """True when the study date is within [start, end]; studies without a date never match."""
    when = row.header.date
    if when is None:
        return False
    return (start is None or when >= start) and (end is None or when <= end)


def matches_status(row: StudyRow, status: str) -> bool:
    """The AI status filter: an overall state, or a review state."""
    if status in ("to-review", "accepted", "rejected"):
        return row.review == status
    return row.status == status


def _sort(rows: list[StudyRow], sort: str) -> list[StudyRow]:
    key = sort.lstrip("-")
    reverse = sort.startswith("-")
    keys = {
        "received": lambda r: r.received_at,
        "date": lambda r: (r.header.study_date, r.header.study_time),
        "patient": lambda r: r.header.patient_name.casefold(),
        "patient_id": lambda r: r.header.patient_id,
        "modality": lambda r: ",".join(r.modalities),
    }
    return sorted(rows, key=keys.get(key, keys["received"]), reverse=reverse)


def select(query: Query) -> Page:
    """The page of studies the query asks for, with headers and AI status attached."""
    rows = study_rows(query.modality)
    if query.needs_headers:
        attach_headers(rows)
        if query.q:
            rows = [r for r in rows if matches_text(r, query.q)]
        if query.date_from or query.date_to:
            rows = [r for r in rows if in_dates(r, query.date_from, query.date_to)]
    if query.status:
        attach_models(rows)
        rows = [r for r in rows if matches_status(r, query.status)]
    rows = _sort(rows, query.sort)
    page = Paginator(rows, PAGE_SIZE).get_page(query.page)
    shown = list(page.object_list)
    if not query.needs_headers:
        attach_headers(shown)
    if not query.status:
        attach_models(shown)
    return page

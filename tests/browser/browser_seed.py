"""Put the example CT study into a hub for the browser tests (run in a subprocess).

``python browser_seed.py seed FOLDER``: migrate, create the test users, write a chest CT phantom
(:func:`hub.testing.phantoms.chest_ct_phantom` through ``synthetic_ct_series``) into the hub's
storage as an upload would, and queue a ``ct-lung-seg`` job on it; prints JSON with the UIDs
and the job id. ``python browser_seed.py wait JOB_ID``: wait until that job succeeded and
its SEG and SR are in the hub's storage (where DICOMweb serves them from); exit 1 with the
job's state and error when it fails or times out.

Both run with the hub's environment (PACS_HUB_DATA_DIR, PACS_HUB_DATABASE_URL) in their own
process, so the test process's Django (another database) is never re-pointed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

PASSWORD = "browser-test-Passw0rd!"
USERS = {"rad": "radiologist", "eng": "ml-engineer", "ada": "admin"}
#: A user of no role: logged in, but without ``view_studies``.
NO_ROLE = "nobody"
MODEL = "ct-lung-seg"
SLICES, SIZE, SEED = 24, 128, 11


def seed(folder: Path) -> dict[str, object]:
    """Users, the stored phantom series and its queued job."""
    from hub import db

    db.setup()
    db.migrate()
    from hub.accounts.roles import sync_roles
    from hub.accounts.services import create_user
    from hub.jobs.services import submit_job
    from hub.storage.store import store_instance
    from hub.testing.series import synthetic_ct_series

    sync_roles()
    for name, role in USERS.items():
        create_user(name, role, PASSWORD)
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(NO_ROLE, password=PASSWORD)
    series, _ = synthetic_ct_series(folder, slices=SLICES, size=SIZE, seed=SEED, order="sorted")
    stored = [
        store_instance(path.read_bytes(), source="rest") for path in sorted(folder.glob("*.dcm"))
    ]
    job = submit_job(
        stored[0].series_instance_uid,
        stored[0].study_instance_uid,
        MODEL,
        [item.path for item in stored],
    )
    return {
        "study": stored[0].study_instance_uid,
        "series": stored[0].series_instance_uid,
        "instances": len(stored),
        "job": job.pk,
        "modality": series.modality,
    }


def wait(job_id: int, timeout: float = 150.0) -> dict[str, object]:
    """Wait for the job and for its SEG and SR to be stored; raises SystemExit on failure."""
    from hub import db

    db.setup()
    from hub.jobs.models import Job
    from hub.storage.models import Series

    deadline = time.monotonic() + timeout
    job = Job.objects.get(pk=job_id)
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in (Job.State.FAILED, Job.State.CANCELLED):
            raise SystemExit(f"job {job_id} {job.state}: {job.error}")
        results = set(
            Series.objects.filter(study_instance_uid=job.study_instance_uid, hub_results=True)
            .values_list("modality", flat=True)
        )
        if job.state == Job.State.SUCCEEDED and {"SEG", "SR"} <= results:
            return {"job": job_id, "state": job.state, "results": sorted(results)}
        time.sleep(0.5)
    raise SystemExit(f"job {job_id} not done with SEG and SR stored after {timeout:.0f} s: "
                     f"state {job.state}")


def main(argv: list[str]) -> None:
    """Command line: ``seed FOLDER`` or ``wait JOB_ID``."""
    if len(argv) == 2 and argv[0] == "seed":
        out = seed(Path(argv[1]))
    elif len(argv) == 2 and argv[0] == "wait":
        out = wait(int(argv[1]))
    else:
        raise SystemExit("usage: browser_seed.py seed FOLDER | wait JOB_ID")
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

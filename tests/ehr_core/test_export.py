"""Bulk Data ``$export`` round trips on SQLite: kick-off, status, manifest, NDJSON files,
tenancy, roles, cancel, failure, one export at a time."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select, update

from ehr_core import Database, Settings, create_app
from ehr_core.fhir import (
    PATIENT_TYPES,
    SYSTEM_TYPES,
    ExportJob,
    ExportNotFound,
    ExportRunner,
    JobStatus,
)
from ehr_core.fhir.store import ExportStore
from ehr_core.models import AuditEntry, Patient, User
from tests.ehr_core.test_fhir_helpers import (
    World,
    build_world,
    expected_counts,
    wait_for_export,
)

pytestmark = pytest.mark.unit

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    tmp = tmp_path_factory.mktemp("export")
    settings = Settings(
        db_url=f"sqlite:///{tmp / 'ehr.db'}",
        region="test-east",
        audit_spool_path=str(tmp / "spool.jsonl"),
        export_dir=str(tmp / "exports"),
    )
    return build_world(settings)


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    app = create_app(world.settings)
    with TestClient(app) as c:
        yield c
    exports = getattr(app.state, "fhir_exports", None)
    if exports is not None:
        assert exports.runner.join(timeout=30), "an export thread outlived its test"


def kick_off(client: TestClient, world: World, who: str, path: str = "/fhir/r4/$export") -> str:
    resp = client.get(path, headers={**ASYNC, **world.auth(who)})
    assert resp.status_code == 202, resp.text
    return resp.headers["Content-Location"]


def run_export(
    client: TestClient, world: World, who: str = "owner@0", path: str = "/fhir/r4/$export"
) -> tuple[str, dict[str, Any]]:
    status_url = kick_off(client, world, who, path)
    done = wait_for_export(client, status_url, world.auth(who), timeout=60)
    assert done.status_code == 200, done.text
    return status_url, done.json()


def download(client: TestClient, world: World, url: str, who: str = "owner@0") -> list[dict]:
    resp = client.get(url, headers={**world.auth(who), "Accept": "application/fhir+ndjson"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/fhir+ndjson")
    return [json.loads(line) for line in resp.text.splitlines()]


def patient_ids(world: World, practice_id: int) -> set[str]:
    database = Database(world.settings)
    try:
        with database.session() as session:
            ids = session.execute(select(Patient.id).where(Patient.practice_id == practice_id))
            return {str(i) for i in ids.scalars()}
    finally:
        database.dispose()


def test_round_trip_takes_all_of_the_practice_and_nothing_else(
    client: TestClient, world: World
) -> None:
    started = dt.datetime.now(dt.UTC)
    status_url, manifest = run_export(client, world)
    assert set(manifest) == {"transactionTime", "request", "requiresAccessToken", "output", "error"}
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/fhir/r4/$export")
    assert dt.datetime.fromisoformat(manifest["transactionTime"]) >= started - dt.timedelta(
        seconds=1
    )
    expected = {t: n for t, n in expected_counts(world.settings, world.practice_ids[0]).items()}
    assert {o["type"]: o["count"] for o in manifest["output"]} == {
        t: n for t, n in expected.items() if n
    }
    assert set(expected) == set(SYSTEM_TYPES) and all(expected.values())

    own_patients = patient_ids(world, world.practice_ids[0])
    other_patients = patient_ids(world, world.practice_ids[1])
    for out in manifest["output"]:
        lines = download(client, world, out["url"])
        assert len(lines) == out["count"] == expected[out["type"]]
        assert len({r["id"] for r in lines}) == len(lines)
        for resource in lines:
            assert resource["resourceType"] == out["type"]
            get_fhir_model_class(out["type"]).model_validate(resource)
            refs = _patient_refs(resource)
            assert refs <= own_patients and not refs & other_patients, resource["id"]
        if out["type"] == "Patient":
            assert {r["id"] for r in lines} == own_patients
        if out["type"] == "Organization":
            assert [r["id"] for r in lines] == [str(world.practice_ids[0])]


def _patient_refs(resource: dict) -> set[str]:
    text = json.dumps(resource)
    found = set()
    for part in text.split('"Patient/')[1:]:
        found.add(part.split('"', 1)[0])
    if resource["resourceType"] == "Patient":
        found.add(resource["id"])
    return found


def test_patient_level_export_is_the_patient_compartment(client: TestClient, world: World) -> None:
    _, manifest = run_export(client, world, path="/fhir/r4/Patient/$export")
    types = {o["type"] for o in manifest["output"]}
    assert types == set(PATIENT_TYPES)
    assert "Practitioner" not in types and "Organization" not in types


def test_type_filter(client: TestClient, world: World) -> None:
    resp = client.get(
        "/fhir/r4/$export?_type=Observation,Patient&_outputFormat=application/fhir%2Bndjson",
        headers={**ASYNC, **world.auth("owner@1")},
    )
    assert resp.status_code == 202
    done = wait_for_export(client, resp.headers["Content-Location"], world.auth("owner@1"), 60)
    assert [o["type"] for o in done.json()["output"]] == ["Patient", "Observation"]


@pytest.mark.parametrize(
    ("query", "headers", "field"),
    [
        ("?_type=Spaceship", ASYNC, "_type"),
        ("?_type=Patient,Practitioner&x=1", ASYNC, None),  # valid at system level
        ("?_since=2026-01-01T00:00:00Z", ASYNC, "_since"),
        ("?_outputFormat=text/csv", ASYNC, "_outputFormat"),
        ("", {"Accept": "application/fhir+json"}, "Prefer"),
        ("", {"Prefer": "respond-async", "Accept": "text/html"}, "Accept"),
    ],
)
def test_kick_off_refuses_bad_requests_by_name(
    client: TestClient, world: World, query: str, headers: dict[str, str], field: str | None
) -> None:
    resp = client.get(f"/fhir/r4/$export{query}", headers={**headers, **world.auth("owner@0")})
    if field is None:
        assert resp.status_code == 202
        wait_for_export(client, resp.headers["Content-Location"], world.auth("owner@0"), 60)
        return
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["error"] == "bad_request" and body["fields"][0]["field"] == field


def test_patient_level_refuses_non_compartment_types(client: TestClient, world: World) -> None:
    resp = client.get(
        "/fhir/r4/Patient/$export?_type=Practitioner", headers={**ASYNC, **world.auth("owner@0")}
    )
    assert resp.status_code == 400 and resp.json()["fields"][0]["field"] == "_type"


def test_only_the_owner_of_the_practice_gets_the_export(client: TestClient, world: World) -> None:
    status_url, manifest = run_export(client, world)
    file_url = manifest["output"][0]["url"]
    for who in ("clinician@0", "staff@0"):
        headers = world.auth(who)
        assert client.get("/fhir/r4/$export", headers={**ASYNC, **headers}).status_code == 403
        assert client.get(status_url, headers=headers).status_code == 403
        assert client.get(file_url, headers=headers).status_code == 403
        assert client.delete(status_url, headers=headers).status_code == 403
    other = world.auth("owner@1")
    for resp in (
        client.get(status_url, headers=other),
        client.get(file_url, headers=other),
        client.delete(status_url, headers=other),
    ):
        assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    assert client.get(file_url).status_code == 401
    # ...and the owner still can.
    assert client.get(file_url, headers=world.auth("owner@0")).status_code == 200


def test_kick_off_and_downloads_are_audited(client: TestClient, world: World) -> None:
    status_url, manifest = run_export(client, world)
    job_id = status_url.rsplit("/", 1)[1]
    download(client, world, manifest["output"][0]["url"])
    database = Database(world.settings)
    try:
        with database.session() as session:
            rows = session.execute(
                select(AuditEntry.action, AuditEntry.resource_id).where(
                    AuditEntry.resource_type == "bulk_export",
                    AuditEntry.resource_id.startswith(job_id),
                )
            ).all()
    finally:
        database.dispose()
    actions = sorted(a for a, _ in rows)
    assert actions == ["fhir_export", "fhir_export_download"]


def test_delete_removes_files_and_status(client: TestClient, world: World) -> None:
    status_url, manifest = run_export(client, world)
    job_id = status_url.rsplit("/", 1)[1]
    folder = Path(world.settings.export_dir) / job_id
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{o['type']}.ndjson" for o in manifest["output"]
    )
    assert client.delete(status_url, headers=world.auth("owner@0")).status_code == 202
    assert not folder.exists()
    assert client.get(status_url, headers=world.auth("owner@0")).status_code == 404
    assert (
        client.get(manifest["output"][0]["url"], headers=world.auth("owner@0")).status_code == 404
    )


def _job(world: World, practice: int, status: JobStatus, *, age: float = 0.0) -> str:
    """A job row as a worker would have left it (``age`` seconds since its heartbeat)."""
    database = Database(world.settings)
    job_id = uuid.uuid4().hex
    beat = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age)
    try:
        with database.transaction() as session:
            owner_id = session.execute(
                select(User.id).where(
                    User.practice_id == world.practice_ids[practice], User.role == "owner"
                )
            ).scalar_one()
            session.add(
                ExportJob(
                    id=job_id, practice_id=world.practice_ids[practice], requested_by=owner_id,
                    level="system", types="Patient", request_url="http://testserver/fhir/r4/$export",
                    status=status.value, progress="Patient (1/1 types)", output=[],
                    created_at=beat, heartbeat_at=beat, resource_count=0,
                )
            )  # fmt: skip
    finally:
        database.dispose()
    return job_id


def test_one_export_at_a_time_and_a_lost_worker_is_reported(
    client: TestClient, world: World
) -> None:
    job_id = _job(world, 1, JobStatus.running)
    busy = client.get("/fhir/r4/$export", headers={**ASYNC, **world.auth("owner@1")})
    assert busy.status_code == 429 and "Retry-After" in busy.headers
    status = client.get(f"/fhir/r4/_export/{job_id}", headers=world.auth("owner@1"))
    assert status.status_code == 202 and status.headers["X-Progress"].startswith("Patient")
    # The worker "dies" mid-file: its heartbeat goes stale, the job reports failure, its
    # partial file is removed, and a new export may start.
    partial = Path(world.settings.export_dir) / job_id / "Patient.ndjson.part"
    partial.parent.mkdir(parents=True)
    partial.write_text('{"resourceType":"Patient"')
    database = Database(world.settings)
    try:
        with database.transaction() as session:
            session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id)
                .values(heartbeat_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
            )
    finally:
        database.dispose()
    failed = client.get(f"/fhir/r4/_export/{job_id}", headers=world.auth("owner@1"))
    assert failed.status_code == 500 and failed.json()["error"] == "export_failed"
    assert not partial.parent.exists()
    run_export(client, world, who="owner@1")
    assert (
        client.delete(f"/fhir/r4/_export/{job_id}", headers=world.auth("owner@1")).status_code
        == 202
    )


class _CancelledMidway(ExportRunner):
    """Cancels its own job (as a DELETE from another worker would) after the first batch."""

    beats = 0

    def _beat(self, job_id: str, **kwargs: Any) -> None:
        self.beats += 1
        if self.beats == 2:
            with self.database.transaction() as session:
                session.execute(
                    update(ExportJob).where(ExportJob.id == job_id).values(status="cancelled")
                )
        super()._beat(job_id, **kwargs)


class _DiskFull(ExportStore):
    def writer(self, job_id: str, resource_type: str) -> Any:
        if resource_type == "Observation":
            raise OSError(28, "No space left on device")
        return super().writer(job_id, resource_type)


def test_cancel_while_running_and_failure_clean_up(world: World, tmp_path: Path) -> None:
    database = Database(world.settings)
    try:
        job_id = _job(world, 0, JobStatus.queued)
        with database.transaction() as session:
            session.execute(
                update(ExportJob).where(ExportJob.id == job_id).values(types=",".join(SYSTEM_TYPES))
            )
        store = ExportStore(tmp_path)
        outcome = _CancelledMidway(database=database, store=store, batch_size=5).run(job_id)
        assert outcome is not None and outcome.status == JobStatus.cancelled
        assert not (tmp_path / job_id).exists()
        with database.session() as session:
            assert session.get(ExportJob, job_id) is None

        job_id = _job(world, 0, JobStatus.queued)
        with database.transaction() as session:
            session.execute(
                update(ExportJob).where(ExportJob.id == job_id).values(types="Patient,Observation")
            )
        with pytest.raises(OSError):
            ExportRunner(database=database, store=_DiskFull(tmp_path)).run(job_id)
        assert not (tmp_path / job_id).exists()
        with database.session() as session:
            job = session.get(ExportJob, job_id)
            assert job is not None and job.status == "failed"
            assert job.error == "export failed: OSError"
        with database.transaction() as session:
            session.delete(session.get(ExportJob, job_id))
    finally:
        database.dispose()


def test_export_logs_and_headers_carry_no_phi(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    status_url = kick_off(client, world, "owner@0")
    headers = []
    deadline = time.monotonic() + 60
    while True:
        resp = client.get(status_url, headers=world.auth("owner@0"))
        headers.append(json.dumps(dict(resp.headers)))
        if resp.status_code != 202:
            break
        assert time.monotonic() < deadline, "export did not finish"
        time.sleep(0.02)
    for out in resp.json()["output"]:
        headers.append(
            json.dumps(dict(client.get(out["url"], headers=world.auth("owner@0")).headers))
        )
    database = Database(world.settings)
    try:
        with database.session() as session:
            people = session.execute(
                select(Patient.given_name, Patient.family_name, Patient.email, Patient.mrn)
            ).all()
    finally:
        database.dispose()
    seen = caplog.text + "\n".join(headers)
    for given, family, address, mrn in people:
        assert f"{given} {family}" not in seen and address not in seen and mrn not in seen


def test_store_publishes_whole_files_only_and_refuses_odd_names(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    job_id = uuid.uuid4().hex
    with store.writer(job_id, "Patient") as writer:
        writer.write({"resourceType": "Patient", "id": "1"})
        assert not (tmp_path / job_id / "Patient.ndjson").exists()  # only the .part so far
    assert store.path(job_id, "Patient.ndjson").read_text() == (
        '{"resourceType":"Patient","id":"1"}\n'
    )
    assert oct((tmp_path / job_id / "Patient.ndjson").stat().st_mode & 0o777) == "0o600"
    with pytest.raises(RuntimeError), store.writer(job_id, "Observation") as writer:
        writer.write({"resourceType": "Observation", "id": "1"})
        raise RuntimeError("disk trouble")
    assert sorted(p.name for p in (tmp_path / job_id).iterdir()) == ["Patient.ndjson"]
    for job, name in [
        (job_id, "../Patient.ndjson"),
        (job_id, "Patient.ndjson.part"),
        (job_id, "Observation.ndjson"),
        ("../" + job_id, "Patient.ndjson"),
        (job_id.upper(), "Patient.ndjson"),
    ]:
        with pytest.raises(ExportNotFound):
            store.path(job, name)
    store.remove(job_id)
    assert not (tmp_path / job_id).exists()


def test_finished_exports_expire(client: TestClient, world: World) -> None:
    status_url, _ = run_export(client, world, who="owner@1")
    fresh = client.get(status_url, headers=world.auth("owner@1"))
    expires = email.utils.parsedate_to_datetime(fresh.headers["Expires"])
    assert dt.timedelta(hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(hours=24)
    job_id = status_url.rsplit("/", 1)[1]
    database = Database(world.settings)
    try:
        with database.transaction() as session:
            session.execute(
                update(ExportJob)
                .where(ExportJob.id == job_id)
                .values(finished_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))
            )
    finally:
        database.dispose()
    # Any practice's export traffic sweeps it: here practice 0's owner polls a missing job.
    other = client.get(f"/fhir/r4/_export/{uuid.uuid4().hex}", headers=world.auth("owner@0"))
    assert other.status_code == 404
    assert not (Path(world.settings.export_dir) / job_id).exists()
    assert client.get(status_url, headers=world.auth("owner@1")).status_code == 404
    database = Database(world.settings)
    try:
        with database.session() as session:
            assert session.get(ExportJob, job_id) is None
    finally:
        database.dispose()


def test_both_kick_offs_keep_their_documented_contract(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    ops = {"system": paths["/fhir/r4/$export"]["get"]}
    ops["patient"] = paths["/fhir/r4/Patient/$export"]["get"]
    assert ops["system"]["operationId"] == "export_system_fhir_r4__export_get"
    assert ops["patient"]["operationId"] == "export_patients_fhir_r4_Patient__export_get"
    assert ops["system"]["description"].startswith("Every resource of every type")
    assert ops["patient"]["description"].startswith("The Patient compartment")
    for op in ops.values():
        assert op["summary"].startswith("Bulk Data export") and op["summary"].endswith("(owner)")
        assert [(p["in"], p["name"]) for p in op["parameters"]] == [
            ("query", "_outputFormat"),
            ("query", "_type"),
            ("query", "_since"),
            ("header", "Prefer"),
            ("header", "Accept"),
            ("header", "Idempotency-Key"),
        ]
        assert "Content-Location" in op["responses"]["202"]["headers"]
        assert {"202", "400", "401", "403", "422", "429", "503"} <= set(op["responses"])

"""Downtime snapshots: collected from a real EHR app, sealed, and opened again."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ehr_core import Settings, create_app
from ehr_core.db import make_engine
from ehr_core.migrate import upgrade
from ehr_core.seed import seed
from runbooks.snapshot import Envelope, collect_practice, decrypt, new_passphrase, write_snapshot
from runbooks.snapshot.bundle import BundleError
from runbooks.snapshot.collect import login

START = dt.date(2030, 3, 4)
PASSWORD = "chartguard-seed-password"
FAST = 1_000  # PBKDF2 iterations in tests; the default (600,000) is for real bundles


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    tmp = tmp_path_factory.mktemp("ehr")
    settings = Settings(
        db_url=f"sqlite:///{tmp / 'ehr.db'}", region="east",
        audit_spool_path=str(tmp / "spool.jsonl"),
    )
    upgrade(settings)
    seed(make_engine(settings), practices=2, patients=30, password=PASSWORD, start=START)
    client = TestClient(create_app(settings))
    client.headers["Authorization"] = "Bearer " + login(
        client, "owner@practice-0000.test", PASSWORD
    )
    return client


@pytest.mark.unit
def test_collect_reads_schedule_and_charts(ehr: TestClient) -> None:
    data = collect_practice(
        ehr, practice="practice-0000", start=START, days=2,
        now=dt.datetime(2030, 3, 3, 18, 0, tzinfo=dt.UTC),
    )
    assert [d["date"] for d in data.days] == ["2030-03-04", "2030-03-05"]
    appointments = [a for d in data.days for a in d["appointments"]]
    assert appointments, "a seeded practice has a schedule"
    assert {str(a["patient_id"]) for a in appointments} == set(data.patients)
    one = next(iter(data.patients.values()))
    assert set(one) == {"name", "birth_date", "mrn", "allergies", "medications", "labs", "notes"}


@pytest.mark.unit
def test_sealed_page_holds_no_plaintext_and_opens_with_the_key(
    ehr: TestClient, tmp_path: Path
) -> None:
    data = collect_practice(
        ehr, practice="practice-0000", start=START, days=1,
        now=dt.datetime(2030, 3, 3, 18, 0, tzinfo=dt.UTC),
    )
    passphrase = new_passphrase()
    result = write_snapshot(data, out_dir=tmp_path, passphrase=passphrase, iterations=FAST)
    page = result.page.read_text()
    a_name = next(iter(data.patients.values()))["name"]
    assert a_name not in page and a_name.split()[0] not in page
    inline = page.split('type="application/json">')[1].split("</script>")[0]
    envelope = Envelope(**json.loads(inline))
    assert decrypt(envelope, passphrase=passphrase) == json.loads(json.dumps(data.payload()))
    with pytest.raises(BundleError, match="wrong passphrase"):
        decrypt(envelope, passphrase="not-the-owners-key")
    forged = Envelope(**{**envelope.__dict__, "practice": "practice-0001"})
    with pytest.raises(BundleError):
        decrypt(forged, passphrase=passphrase)  # bound to its practice


@pytest.mark.unit
def test_short_passphrase_refused(tmp_path: Path) -> None:
    from runbooks.snapshot import PracticeData

    with pytest.raises(BundleError, match="at least 12"):
        write_snapshot(PracticeData("p", "t"), out_dir=tmp_path, passphrase="short")
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium not installed")
def test_viewer_decrypts_in_a_real_browser_offline(ehr: TestClient, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    data = collect_practice(
        ehr, practice="practice-0000", start=START, days=1,
        now=dt.datetime(2030, 3, 3, 18, 0, tzinfo=dt.UTC),
    )
    passphrase = new_passphrase()
    page_path = write_snapshot(data, out_dir=tmp_path, passphrase=passphrase, iterations=FAST).page
    first = data.days[0]["appointments"][0]
    artifacts = Path("test-artifacts")
    artifacts.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri())
            page.fill("#passphrase", "wrong-passphrase-123")
            page.click("button[type=submit]")
            page.wait_for_selector("#status.error")
            page.fill("#passphrase", passphrase)
            page.click("button[type=submit]")
            page.wait_for_selector("#content section[data-day='2030-03-04']")
            text = page.inner_text("#content")
            assert first["patient_name"] in text
            page.screenshot(path=str(artifacts / "downtime-viewer.png"), full_page=False)
        finally:
            browser.close()

"""``chartguard snapshot downtime``: encrypted offline copies of each practice's next days."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click
import httpx

from runbooks.errors import RunbookError
from runbooks.snapshot import collect_practice, new_passphrase, write_snapshot
from runbooks.snapshot.collect import login


@click.group()
def snapshot() -> None:
    """Offline copies practices can open when everything is down."""


@snapshot.command()
@click.option("--target", default="http://127.0.0.1:8080", show_default=True, help="EHR base URL")
@click.option("--practice", "practices", multiple=True, required=True, help="slug (repeat)")
@click.option(
    "--owner-email", default="owner@{practice}.test", show_default=True,
    help="owner login; {practice} is replaced by the slug",
)
@click.option(
    "--password-env", default="CHARTGUARD_OWNER_PASSWORD", show_default=True,
    help="environment variable holding the owner's password",
)
@click.option("--days", default=3, show_default=True, type=click.IntRange(1, 14))
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), help="first day (default: today)")
@click.option("--out", "out_dir", default=".state/downtime", show_default=True, type=click.Path())
@click.option(
    "--passphrase-file", type=click.Path(exists=True, dir_okay=False),
    help="the owner's passphrase; default: a new random one per practice, written to keys/",
)
def downtime(
    target: str, practices: tuple[str, ...], owner_email: str, password_env: str, days: int,
    start: dt.datetime | None, out_dir: str, passphrase_file: str | None,
) -> None:
    """Write <out>/<practice>.html: the next days' schedules and patient summaries,
    AES-GCM encrypted with an owner-held passphrase, viewable offline in any browser."""
    password = os.environ.get(password_env)
    if not password:
        raise click.UsageError(f"set the owner's password in ${password_env}")
    out = Path(out_dir)
    keys = out / "keys"
    given = Path(passphrase_file).read_text().strip() if passphrase_file else None
    first_day = (start.date() if start else dt.datetime.now(dt.UTC).date())
    failed = 0
    with click.progressbar(practices, label="sealing downtime copies") as bar:
        for slug in bar:
            try:
                with httpx.Client(base_url=target, timeout=30) as client:
                    token = login(client, owner_email.format(practice=slug), password)
                    client.headers["Authorization"] = f"Bearer {token}"
                    data = collect_practice(
                        client, practice=slug, start=first_day, days=days,
                        now=dt.datetime.now(dt.UTC),
                    )
                passphrase = given or new_passphrase()
                result = write_snapshot(data, out_dir=out, passphrase=passphrase)
                if given is None:
                    keys.mkdir(parents=True, exist_ok=True)
                    key_file = keys / f"{slug}.key"
                    key_file.touch(mode=0o600)
                    key_file.write_text(passphrase + "\n")
                click.echo(
                    f"\n{slug}: {result.appointments} appointments, {result.patients} patients"
                    f" -> {result.page}"
                )
            except RunbookError as e:
                failed += 1
                click.echo(f"\n{slug}: FAILED: {e}", err=True)
    if given is None and len(practices) > failed:
        click.echo(f"Passphrases are in {keys}/: hand each to its practice's owner, then delete.")
    raise SystemExit(1 if failed else 0)

"""Backups restore into a working site (issue 7, item 9).

The commands are the ones docs/operations.md ("Backups") gives: pg_dump in
PostgreSQL's custom format with DATABASE_URL, a tar archive of MEDIA_ROOT,
then createdb + pg_restore into a fresh database and tar back into a fresh
media folder. The original database and media are destroyed before the
restore, and the site is served from the restored copy by gunicorn.
"""

import hashlib
import re
import shutil
import subprocess
from urllib.parse import quote

import pytest

from tests.faults.conftest import (
    Gunicorn,
    SignupClient,
    accepted_signup,
    app_env,
    request,
    seed,
)

pytestmark = pytest.mark.faults

LIVE_DB = "newsroom_backup_live"
RESTORED_DB = "newsroom_restored"
HEADLINES = [
    "Council approves the harbor bridge budget",
    "Library stays open late on Fridays",
]
MEDIA_URL = re.compile(r"/media/[^\"'\s,]+")


def run(*command):
    result = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def table_counts(cluster, dbname):
    """Rows per table of the public schema."""
    tables = [
        row[0]
        for row in cluster.query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", dbname=dbname
        )
    ]
    return {
        table: cluster.query(f'SELECT count(*) FROM "{table}"', dbname=dbname)[0][0]  # noqa: S608
        for table in tables
    }


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_backup_restores_into_a_working_site(
    pg_cluster, template_db, static_root, tmp_path, fault_report
):
    # -- A small newsroom, with a photo ------------------------------------
    pg_cluster.create_database(LIVE_DB, template=template_db)
    media_root = tmp_path / "media"
    live_url = pg_cluster.url(LIVE_DB)
    seeded = seed(
        app_env(live_url, media_root=media_root, static_root=static_root),
        HEADLINES,
        photo=True,
    )
    assert seeded["media"], "the seed made no photo files"
    originals = {
        item["url"]: digest(media_root / item["name"]) for item in seeded["media"]
    }
    counts_before = table_counts(pg_cluster, LIVE_DB)

    # -- Back up: the database first, then the media ------------------------
    dump = tmp_path / "newsroom.dump"
    media_archive = tmp_path / "media.tar.gz"
    run(pg_cluster.client("pg_dump"), "--format=custom", f"--file={dump}", live_url)
    run("tar", "-C", media_root, "-czf", media_archive, ".")

    # -- Disaster: the database and the media are gone ----------------------
    pg_cluster.drop_database(LIVE_DB)
    shutil.rmtree(media_root)

    # -- Restore into a fresh database and a fresh media folder -------------
    restored_url = pg_cluster.url(RESTORED_DB)
    maintenance_url = pg_cluster.url("postgres")
    run(
        pg_cluster.client("createdb"),
        f"--maintenance-db={maintenance_url}",
        "--template=template0",
        RESTORED_DB,
    )
    run(
        pg_cluster.client("pg_restore"),
        "--exit-on-error",
        "--no-owner",
        f"--dbname={restored_url}",
        dump,
    )
    restored_media = tmp_path / "restored-media"
    restored_media.mkdir()
    run("tar", "-C", restored_media, "-xzf", media_archive)
    assert table_counts(pg_cluster, RESTORED_DB) == counts_before

    # -- The site, served from the restored copy ------------------------------
    env = app_env(restored_url, media_root=restored_media, static_root=static_root)
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        home = request(server.port, "GET", "/")
        assert home.status == 200, home.text()[:2000]
        for headline in HEADLINES:
            assert headline in home.text()
        story = seeded["stories"][0]
        page = request(server.port, "GET", quote(story["path"]))
        assert page.status == 200, page.text()[:2000]
        assert story["headline"] in page.text()
        # The lead photo: every rendition the page points at serves the
        # restored file, byte for byte.
        photo_urls = set(MEDIA_URL.findall(page.text()))
        assert photo_urls, "the story page shows no photo"
        assert photo_urls <= set(originals)
        for url in sorted(originals):
            response = request(server.port, "GET", url)
            assert response.status == 200, url
            assert response.headers["content-type"].startswith("image/"), url
            assert hashlib.sha256(response.body).hexdigest() == originals[url], url
        # The restored database takes writes (its sequences came along).
        signup = SignupClient(server.port)
        assert signup.fetch_form().status == 200
        assert accepted_signup(signup.subscribe("after-restore@example.com"))
    stored = pg_cluster.query(
        "SELECT count(*) FROM newsletter_subscriber WHERE email = %s",
        ("after-restore@example.com",),
        dbname=RESTORED_DB,
    )
    assert stored == [(1,)]
    pg_cluster.drop_database(RESTORED_DB)
    fault_report(
        f"backup and restore: dump {dump.stat().st_size // 1024} KiB, "
        f"{sum(counts_before.values())} rows in {len(counts_before)} tables "
        f"restored; home page and story 200 with the seeded headline; "
        f"{len(originals)} photo files ({len(photo_urls)} on the page) served "
        f"byte-identical from the restored media; a signup stored afterwards"
    )

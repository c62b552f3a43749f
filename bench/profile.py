"""Profile one benchmark page: where its time goes, in Python and in SQL.

    .venv/bin/python bench/profile.py article-u [--requests 5] [--explain]

Runs in-process on the bench database with the production settings the
benchmark uses (static files served unhashed, so no collectstatic is needed),
through Django's test client:

1. a warm-up request, then ``--requests`` requests under pyinstrument
   (the call tree, trimmed to the slow parts);
2. one more request with every SQL query timed, slowest first;
3. with ``--explain``, EXPLAIN (ANALYZE, BUFFERS) of the slowest query.

The argument is a scenario key from bench/scenarios.py (``home-u``,
``article-u``, ``section1000-u``, ``search-common``, ``admin``, ...) or a
path starting with ``/``. Needs pyinstrument (``.venv/bin/pip install
pyinstrument``; not a project dependency).
"""

import argparse
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description="Profile one benchmark page.")
    parser.add_argument("page", help="scenario key (e.g. article-u) or /path")
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--interval", type=float, default=0.0005)
    args = parser.parse_args(argv)

    url = common.bench_database_url()
    os.environ.update(common.django_env(url, SITE_URL="http://127.0.0.1:8000"))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.test.utils import CaptureQueriesContext

    from bench import prep, scenarios

    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "pyinstrument is not installed: .venv/bin/pip install pyinstrument"
        ) from None

    storages = {
        **settings.STORAGES,
        "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        },
    }
    with override_settings(STORAGES=storages):
        from django.utils import timezone

        targets = prep.pick_targets(timezone.now())
        targets["floor_path"] = "/bench/floor/?bytes=20000"
        by_key = {s["key"]: s for s in scenarios.build(targets)}
        if args.page.startswith("/"):
            scenario = {"key": args.page, "mode": "fixed", "path": args.page}
        elif args.page in by_key:
            scenario = by_key[args.page]
        else:
            raise SystemExit(f"unknown page {args.page!r}: one of {', '.join(by_key)}")
        client = Client()
        if scenario["mode"] == "admin":
            client.force_login(get_user_model().objects.get(username="bench"))
        paths = None
        if scenario["mode"] == "random":
            urls = common.DATA / "article-urls.txt"
            if not urls.exists():
                prep.write_url_list(urls)
            paths = urls.read_text().split()

        def one():
            mode, path = scenario["mode"], scenario["path"]
            headers, data, method = {}, None, "get"
            if mode == "random":
                path = random.choice(paths)
            if mode in ("random", "bust"):
                path += ("&" if "?" in path else "?") + f"v={uuid.uuid4().hex}"
            if mode == "etag":
                etag = client.get(path).headers.get("ETag")
                headers["if-none-match"] = etag
            if mode == "signup":
                method = "post"
                data = {"email": f"bench-signup-profile-{uuid.uuid4().hex}@example.org"}
            response = getattr(client, method)(path, data=data, headers=headers)
            return path, response

        path, response = one()
        print(f"{scenario['key']}: {path} -> {response.status_code}, "
              f"{len(response.content):,} bytes")  # fmt: skip
        profiler = Profiler(interval=args.interval)
        start = time.monotonic()
        profiler.start()
        for _ in range(args.requests):
            one()
        profiler.stop()
        elapsed = time.monotonic() - start
        print(
            f"{args.requests} requests in {elapsed:.2f}s "
            f"({1000 * elapsed / args.requests:.0f} ms each)\n"
        )
        print(profiler.output_text(unicode=True, color=False, show_all=False))

        executed = []

        def remember(execute, sql, params, many, context):
            executed.append((sql, params))
            return execute(sql, params, many, context)

        with (
            CaptureQueriesContext(connection) as captured,
            connection.execute_wrapper(remember),
        ):
            path, response = one()
        queries = sorted(
            captured.captured_queries, key=lambda q: -float(q.get("time") or 0)
        )
        total = sum(float(q.get("time") or 0) for q in queries)
        print(f"SQL for {path}: {len(queries)} queries, {1000 * total:.1f} ms")
        for query in queries:
            sql = " ".join(query["sql"].split())
            print(f"  {1000 * float(query['time']):8.1f} ms  {sql[:400]}")
        if args.explain and queries:
            # The logged SQL of a compiled query (newsroom.compiled) is not
            # runnable as it stands: explain the statement and its values.
            index = captured.captured_queries.index(queries[0])
            sql, params = executed[index]
            print("\nEXPLAIN (ANALYZE, BUFFERS) of the slowest query:")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                for (line,) in cursor.fetchall():
                    print("  " + line)
        prep.clean_up()
    return 0


if __name__ == "__main__":
    with common.only_one_at_a_time():
        sys.exit(main())

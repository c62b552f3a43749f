"""Digest sending: 2 ``db_worker`` processes vs a bare smtplib loop.

Run by ``bench/run.py`` (production settings on the bench database). For
2,000 and then 200,000 confirmed recipients it

* parks the other confirmed subscribers (status ``pending``, restored after),
* creates a digest of five featured stories and schedules it now through
  ``newsletter.services.schedule_digest``, as the admin's button does,
* starts 2 ``manage.py db_worker`` processes on the digest tasks' queue, sending over
  SMTP to a local aiosmtpd server (its Sink handler: accept and discard),
* reports the snapshot time (the ``start_digest`` task: render once, one
  Delivery row per recipient), the sending rate (first to last message
  accepted) and each worker's peak RSS (VmHWM from /proc).

Then a bare ``smtplib`` loop sends the same message (one of the digest's, as
bytes) to the same server over one connection, and the digest's rate at
200,000 recipients is given as a ratio to that.

By default the 2,000-recipient digest is sent in full and the 200,000 one for
``--window`` seconds of sending (the snapshot is always complete, so memory
and the ledger queries see all 200,000 rows); ``--full`` sends it all.
Prints progress lines and, last, one ``BENCHJSON {...}`` line.
"""

import argparse
import json
import os
import signal
import smtplib
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common  # noqa: E402

SIZES = (2_000, 200_000)
WORKERS = 2
BASELINE_MAX_MESSAGES = 50_000


def smtp_server(port):
    process = subprocess.Popen(
        [
            common.PYTHON,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        cwd=common.ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
                smtp.noop()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("aiosmtpd did not start")


def stop(process, sig=signal.SIGTERM, timeout=30):
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def park(cursor, recipients):
    """Leave exactly ``recipients`` confirmed subscribers (the lowest ids)."""
    cursor.execute("DROP TABLE IF EXISTS bench_parked")
    cursor.execute(
        "CREATE TABLE bench_parked AS SELECT id FROM newsletter_subscriber "
        "WHERE status = 'confirmed' ORDER BY id OFFSET %s",
        [recipients],
    )
    cursor.execute(
        "UPDATE newsletter_subscriber s SET status = 'pending' "
        "FROM bench_parked p WHERE p.id = s.id"
    )
    cursor.execute(
        "SELECT count(*) FROM newsletter_subscriber WHERE status = 'confirmed'"
    )
    return cursor.fetchone()[0]


def unpark(cursor):
    cursor.execute(
        "UPDATE newsletter_subscriber s SET status = 'confirmed' "
        "FROM bench_parked p WHERE p.id = s.id"
    )
    cursor.execute("DROP TABLE bench_parked")


def send_digest(recipients, *, port, window, full, admin, profile=False):
    from django.db import connection
    from django.db.models import Count, Max, Min
    from django_tasks_db.models import DBTaskResult

    from articles.models import Article
    from newsletter import services, tasks
    from newsletter.models import Delivery, Digest

    # The queues the digest's tasks run on, as the code declares them.
    queues = sorted(
        {
            getattr(tasks, name).queue_name
            for name in ("start_digest", "send_digest_batch", "watch_digest")
        }
    )

    with connection.cursor() as cursor:
        confirmed = park(cursor, recipients)
        cursor.execute("VACUUM ANALYZE newsletter_subscriber")
    DBTaskResult.objects.all().delete()
    stories = list(
        Article.objects.published().filter(is_featured=True).order_by("-publish_at")[:5]
    )
    digest = Digest.objects.create(
        subject=f"Bench digest to {recipients:,}",
        intro="The week's stories, picked by the editors.\n\nThanks for reading.",
    )
    services.set_digest_items(digest, stories)
    env = common.django_env(
        os.environ["DATABASE_URL"],
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        STATIC_ROOT=os.environ.get("STATIC_ROOT", ""),
        SITE_URL=os.environ.get("SITE_URL", "http://127.0.0.1:8000"),
    )
    workers = [
        subprocess.Popen(
            [
                common.PYTHON,
                "manage.py",
                "db_worker",
                "--queue-name",
                ",".join(queues),
                "--no-reload",
                "--no-startup-delay",
                "-v",
                "0",
            ],
            env=env,
            cwd=common.ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    spies = []
    try:
        time.sleep(2)  # let them import Django before the clock starts
        services.schedule_digest(digest, user=admin)
        if profile:
            spies = start_profiles(workers, recipients, window)
        complete, peaks = watch(
            digest, workers, recipients, window=window, full=full, queues=queues
        )
    finally:
        for worker in workers:
            stop(worker)
        for _, spy in spies:
            stop(spy, signal.SIGINT)
    if spies:
        from bench.run import summarize_profile

        summary = summarize_profile([out for out, _ in spies if out.exists()], top=40)
        print(f"py-spy, digest to {recipients:,} ({summary['samples']} samples):")
        for name, share in summary["top"]:
            print(f"  {share:5.1f}%  {name}")
        print("  self:")
        for name, share in summary["self"]:
            print(f"  {share:5.1f}%  {name}")
    stats = Delivery.objects.filter(digest=digest, status="sent").aggregate(
        n=Count("pk"), first=Min("sent_at"), last=Max("sent_at")
    )
    snapshot = (
        DBTaskResult.objects.filter(task_path__endswith="start_digest")
        .exclude(finished_at=None)
        .values_list("started_at", "finished_at")
        .first()
    )
    seconds = (
        (stats["last"] - stats["first"]).total_seconds() if stats["n"] > 1 else None
    )
    digest.refresh_from_db()
    run = {
        "recipients": confirmed,
        "complete": complete,
        "deliveries": Delivery.objects.filter(digest=digest).count(),
        "sent": stats["n"],
        "window_seconds": seconds or 0.0,
        "rate": (stats["n"] - 1) / seconds if seconds else 0.0,
        "snapshot_seconds": (snapshot[1] - snapshot[0]).total_seconds()
        if snapshot
        else None,
        "peak_rss_kib": sorted(peaks.values()),
        "status": digest.status,
    }
    message = sample_message(digest)
    common.progress(
        f"digest to {confirmed:,}: {run['sent']:,} sent at {run['rate']:.0f} msg/s, "
        f"snapshot {run['snapshot_seconds'] or 0:.2f}s, peak RSS "
        + " / ".join(f"{kib / 1024:.0f} MiB" for kib in run["peak_rss_kib"])
    )
    digest.delete()
    DBTaskResult.objects.all().delete()
    with connection.cursor() as cursor:
        unpark(cursor)
        cursor.execute("VACUUM ANALYZE newsletter_subscriber")
        cursor.execute("VACUUM ANALYZE newsletter_delivery")
    return run, message


def watch(digest, workers, recipients, *, window, full, queues):
    """Follow the send; return (complete, peak RSS per worker pid)."""
    from newsletter.models import Delivery, Digest

    start = time.monotonic()
    complete = False
    peaks = {}
    first_seen = None
    while True:
        time.sleep(2)
        for worker in workers:
            peak = common.peak_rss_kib(worker.pid)
            if peak:
                peaks[worker.pid] = max(peak, peaks.get(worker.pid, 0))
        digest.refresh_from_db()
        sent = Delivery.objects.filter(digest=digest, status="sent").count()
        if sent and first_seen is None:
            first_seen = time.monotonic()
        elapsed = time.monotonic() - start
        common.progress(
            f"digest to {recipients:,}: {digest.status}, {sent:,} sent "
            f"({elapsed:.0f}s)",
            final=False,
        )
        if digest.status == Digest.Status.SENT:
            complete = True
            break
        if any(worker.poll() is not None for worker in workers):
            raise SystemExit("a db_worker exited during the digest")
        if not full and first_seen and time.monotonic() - first_seen >= window:
            break
        if elapsed > 3600:
            raise SystemExit("the digest did not finish within an hour")
        if not sent and elapsed > 120:
            raise SystemExit(
                f"nothing sent after {elapsed:.0f}s (digest {digest.status}); "
                f"workers on queues {queues}"
            )
    # VmHWM is the peak so far: read it once more before the workers stop.
    for worker in workers:
        peak = common.peak_rss_kib(worker.pid)
        if peak:
            peaks[worker.pid] = max(peak, peaks.get(worker.pid, 0))
    return complete, peaks


def start_profiles(workers, recipients, window):
    """py-spy on each worker for the sending window (raw collapsed stacks)."""
    folder = common.DATA / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    spies = []
    for worker in workers:
        out = folder / f"digest-{recipients}-{worker.pid}.txt"
        spies.append(
            (
                out,
                subprocess.Popen(
                    [
                        str(common.VENV_BIN / "py-spy"),
                        "record",
                        "--pid",
                        str(worker.pid),
                        "--duration",
                        str(int(window) + 10),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(out),
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                ),
            )
        )
    return spies


def sample_message(digest):
    """One of the digest's messages, exactly as the workers build it."""
    from newsletter import emails
    from newsletter.models import Subscriber

    subscriber = Subscriber.objects.confirmed().order_by("pk").first()
    message, _ = emails.digest_message(
        digest,
        to=subscriber.email,
        subscriber_id=subscriber.pk,
        html=digest.rendered_html,
        text=digest.rendered_text,
    )
    # As Django's SMTP backend sends it (policy, envelope sender).
    import email.policy
    from email.utils import parseaddr

    data = message.message(policy=email.policy.SMTP).as_bytes()
    return parseaddr(message.from_email)[1], data


def baseline(port, sender, data, seconds):
    """A bare smtplib loop: the same bytes, one connection, no database."""
    sent = 0
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        start = time.monotonic()
        while sent < BASELINE_MAX_MESSAGES and time.monotonic() - start < seconds:
            smtp.sendmail(sender, [f"reader{sent}@example.org"], data)
            sent += 1
        elapsed = time.monotonic() - start
    return {"sent": sent, "seconds": elapsed, "rate": sent / elapsed}


def main(argv=None):
    parser = argparse.ArgumentParser(description="Digest sending benchmark.")
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--profile", action="store_true", help="py-spy the workers")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('newsletter_delivery')")
        ready = cursor.fetchone()[0] is not None
    try:
        from newsletter import sending, services  # noqa: F401
    except ImportError as error:
        ready = False
        reason = f"newsletter code not importable: {error}"
    else:
        reason = "no newsletter tables"
    if not ready:
        print("BENCHJSON " + json.dumps({"error": reason}))
        return 0

    admin = get_user_model().objects.get(username="bench")
    port = common.free_port()
    server = smtp_server(port)
    runs = []
    message = None
    try:
        for size in [int(s) for s in args.sizes.split(",")]:
            full = args.full or size <= SIZES[0]
            run, message = send_digest(
                size,
                port=port,
                window=args.window,
                full=full,
                admin=admin,
                profile=args.profile,
            )
            runs.append(run)
        seconds = min(max(args.window / 3, 5), 15)
        common.progress(f"bare smtplib loop for {seconds:.0f}s")
        base = baseline(port, message[0], message[1], seconds)
        base["message_bytes"] = len(message[1])
        common.progress(f"bare smtplib: {base['rate']:.0f} msg/s")
    finally:
        stop(server)
    big, small = runs[-1], runs[0]
    memory_ratio = (
        max(big["peak_rss_kib"]) / max(small["peak_rss_kib"])
        if big["peak_rss_kib"] and small["peak_rss_kib"]
        else None
    )
    result = {
        "runs": runs,
        "baseline": base,
        "ratio": big["rate"] / base["rate"] if base["rate"] else None,
        "memory_ratio": memory_ratio,
    }
    print("BENCHJSON " + json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

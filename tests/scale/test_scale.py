"""Newsroom scaled out on one machine, with real processes (issue 8).

Two gunicorn instances share PostgreSQL and Redis; three ``db_worker``
processes share the task queue; an SMTP server counts what arrives:

* a story published in instance A's admin is on instance B's (cached) front
  page within one second;
* the signup rate limit is per client, not per web process;
* a digest to 20,000 confirmed subscribers, sent by the three workers while
  both instances serve pages, reaches every one of them exactly once.

Run with ``make test-scale``; the figures are printed at the end.
"""

import os
import threading
import time
from collections import Counter

import pytest

from tests.scale.conftest import Client, csrf_token, wait_for

pytestmark = pytest.mark.scale

# The issue asks for 20,000; SCALE_SUBSCRIBERS changes it for a quicker look.
SUBSCRIBERS = int(os.environ.get("SCALE_SUBSCRIBERS", "20000"))
UNSUBSCRIBED = 500
PENDING = 500
SUBSCRIBER_DOMAIN = "@readers.scale.example"
PAGES_PER_SECOND = int(os.environ.get("SCALE_PAGES_PER_SECOND", "25"))
SIGNUPS_PER_IP = 10  # NEWSLETTER_SIGNUPS_PER_IP in the cluster's environment
CPU_PARTS = ("worker", "web", "smtp")  # process name prefixes


def login(client, base, username, password):
    page = client.get(f"{base}/admin/login/?next=/admin/")
    response = client.post(
        f"{base}/admin/login/?next=/admin/",
        {
            "csrfmiddlewaretoken": csrf_token(page),
            "username": username,
            "password": password,
            "next": "/admin/",
        },
    )
    assert response.status == 302, response.text[:2000]
    assert "sessionid" in client.cookies


class PageLoad(threading.Thread):
    """Readers: page views alternating between the instances, one at a time,
    at most ``rate`` a second (readers, not a benchmark: the machine is shared),
    from several client addresses, as readers come from many (the search's
    per-IP rate limit would otherwise answer 429)."""

    READERS = 8

    def __init__(self, bases, paths, rate):
        super().__init__(daemon=True)
        self.interval = 1 / rate
        self.bases = bases
        self.paths = paths
        self.stop_event = threading.Event()
        self.statuses = Counter()
        self.per_instance = Counter()
        self.errors = []
        self.slowest = 0.0
        self.started_at = self.stopped_at = None

    def run(self):
        clients = [
            [Client(source=f"127.0.1.{n}") for n in range(1, self.READERS + 1)]
            for _ in self.bases
        ]
        self.started_at = time.monotonic()
        number = 0
        while not self.stop_event.wait(
            max(0.0, self.started_at + number * self.interval - time.monotonic())
        ):
            index = number % len(self.bases)
            rounds = number // len(self.bases)
            path = self.paths[rounds % len(self.paths)]
            reader = clients[index][rounds % self.READERS]
            number += 1
            began = time.monotonic()
            try:
                response = reader.get(self.bases[index] + path)
            except Exception as error:  # counted, and shown if any
                self.statuses["exception"] += 1
                self.errors.append(f"{path}: {error!r}")
                continue
            self.slowest = max(self.slowest, time.monotonic() - began)
            self.statuses[response.status] += 1
            self.per_instance["AB"[index]] += 1
            if response.status != 200:
                self.errors.append(f"{path}: HTTP {response.status}")
        self.stopped_at = time.monotonic()
        for client in (c for per_instance in clients for c in per_instance):
            client.close()

    def stop(self):
        self.stop_event.set()
        self.join(30)

    @property
    def served(self):
        return sum(self.per_instance.values())

    @property
    def failed(self):
        return sum(c for s, c in self.statuses.items() if s != 200)


def test_story_published_on_a_is_on_b_within_a_second(cluster, content, new_client):
    a, b = cluster.web
    reader = new_client()
    # Warm B's page cache, and show that the cache is shared: A serves B's copy.
    assert reader.get(f"{b}/").status == 200
    warm = reader.get(f"{b}/")
    assert warm.header("x-cache") == "hit", warm.headers
    from_a = reader.get(f"{a}/")
    assert from_a.header("x-cache") == "hit", "A did not find the page B cached"
    assert content["draft_headline"] not in warm.text

    editor = new_client()
    login(editor, a, **content["editor"])
    changelist = editor.get(f"{a}/admin/articles/article/")
    assert changelist.status == 200
    publish_started = time.monotonic()
    published = editor.post(
        f"{a}/admin/articles/article/",
        {
            "csrfmiddlewaretoken": csrf_token(changelist),
            "action": "publish_selected",
            "_selected_action": content["draft_id"],
            "index": "0",
        },
    )
    published_at = time.monotonic()
    assert published.status == 302, published.text[:2000]
    assert "Published 1 stories" in editor.get(f"{a}/admin/articles/article/").text

    # Readers on B for a second and a half, on several connections (both of
    # B's processes, all their threads): each thread re-reads the content
    # version at most a second after it last did, so from one second after the
    # publish, no request may get the old page.
    pollers = [new_client() for _ in range(8)]
    samples = []
    while time.monotonic() < published_at + 1.5:
        began = time.monotonic()
        page = pollers[len(samples) % len(pollers)].get(f"{b}/")
        assert page.status == 200
        samples.append((began - published_at, content["draft_headline"] in page.text))
        time.sleep(0.01)
    shown = [t for t, seen in samples if seen]
    stale = [t for t, seen in samples if not seen]
    assert shown, "B never showed the story published on A"
    cluster.figures["publish on A -> on B's front page (s)"] = (
        f"first shown {max(0.0, min(shown)):.3f}, last old page "
        + (f"{max(stale):.3f}" if stale else "none")
        + f" ({len(samples)} requests on 8 connections; publish took "
        f"{published_at - publish_started:.3f} s)"
    )
    assert not [t for t in stale if t > 1.0], samples
    again = reader.get(f"{b}/")
    assert content["draft_headline"] in again.text
    assert again.header("x-cache") == "hit"
    assert "public" in again.header("cache-control", "")


def test_a_sign_out_on_a_ends_the_session_on_b(cluster, content, new_client):
    """Sessions are read from the shared cache (cached_db): one started on
    A is good on B, and one ended on A is ended on B at once, not when a
    copy of it expires."""
    a, b = cluster.web
    editor = new_client()
    login(editor, a, **content["editor"])
    session = editor.cookies["sessionid"]
    desk = editor.get(f"{b}/admin/articles/article/")
    assert desk.status == 200, desk.status
    out = editor.post(f"{a}/admin/logout/", {"csrfmiddlewaretoken": csrf_token(desk)})
    assert out.status == 200, out.text[:2000]
    # The ended session's cookie, as a copy of it would be sent.
    copy = new_client()
    copy.cookies["sessionid"] = session
    for base in (b, a):
        answer = copy.get(f"{base}/admin/articles/article/")
        assert answer.status == 302, (base, answer.status)
        assert "/admin/login/" in answer.header("location", "")


def test_rate_limit_is_per_client_not_per_instance(cluster, content, new_client):
    a, b = cluster.web
    client = new_client(source="127.0.0.2")
    form = client.get(f"{a}/newsletter/")
    assert form.status == 200
    token = csrf_token(form)
    statuses = []
    for number in range(3 * SIGNUPS_PER_IP):
        base = (a, b)[number % 2]
        response = client.post(
            f"{base}/newsletter/subscribe/",
            {
                "csrfmiddlewaretoken": token,
                "email": f"signup{number}@ratelimit.scale.example",
                "source": "scale test",
                "website": "",
            },
        )
        statuses.append(("AB"[number % 2], response.status))
        if response.status == 429:
            break
    allowed = [s for s in statuses if s[1] == 303]  # to "check your inbox"
    assert len(allowed) == SIGNUPS_PER_IP, statuses
    assert statuses[-1][1] == 429, statuses
    assert {"A", "B"} <= {instance for instance, _ in allowed}
    # The other instance refuses too: the count lives in Redis, not in a process.
    other = (a, b)[len(statuses) % 2]
    refused = client.post(
        f"{other}/newsletter/subscribe/",
        {"csrfmiddlewaretoken": token, "email": "one-more@ratelimit.scale.example"},
    )
    assert refused.status == 429
    # Another client is not affected.
    neighbour = new_client(source="127.0.0.3")
    page = neighbour.get(f"{b}/newsletter/")
    assert page.status == 200
    cluster.figures["signups allowed per IP over A+B (limit)"] = (
        f"{len(allowed)} ({SIGNUPS_PER_IP}), then 429 on both"
    )
    # Their confirmation emails go out through the workers (the email queue).
    wait_for(
        lambda: (
            cluster.smtp.count_matching("@ratelimit.scale.example") >= SIGNUPS_PER_IP
        ),
        30,
        "the confirmation emails",
        interval=0.2,
    )
    assert cluster.smtp.count_matching("@ratelimit.scale.example") == SIGNUPS_PER_IP


def test_a_rate_limit_count_lives_as_long_as_its_window(cluster):
    """The count (newsroom.cache.RedisCache.count_hit) is one round trip,
    and its key always expires: a window that ends starts afresh."""
    from newsroom.cache import RedisCache

    cache = RedisCache(cluster.env["CACHE_URL"], {})
    key = "rate:scale-test:127.0.0.9"
    assert [cache.count_hit(key, 2) for _ in range(3)] == [1, 2, 3]
    assert cache.get(key) == 3  # Django reads the counter as it wrote it
    client = cache._cache.get_client(write=True)
    assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 2
    time.sleep(2.2)
    assert cache.count_hit(key, 2) == 1


def test_a_connection_redis_closed_is_opened_again_for_the_next_get(cluster, caplog):
    """The cache sends GET itself (newsroom.cache.ReusedClient.get): a
    connection Redis has closed since (a restart, a timeout, CLIENT KILL)
    is opened again and the value read, not taken for a failing Redis."""
    import redis as redis_py

    from newsroom.cache import RedisCache

    cache = RedisCache(cluster.env["CACHE_URL"], {})
    cache.set("count:scale-reconnect", 7, 60)
    assert cache.get("count:scale-reconnect") == 7
    admin = redis_py.Redis(
        unix_socket_path=cluster.env["CACHE_URL"].removeprefix("unix://")
    )
    assert admin.client_kill_filter(_type="normal", skipme=True) >= 1
    with caplog.at_level("WARNING", logger="newsroom.cache"):
        assert cache.get("count:scale-reconnect") == 7
        assert cache.get("count:scale-reconnect") == 7
    assert not caplog.records  # no "Cache unavailable", no pause


def test_a_page_stored_without_waiting_is_there_at_once_and_replies_stay_in_order(
    cluster,
):
    """The page cache's SET does not wait for its reply
    (newsroom.cache.ReusedClient.set_unacknowledged): another worker reads
    the page at once, and the reply is read before the next command's, also
    when Redis refuses the SET."""
    import redis as redis_py

    from newsroom.cache import RedisCache

    mine = RedisCache(cluster.env["CACHE_URL"], {})
    other_worker = RedisCache(cluster.env["CACHE_URL"], {})
    page = (200, b"<p>story</p>" * 2000, {"ETag": '"1"'})
    mine.set_unacknowledged("page:scale-test", page, 60)
    assert other_worker.get("page:scale-test") == page
    mine.set_unacknowledged("count:scale-test", 7, 60)
    assert mine.get("count:scale-test") == 7
    assert mine.get("page:scale-test") == page
    ttl = other_worker._cache.get_client().ttl(
        mine.make_and_validate_key("count:scale-test")
    )
    assert 0 < ttl <= 60

    admin = redis_py.Redis(
        unix_socket_path=cluster.env["CACHE_URL"].removeprefix("unix://")
    )
    limits = admin.config_get("maxmemory*")
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)
    try:
        mine.set_unacknowledged("page:scale-test-refused", page, 60)
        # The refusal is read with the next command: a miss, as for any
        # failing Redis, not the refusal taken for the next reply.
        assert mine.get("count:scale-test") is None
    finally:
        admin.config_set("maxmemory", limits["maxmemory"])
        admin.config_set("maxmemory-policy", limits["maxmemory-policy"])
    assert other_worker.get("page:scale-test-refused") is None
    mine._resting_until = 0.0  # as if the cache's pause after a failure ended
    assert mine.get("count:scale-test") == 7
    assert mine.get("page:scale-test") == page


def test_a_thread_ending_with_a_reply_unread_leaves_no_reply_to_the_next(cluster):
    """A thread's Redis connection goes back to the pool when the thread
    ends; one whose last SET was not acknowledged yet must not, or the
    next thread to take it reads that SET's reply for its own."""
    import gc
    import threading

    import redis as redis_py

    from newsroom.cache import RedisCache

    cache = RedisCache(cluster.env["CACHE_URL"], {})
    cache.set("count:scale-thread", 7, 60)
    admin = redis_py.Redis(
        unix_socket_path=cluster.env["CACHE_URL"].removeprefix("unix://")
    )
    # Redis holds back the SET's reply while writes are paused: the thread
    # ends before it arrives, and the next thread starts before it does.
    admin.execute_command("CLIENT", "PAUSE", 500, "WRITE")
    ended = threading.Thread(
        target=cache.set_unacknowledged, args=("page:scale-thread", b"page", 60)
    )
    ended.start()
    ended.join()
    gc.collect()
    read = []
    following = threading.Thread(
        target=lambda: read.append(cache.get("count:scale-thread"))
    )
    following.start()
    following.join()
    assert read == [7]


def test_digest_to_20000_subscribers_while_serving_pages(cluster, content, new_client):
    a, b = cluster.web
    cluster.sql(
        """
        INSERT INTO newsletter_subscriber (email, status, signed_up_at,
            signup_user_agent, source, consent_note, confirmed_at, unsubscribed_at,
            bounce_reason, updated_at)
        SELECT 'reader' || n || %(domain)s,
               CASE WHEN n <= %(confirmed)s THEN 'confirmed'
                    WHEN n <= %(confirmed)s + %(unsubscribed)s THEN 'unsubscribed'
                    ELSE 'pending' END,
               now(), '', 'scale test', 'generated for the scale test',
               CASE WHEN n <= %(confirmed)s + %(unsubscribed)s THEN now() END,
               CASE WHEN n > %(confirmed)s AND n <= %(confirmed)s + %(unsubscribed)s
                    THEN now() END,
               '', now()
        FROM generate_series(1, %(total)s) AS n
        """,
        {
            "domain": SUBSCRIBER_DOMAIN,
            "confirmed": SUBSCRIBERS,
            "unsubscribed": UNSUBSCRIBED,
            "total": SUBSCRIBERS + UNSUBSCRIBED + PENDING,
        },
        fetch=False,
    )
    confirmed = {
        row[0].lower()
        for row in cluster.sql(
            "SELECT email FROM newsletter_subscriber WHERE status = 'confirmed' "
            "AND email LIKE %s",
            [f"%{SUBSCRIBER_DOMAIN}"],
        )
    }
    assert len(confirmed) == SUBSCRIBERS

    paths = [
        "/",
        *content["article_urls"][:12],
        *content["section_urls"],
        "/tag/scale/",
        "/search/?q=story",
        "/feeds/rss/",
        "/newsletter/",
        "/newsletter/archive/",
    ]
    load = PageLoad([a, b], paths, rate=PAGES_PER_SECOND)
    load.start()
    time.sleep(1)  # readers first, then the send begins

    editor = new_client()
    login(editor, a, **content["editor"])
    send_url = f"{a}/admin/newsletter/digest/{content['digest_id']}/send/"
    confirm_page = editor.get(send_url)
    assert confirm_page.status == 200, confirm_page.text[:2000]
    cpu_before = {part: cluster.cpu(part) for part in CPU_PARTS}
    send_started = time.monotonic()
    sent = editor.post(send_url, {"csrfmiddlewaretoken": csrf_token(confirm_page)})
    assert sent.status == 302, sent.text[:2000]

    # A reader signs up in the middle of the send: the confirmation must not
    # wait for the digest.
    wait_for(
        lambda: cluster.smtp.count_matching(SUBSCRIBER_DOMAIN) >= SUBSCRIBERS // 4,
        120,
        "a quarter of the digest",
        interval=0.1,
        processes=cluster.processes,
    )
    newcomer = new_client(source="127.0.0.5")
    token = csrf_token(newcomer.get(f"{b}/newsletter/"))
    signed_up = time.time()  # the SMTP ledger's clock
    response = newcomer.post(
        f"{b}/newsletter/subscribe/",
        {"csrfmiddlewaretoken": token, "email": "newcomer@probe.scale.example"},
    )
    assert response.status == 303

    def digest_status():
        return cluster.sql(
            "SELECT status, sent_count FROM newsletter_digest WHERE id = %s",
            [content["digest_id"]],
        )[0]

    progress = editor.get(
        f"{a}/admin/newsletter/digest/{content['digest_id']}/progress/"
    )
    assert progress.status == 200

    wait_for(
        lambda: digest_status()[0] == "sent",
        240,
        "the digest to be sent",
        interval=0.25,
        processes=cluster.processes,
    )
    send_finished = time.monotonic()
    cpu_used = {part: cluster.cpu(part) - cpu_before[part] for part in CPU_PARTS}
    time.sleep(0.5)  # anything still in flight would arrive now
    load.stop()
    cluster.check_alive()

    smtp = cluster.smtp.refresh()
    with smtp.lock:
        received = {
            r: c for r, c in smtp.per_recipient.items() if r.endswith(SUBSCRIBER_DOMAIN)
        }
        newcomer_at = smtp.first_seen.get("newcomer@probe.scale.example")
        digest_times = [
            t for r, t in smtp.first_seen.items() if r.endswith(SUBSCRIBER_DOMAIN)
        ]
    duplicates = sum(count - 1 for r, count in received.items() if r in confirmed)
    missing = len(confirmed - received.keys())
    unwanted = sorted(set(received) - confirmed)
    deliveries = dict(
        cluster.sql(
            "SELECT status, count(*) FROM newsletter_delivery WHERE digest_id = %s "
            "GROUP BY status",
            [content["digest_id"]],
        )
    )
    elapsed = send_finished - send_started
    sent_messages = sum(received.values())
    figures = cluster.figures
    figures["pages served during the send (A / B)"] = (
        f"{load.served} ({load.per_instance['A']} / {load.per_instance['B']}), "
        f"{load.served / (load.stopped_at - load.started_at):.0f}/s"
    )
    figures["page errors"] = f"{load.failed} {dict(load.statuses)}"
    figures["slowest page (s)"] = f"{load.slowest:.3f}"
    figures["digest recipients (confirmed)"] = len(confirmed)
    figures["digest messages received"] = sent_messages
    figures["send time, click to 'sent' (s)"] = f"{elapsed:.1f}"
    figures["send rate, click to 'sent' (messages/s)"] = round(sent_messages / elapsed)
    first_to_last = max(digest_times) - min(digest_times)
    figures["send rate, first to last message (messages/s)"] = (
        f"{sent_messages / first_to_last:.0f} over {first_to_last:.1f} s"
    )
    figures["CPU during the send (s)"] = (
        ", ".join(f"{part} {seconds:.1f}" for part, seconds in cpu_used.items())
        + f" (in {elapsed:.1f} s on {os.cpu_count()} cores)"
    )
    figures["worker CPU per message (ms)"] = (
        f"{cpu_used['worker'] / sent_messages * 1000:.1f}"
    )
    figures["duplicates"] = duplicates
    figures["missing"] = missing
    figures["sent to unsubscribed/pending"] = len(unwanted)
    figures["deliveries by status"] = deliveries
    figures["confirmation email during the send (s)"] = (
        f"{newcomer_at - signed_up:.2f} (digest still sending for "
        f"{max(0.0, max(digest_times) - newcomer_at):.1f} s more)"
        if newcomer_at
        else "not received"
    )

    assert load.errors == [], load.errors[:20]
    assert load.served > 0
    assert missing == 0
    assert duplicates == 0
    assert unwanted == []
    assert deliveries == {"sent": SUBSCRIBERS}
    assert digest_status()[1] == SUBSCRIBERS
    assert newcomer_at is not None, "the confirmation email never arrived"

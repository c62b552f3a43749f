"""Abuse limits through Django's cache.

With a shared cache (``CACHE_URL=redis://…``) a limit holds across every web
process and machine; with the default local-memory cache, per process.
"""

import ipaddress

from django.conf import settings
from django.core.cache import cache


def hit(scope, key, *, limit, window):
    """Count one attempt; True when more than ``limit`` in ``window`` seconds."""
    cache_key = f"rate:{scope}:{key}"
    count_hit = getattr(cache, "count_hit", None)
    if count_hit is not None:  # newsroom.cache.RedisCache: one round trip
        return count_hit(cache_key, window) > limit
    cache.add(cache_key, 0, timeout=window)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, timeout=window)
        count = 1
    return count > limit


def client_ip(request):
    """The client's address, behind ``TRUSTED_PROXIES`` proxies (or None)."""
    address = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if proxies:
        forwarded = [
            part.strip()
            for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
            if part.strip()
        ]
        if len(forwarded) >= proxies:
            address = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return None

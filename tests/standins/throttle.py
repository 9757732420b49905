"""Bandwidth limits for the lab's stand-in servers (the Hub, the registry's path, the apt repositories).

Limits are in *real* bytes per second. A server that serves a scaled artefact (N real bytes served as
N / scale) charges each byte it sends as `real / served` real bytes, so a transfer takes as long as the
real one would. Two limits apply together: one per connection (what one TCP stream gets from a CDN) and
one per client and key (what one host gets, e.g. its link, or one image's unpacking).

Standard library only: the servers run on the test machine's own Python.
"""

import threading
import time

BURST_SECONDS = 0.25


class Bucket:
    """A rate as a schedule: each payment books the next free slot; the payer sleeps until it."""

    def __init__(self, rate):
        self.rate = float(rate)
        self.free_at = time.monotonic()
        self.lock = threading.Lock()

    def book(self, amount):
        """Seconds to wait before `amount` more real bytes may go."""
        with self.lock:
            now = time.monotonic()
            start = max(self.free_at, now - BURST_SECONDS)
            self.free_at = start + amount / self.rate
            return max(self.free_at - now, 0.0)


class Throttle:
    """Per-connection and per-client limits; None or 0 means no limit."""

    def __init__(self, per_connection=None, per_client=None):
        self.per_connection = float(per_connection or 0)
        self.per_client = float(per_client or 0)
        self.clients = {}
        self.lock = threading.Lock()

    @property
    def active(self):
        return bool(self.per_connection or self.per_client)

    def client_bucket(self, key):
        if not self.per_client:
            return None
        with self.lock:
            if key not in self.clients:
                self.clients[key] = Bucket(self.per_client)
            return self.clients[key]

    def pacer(self, client_key, charge=1.0):
        """A pacer for one transfer: every served byte costs `charge` real bytes."""
        return Pacer(
            Bucket(self.per_connection) if self.per_connection else None, self.client_bucket(client_key), charge
        )


class Pacer:
    def __init__(self, connection, client, charge):
        self.buckets = [bucket for bucket in (connection, client) if bucket is not None]
        self.charge = float(charge)

    def pay(self, served_bytes):
        """Sleep as long as sending `served_bytes` may take."""
        if not self.buckets or served_bytes <= 0:
            return
        real = served_bytes * self.charge
        wait = max(bucket.book(real) for bucket in self.buckets)
        if wait > 0:
            time.sleep(wait)

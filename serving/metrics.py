"""Prometheus metrics of one app instance (its own registry, so several apps can coexist)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

# The methods counted by name; anything else a client sends is counted as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The request counter's `method` label: the method if it is one of HTTP_METHODS, else
    "other". A client may send any token (`FOO1`, `FOO2`, ...), even to a route that answers
    405; each distinct one would be a new time series, growing the registry without bound."""
    return method if method in HTTP_METHODS else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "shanyraq_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shanyraq_http_request_seconds",
            "Request latency by route template.",
            ["route"],
            registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.photos = Counter(
            "shanyraq_photos_uploaded",
            "Photos accepted, by quality status.",
            ["quality"],
            registry=self.registry,
        )
        # Every recorded decision, accept and override alike; an override rate is the
        # override series over the sum.
        self.decisions = Counter(
            "shanyraq_decisions",
            "Commission decisions recorded, by kind (accept or override).",
            ["kind"],
            registry=self.registry,
        )
        # Set by the /metrics route as it is scraped (the pipeline's count at that moment).
        self.model_calls_late = Gauge(
            "shanyraq_photo_model_calls_past_deadline",
            "Photo model calls running past the score_timeout_s of every upload they score "
            "(above 0: the model is not answering; uploads are refused once all its calls are).",
            registry=self.registry,
        )
        # Set by the /metrics route too: the reuse index's count of stored originals whose
        # last read failed, which the log reports only once per file.
        self.reuse_unreadable = Gauge(
            "shanyraq_reuse_unreadable_photos",
            "Stored photo files the reuse check could not read (missing or damaged) and has "
            "not read since (above 0: the log names each, 'stored pixels unreadable'; restore "
            "them from a backup of the photo store, <data_dir>/photos/originals).",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)

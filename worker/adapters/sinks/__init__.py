"""Sinks: where article events go. ``Sink`` is the port; ``open_sinks`` builds them."""

from worker.adapters.sinks.base import DeliveryReport, Sink, open_sink

__all__ = ["DeliveryReport", "Sink", "open_sink"]

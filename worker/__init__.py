"""Syndicate: an event-driven feed syndication worker."""

__version__ = "0.1.0"

"""Handoff: a Slack bot that hands hot leads from marketing to sales and back."""

__version__ = "0.1.0"

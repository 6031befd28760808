"""Fairdesk: one fair queue for every customer, whatever the channel."""

__version__ = "0.1.0"

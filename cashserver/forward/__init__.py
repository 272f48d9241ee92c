"""Forwarding to a central server (SPEC 15): the writer side's second outbox."""

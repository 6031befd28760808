"""Read-only figures of the insights app, one module per figure (STYLE 5: split by topic).

Every function takes a workspace and a period ``[start, end)``, aggregates in the database
and returns small frozen dataclasses. An empty period gives zero counts and ``None`` for
every ratio, never a division error.
"""

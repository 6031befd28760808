"""Scale benchmarks of the agent workspace and the insights pages (issues 5 and 7).

``fairdesk bench seed`` fills a database with a realistic workspace (``seed``), then
``fairdesk bench workspace`` and ``fairdesk bench insights`` drive the real pages over
HTTP (``workspace``, ``insights``). Nothing here is imported by the web app.
"""

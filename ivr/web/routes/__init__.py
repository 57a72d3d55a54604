"""One module per resource; each exposes ``routers()`` (its page and ``/api`` routers)."""

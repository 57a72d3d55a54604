"""The operators' web app: calls, follow-ups, recipients, prompts and an overview.

``ivr.web.app.create_app(settings, store=...)`` builds it; ``ivr serve`` runs it with
uvicorn beside the FastAGI server.  Pages are server-rendered Jinja2 in Indonesian and
work without JavaScript; the same data is under ``/api`` as JSON.
"""

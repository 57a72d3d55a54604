"""The hotline's data layer: recipients, call log, follow-ups, operators (SQLAlchemy 2.x, sync).

``SqlStore`` implements ``ivr.ports.Store``; ``JournalingStore`` keeps the call log when the
database is down; ``ivr.store.recipients`` imports recipient lists.
"""

from ivr.store.db import create_schema, make_engine
from ivr.store.protect import Protector
from ivr.store.sql import SqlStore

__all__ = ["SqlStore", "Protector", "make_engine", "create_schema"]

"""FastAGI routing by script name: ``agi://ivr:4573/<script>`` picks the handler.

Asterisk sends the script part of the AGI URL as ``agi_network_script``.  The inbound
line uses ``hotline``; calls placed by the dialer come back as ``reminder`` or
``callback`` (see deploy/asterisk/extensions.conf, ``[hotline-outbound]``).  A call with
no script, or one this table does not know, goes to the default handler and is
logged: a caller is better served by the hotline than by silence.
"""

from __future__ import annotations

import logging
from typing import Awaitable, Callable, Mapping

from ivr.ports import CallInfo

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[object]]


def script_of(info: CallInfo) -> str:
    env = dict(info.env)
    script = env.get("agi_network_script", "")
    if not script and info.request.startswith("agi://"):
        script = info.request.split("/", 3)[3] if info.request.count("/") >= 3 else ""
    return script.split("?")[0].strip("/")


def agi_args(info: CallInfo) -> list[str]:
    """``agi_arg_1``, ``agi_arg_2``, ... in order."""
    env = dict(info.env)
    out = []
    n = 1
    while f"agi_arg_{n}" in env:
        out.append(env[f"agi_arg_{n}"])
        n += 1
    return out


class AgiRoutes:
    """A FastAGI handler that dispatches each call on its script name."""

    def __init__(self, table: Mapping[str, Handler], default: str = "hotline"):
        if default not in table:
            raise ValueError(f"the default route {default!r} is not in the table")
        self.table = dict(table)
        self.default = default

    async def __call__(self, channel) -> None:
        script = script_of(channel.info)
        handler = self.table.get(script)
        if handler is None:
            if script:
                log.warning("FastAGI script %r has no route; serving it as %r", script[:40], self.default)
            handler = self.table[self.default]
        await handler(channel)

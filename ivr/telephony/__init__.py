"""Telephony adapter: FastAGI server and channel for Asterisk, plus a fake Asterisk.

``agi`` is the wire codec (pure), ``channel`` implements :class:`ivr.ports.Channel`
over one FastAGI connection, ``server`` accepts Asterisk's connections, and
``fake_asterisk`` places scripted calls for tests and for ``ivr call`` (``audio``
holds its WAV helpers), and ``ami`` is an asyncio Asterisk Manager client
(callbacks via Originate, events, keepalive and reconnect).
"""

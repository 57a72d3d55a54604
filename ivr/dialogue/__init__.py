"""The call flow as a pure state machine: events in, steps (next state + actions) out.

Nothing in this package does I/O, reads the clock or imports an adapter; the call
runner (``ivr.call``) executes the actions and feeds back the events.
"""

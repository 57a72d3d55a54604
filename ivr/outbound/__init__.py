"""Reaching out: reminder campaigns and callbacks placed over AMI ``Originate``.

``rules`` decides when a call may be placed (pure), ``dialer`` claims attempts from the
store and places them, ``route`` runs the answered call through the dialogue core."""

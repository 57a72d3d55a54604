"""Prompt texts and their audio: the catalog, rendering with espeak-ng, checks.

``prompts/prompts.toml`` holds every text; ``ivr prompts build`` renders them into
``prompts/audio/<id>.wav`` for Asterisk; ``ensure_spoken`` renders dynamic texts
(places, addresses) on first use.
"""

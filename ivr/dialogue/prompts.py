"""Every prompt id the call flow can ask for.

``ivr prompts check`` fails the build when one of these has no text or no audio;
a test keeps this list in step with the ids written in ``flow.py``.
"""

from __future__ import annotations

from ivr.dialogue import speak

FLOW_PROMPTS = frozenset({
    "greeting", "goodbye",
    "nik/ask", "nik/ask_simple", "nik/ask_keypad", "nik/ask_keys_only", "nik/ask_rest",
    "nik/heard_so_far", "nik/only", "nik/digits_word", "nik/too_long", "nik/start_over",
    "nik/check_card", "nik/bad_province", "nik/bad_city", "nik/bad_district", "nik/bad_day",
    "nik/bad_month", "nik/bad_serial",
    "confirm/intro", "confirm/ask", "confirm/ask_simple", "confirm/unsure",
    "fix/which", "fix/group_ask", "fix/group_short",
    "status/scheduled", "status/schedule_intro", "status/place_intro", "status/address_intro",
    "status/documents_intro", "status/free", "status/not_scheduled", "status/collected",
    "status/collected_unknown", "status/collected_check", "status/in_review", "status/rejected",
    "status/not_found", "docs/default",
    "menu/after", "menu/simple",
    "report/intro", "report/thanks", "report/empty",
    "operator/connecting", "operator/busy", "operator/closed", "operator/callback_offer",
    "operator/callback_noted", "operator/no_number", "operator/message_thanks", "message/intro",
    "error/not_heard", "error/not_understood", "error/giveup", "error/system", "fallback/offer",
    "silence/short", "silence/1",
})

# What reminder calls and callbacks add (ivr.dialogue.outbound).
OUTBOUND_PROMPTS = frozenset({
    "outbound/reminder_intro", "outbound/reminder_menu", "outbound/reminder_menu_simple",
    "outbound/reminder_thanks", "outbound/opted_out",
    "outbound/callback_intro", "outbound/callback_busy", "outbound/callback_status",
    "outbound/callback_ask_nik",
})

REQUIRED_PROMPTS = FLOW_PROMPTS | OUTBOUND_PROMPTS | speak.ALL_WORD_IDS

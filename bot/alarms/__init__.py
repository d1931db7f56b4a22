"""Alarms as the bot understands them: the model, parsing, routing, the inbox (no transport)."""

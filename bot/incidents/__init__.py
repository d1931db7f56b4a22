"""Alarm → Slack thread: the incident lifecycle, storms, their records, messages and chart."""

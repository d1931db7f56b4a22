"""The only code that calls the Slack Web API: pacing, the edit budget, retries, metrics."""

"""Ways alarms come in: ``POST /sns`` (verified SNS messages) and the SQS poller."""

"""Alarm ingestion: SNS and SQS in, one Alarm model out, routed to a playbook."""

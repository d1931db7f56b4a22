"""Test-wide setup: fake AWS credentials and region, so nothing can reach a real account."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
for _name in (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "TRIAGEBOT_CONFIG",
    "TRIAGEBOT_CONFIG_TOML",
    "SLACK_API_URL",
):
    os.environ.pop(_name, None)


@pytest.fixture
def aws() -> Iterator[None]:
    """moto, in-process, for the duration of one test."""
    with mock_aws():
        yield


@pytest.fixture
def session(aws: None) -> boto3.Session:
    """A boto3 session inside moto; register fakes on it with ``fake_operation``."""
    return boto3.Session(region_name="us-east-1")


pytest_plugins = ["tests.support.local_aws"]

from tests.slack.harness import harness

__all__ = ["harness"]

"""IAM policy documents as the JSON strings the aws provider takes.

Every document of the stack is built here, so the policy language version and the shape
of a trust policy are written once.
"""

from __future__ import annotations

import json
from typing import Any

VERSION = "2012-10-17"


def document(*statements: dict[str, Any]) -> str:
    """A policy document holding ``statements`` in order."""
    return json.dumps({"Version": VERSION, "Statement": list(statements)})


def assume_role(service: str) -> str:
    """The trust policy letting one AWS service (``ecs-tasks.amazonaws.com``, ...) take a role."""
    return document(
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": service}}
    )


__all__ = ["VERSION", "assume_role", "document"]

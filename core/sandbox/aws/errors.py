"""An AWS error the emulator answers with: botocore turns it into ClientError(code, message)."""

from __future__ import annotations


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, extra: dict | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = dict(extra or {})

    def body(self) -> dict:
        return {"__type": self.code, "message": self.message, "Message": self.message, **self.extra}

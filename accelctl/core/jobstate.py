"""The states a job goes through, the same for every backend, the store and both front ends."""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's state. Stored and printed by its name; backends map their own states to these."""

    PENDING = "PENDING"  # accepted, not started (waiting for resources, pulling, uploading)
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"  # the backend answered but could not say

    @property
    def terminal(self) -> bool:
        """The job has ended and will not change again."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})

"""The errors every action raises, and the exit code each one means.

`fastapi_ci.action_io.run_action` catches these and reports them the same way for every
action: one `::error::` line, the long diagnostics in the step summary, and the exit code.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2


class FastapiCiError(Exception):
    """Base of every error an action reports to its user (never shown as a traceback)."""

    exit_code = EXIT_CHECK_FAILED

    def __init__(self, message: str, *, why: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.why = why
        self.fix = fix

    def diagnostics(self) -> str:
        """The long form for the step summary: what failed, why, and how to fix it."""
        parts = [self.message]
        if self.why:
            parts.append(f"Why: {self.why}")
        if self.fix:
            parts.append(f"How to fix: {self.fix}")
        return "\n\n".join(parts)


class InputError(FastapiCiError):
    """An input (flag or `FASTAPI_CI_*` variable, or a file it names) is invalid.

    `input_name` is the kebab-case input name as the user wrote it in `with:` or on the CLI.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, input_name: str, message: str, *, fix: str = "") -> None:
        super().__init__(f"input '{input_name}': {message}", fix=fix)
        self.input_name = input_name


class InvalidInputs(FastapiCiError):
    """Several inputs are invalid at once: all are reported, not only the first."""

    exit_code = EXIT_BAD_INPUT

    def __init__(self, errors: list[InputError]) -> None:
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class CheckFailed(FastapiCiError):
    """The gate is closed: the check ran and found a problem (lint errors, breaking change, ...)."""

    exit_code = EXIT_CHECK_FAILED

"""GitHub's runner files, read the way the runner reads them."""

from __future__ import annotations

from pathlib import Path


def read_outputs(path: str | Path) -> dict[str, str]:
    """The outputs a step wrote to its GITHUB_OUTPUT file.

    Both forms the runner accepts: `name=value` on one line, and the heredoc form
    `name<<DELIMITER`, the value's lines, `DELIMITER` (what fastapi-ci writes, with a random
    delimiter, so that a value cannot end the heredoc early).
    """
    lines = Path(path).read_text().splitlines()
    outputs: dict[str, str] = {}
    index = 0
    while index < len(lines):
        line = lines[index]
        heredoc_name, marker, delimiter = line.partition("<<")
        if marker and "=" not in heredoc_name:
            end = lines.index(delimiter, index + 1)
            outputs[heredoc_name] = "\n".join(lines[index + 1 : end])
            index = end + 1
            continue
        if "=" in line:
            name, _, value = line.partition("=")
            outputs[name] = value
        index += 1
    return outputs

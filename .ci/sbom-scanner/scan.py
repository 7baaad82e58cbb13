"""BuildKit's SBOM generator protocol around syft (what docker/buildkit-syft-scanner does).

BuildKit runs this image with the build result's root filesystem mounted read-only at
$BUILDKIT_SCAN_SOURCE (and other stages' under $BUILDKIT_SCAN_SOURCE_EXTRAS, when the
Dockerfile asks for them) and reads `<name>.spdx.json` files from
$BUILDKIT_SCAN_DESTINATION: in-toto statements with an SPDX predicate, whose subject
BuildKit fills in. See moby/buildkit docs/attestations/sbom-protocol.md.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

STATEMENT = "https://in-toto.io/Statement/v0.1"
SPDX = "https://spdx.dev/Document"


def scan(root: Path, destination: Path) -> None:
    """One SPDX document for one root filesystem, written as an in-toto statement."""
    done = subprocess.run(
        ["/usr/local/bin/syft", "scan", f"dir:{root}", "--output", "spdx-json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    )
    if done.returncode != 0:
        sys.exit(f"syft failed on {root}: {done.stderr.strip()}")
    statement = {
        "_type": STATEMENT,
        "predicateType": SPDX,
        "subject": [],
        "predicate": json.loads(done.stdout),
    }
    (destination / f"{root.name}.spdx.json").write_text(json.dumps(statement))


def main() -> None:
    destination = Path(os.environ["BUILDKIT_SCAN_DESTINATION"])
    scan(Path(os.environ["BUILDKIT_SCAN_SOURCE"]), destination)
    extras = Path(os.environ.get("BUILDKIT_SCAN_SOURCE_EXTRAS") or "/nonexistent")
    if extras.is_dir():
        for root in sorted(extras.iterdir()):
            scan(root, destination)


if __name__ == "__main__":
    main()

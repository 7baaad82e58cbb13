"""`python -m fastapi_ci` is the `fastapi-ci` command."""

import sys

from fastapi_ci.cli import main

sys.exit(main())

"""Write a FastAPI app's OpenAPI document to a file, run with the PROJECT's interpreter.

This file is executed by path (`python _import_app.py MODULE:ATTR APP_DIR OUT`) in the
environment that has the app's dependencies, so it imports only the standard library. It
writes to a file rather than stdout because importing an app may print logs.
Exit codes tell the caller which input was wrong.
"""

import importlib
import json
import sys
import traceback

EXIT_IMPORT_FAILED = 3
EXIT_NO_SUCH_ATTRIBUTE = 4
EXIT_NOT_AN_APP = 5


def main() -> int:
    target, app_dir, output = sys.argv[1:4]
    module_name, _, attribute = target.partition(":")
    sys.path.insert(0, app_dir)
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:  # any failure at import time is the app's, not ours
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        sys.stderr.write(f"cannot import {module_name!r} from {app_dir!r}: {last}\n")
        return EXIT_IMPORT_FAILED
    app = module
    for part in attribute.split("."):
        if not hasattr(app, part):
            sys.stderr.write(f"module {module_name!r} has no attribute {attribute!r}\n")
            return EXIT_NO_SUCH_ATTRIBUTE
        app = getattr(app, part)
    openapi = getattr(app, "openapi", None)
    if not callable(openapi):
        sys.stderr.write(f"{target} is a {type(app).__name__}, not a FastAPI application\n")
        return EXIT_NOT_AN_APP
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(openapi(), handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())

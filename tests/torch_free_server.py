"""daphne, run in this Python process (same arguments as the `daphne` command), which at exit writes
the names of every module the process imported, one a line, to GEOGAME_TEST_MODULES_FILE.

tests/test_web_process_torch_free.py serves the game with it: SIGTERM stops daphne's reactor, the
interpreter exits, and the file says whether the process that served HTTP ever imported torch."""

import atexit
import os
import sys
from pathlib import Path


def write_modules(path):
    Path(path).write_text("\n".join(sorted(sys.modules)) + "\n")


if __name__ == "__main__":  # not when a spawned model process imports this file as __mp_main__
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # config.asgi, as daphne finds it
    atexit.register(write_modules, os.environ["GEOGAME_TEST_MODULES_FILE"])
    from daphne.cli import CommandLineInterface

    CommandLineInterface.entrypoint()

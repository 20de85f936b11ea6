"""supervisor event listener: stop supervisord (and with it the container) when a program is FATAL.

stdout is the listener protocol channel, so messages go to stderr.
"""

import os
import signal
import sys


def main() -> None:
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        header = dict(token.split(":", 1) for token in sys.stdin.readline().split())
        payload = sys.stdin.read(int(header["len"]))
        sys.stdout.write("RESULT 2\nOK")
        sys.stdout.flush()
        if header.get("eventname") == "PROCESS_STATE_FATAL":
            sys.stderr.write(f"exit-on-fatal: {payload}: stopping the container\n")
            sys.stderr.flush()
            os.kill(os.getppid(), signal.SIGTERM)


if __name__ == "__main__":
    main()

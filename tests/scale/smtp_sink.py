"""An SMTP server for the scale test: accepts everything, notes every recipient.

    python tests/scale/smtp_sink.py PORT LEDGER

Runs in its own process (its own interpreter, so it keeps up with three
workers) and appends one line per recipient of each accepted message to
LEDGER: ``<unix time> <recipient>``. The test reads the ledger.
"""

import asyncio
import logging
import signal
import sys
import time

from aiosmtpd.controller import Controller


class LedgerHandler:
    def __init__(self, ledger):
        self.ledger = ledger

    async def handle_DATA(self, server, session, envelope):
        now = time.time()
        self.ledger.write(
            "".join(f"{now:.6f} {rcpt.lower()}\n" for rcpt in envelope.rcpt_tos)
        )
        return "250 Message accepted for delivery"


def main(port, path):
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    with open(path, "a", buffering=1, encoding="utf-8") as ledger:
        controller = Controller(LedgerHandler(ledger), hostname="127.0.0.1", port=port)
        controller.start()
        print("ready", flush=True)
        stop = asyncio.Event()
        loop = asyncio.new_event_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.run_until_complete(stop.wait())
        controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])

"""The embedded default's broker: kombu's filesystem transport, made safe for several processes.

Upstream ``_put`` creates the message file and then writes it, while a consumer in another
process may already move and read it: an empty payload, a JSONDecodeError, and the worker
stops with "Unrecoverable error" (seen in tests/e2e/test_worker_integration.py when a worker was
killed and another took over). Here a message is written to a hidden temporary name and
renamed into place, which is atomic on POSIX, and a damaged file is skipped with a warning
instead of stopping the worker. Registered for ``filesystem://`` URLs in celery.py.

Upstream: celery/kombu#1551 ("JSON decode error 'Expecting value: line 1 column 1 (char 0)'", an empty or
damaged message file stops the consumer), open when this was written. The patch overrides the transport's
private methods (``Channel._put`` and ``Channel._get``), which kombu may change in any release: that is why
requirements.txt pins kombu to the minor version the worker tests ran against (tests/portal/test_broker.py and
tests/e2e/test_worker_integration.py). Upgrade kombu only together with a run of those tests, and drop this module
once upstream writes atomically.
"""

from __future__ import annotations

import logging
import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot and a trailing ".tmp": consumers match "<queue>.msg" and never see it.
        temporary = os.path.join(self.data_folder_out, f".{name}.tmp")
        try:
            with open(temporary, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, final)
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue):
        while True:
            try:
                return super()._get(queue)
            except ValueError:  # json.JSONDecodeError: a file damaged outside our writes
                logger.warning("Skipped an unreadable message in the %s queue of the filesystem broker", queue)


class Transport(filesystem.Transport):
    Channel = Channel

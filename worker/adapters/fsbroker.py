"""The embedded broker: kombu's filesystem transport, made safe against torn messages.

kombu 5.7's filesystem transport creates a message file under its final name and only
then writes the payload. A consumer polling the folder can move that file away while it
is still empty: it then fails to decode it, the exception escapes the consumer loop, and
the writer's bytes go into a file nobody will read again. With several worker processes
and a beat sharing one folder, this happened in our end-to-end tests (one embedded run in
a few dozen lost a stage hop).

This transport keeps kombu's on-disk layout (``<ms>_<uuid>.<queue>.msg`` in one folder,
so ``worker.adapters.broker`` and older folders keep working) and changes two things:

* ``_put`` writes to a hidden temporary name in the same folder and renames it into
  place, so a message file is either absent or whole;
* ``_get`` claims a file by renaming it into the processed folder (same filesystem, so
  the rename is atomic and only one consumer wins), and a file that still fails to
  decode is set aside in ``corrupt/`` with an error log instead of stopping the worker.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

import structlog
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

log = structlog.get_logger(__name__)

TRANSPORT = f"{__name__}:Transport"


class Channel(filesystem.Channel):
    # kombu's own classes disagree on this signature (virtual: message; filesystem:
    # payload, **kwargs): this one is filesystem's.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot and a trailing suffix: no consumer or depth count matches it.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        claimed_dir = self.processed_folder
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = os.path.join(claimed_dir, name)
            try:
                # rename is atomic on one filesystem: exactly one consumer wins the file
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another consumer took it first
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            try:
                message: dict[str, Any] = loads(bytes_to_str(payload))
            except ValueError as exc:
                self._set_aside(claimed, name, queue, len(payload), exc)
                continue
            if not self.store_processed:
                with contextlib.suppress(OSError):
                    os.unlink(claimed)
            return message
        raise Empty()

    def _set_aside(self, path: str, name: str, queue: str, size: int, exc: Exception) -> None:
        corrupt = os.path.join(os.path.dirname(self.data_folder_in), "corrupt")
        os.makedirs(corrupt, exist_ok=True)
        with contextlib.suppress(OSError):
            os.replace(path, os.path.join(corrupt, name))
        log.error(
            "broker.message_corrupt",
            queue=queue,
            file=name,
            bytes=size,
            error=str(exc),
            kept_in=corrupt,
        )


class Transport(filesystem.Transport):
    Channel = Channel

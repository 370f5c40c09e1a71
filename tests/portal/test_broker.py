"""The embedded broker writes each message atomically and survives a damaged file."""

from __future__ import annotations

import os

from kombu import Connection

from exceptions_portal.broker import Transport


def _connection(tmp_path):
    folder = tmp_path / "queue"
    folder.mkdir()
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    return Connection("filesystem://localhost//", transport=Transport, transport_options=options), folder


def test_message_round_trip_leaves_no_temporary_file(tmp_path):
    connection, folder = _connection(tmp_path)
    with connection:
        queue = connection.SimpleQueue("round-trip")  # kombu caches declared exchanges per process: one name per test
        queue.put({"n": 1})
        assert [name for name in os.listdir(folder) if name.endswith(".tmp")] == []
        assert queue.get(timeout=1).payload == {"n": 1}
        queue.close()


def test_damaged_message_is_skipped_not_fatal(tmp_path):
    connection, folder = _connection(tmp_path)
    with connection:
        queue = connection.SimpleQueue("damaged")
        (folder / "0_damaged.damaged.msg").write_bytes(b"")  # what a crash mid-write left upstream
        queue.put({"n": 2})
        assert queue.get(timeout=1).payload == {"n": 2}
        queue.close()

"""atomic_file with writers of the same file at once: each writes a temporary file of its own,
so the file is always one writer's whole output and no temporary file is left behind.

Before, every writer of NAME wrote NAME.tmp: a second writer truncated the first one's file,
the two interleaved their bytes, and the slower one's rename failed (its file was gone).
"""

from __future__ import annotations

import os
import stat
import threading

import pytest

from shanyraq.atomic import atomic_file, temporary_of

OLD = b"the old file"
ROUNDS = 40  # each round, both writers are half-way through the same file at once


def test_two_writers_of_one_file_at_once_never_tear_it_or_leave_a_temporary(tmp_path):
    path = tmp_path / "scores.jsonl"
    path.write_bytes(OLD)
    contents = [letter * 100_000 for letter in (b"a", b"b")]
    whole = {OLD, *contents}
    half = len(contents[0]) // 2
    meet = threading.Barrier(2, timeout=60)
    failures: list[BaseException] = []
    torn: list[bytes] = []
    done = threading.Event()

    def write(content: bytes) -> None:
        try:
            for _ in range(ROUNDS):
                with atomic_file(path) as tmp, tmp.open("wb") as handle:
                    handle.write(content[:half])
                    handle.flush()
                    meet.wait()  # both writers are half-way through
                    handle.write(content[half:])
                meet.wait()  # both have replaced the file
                if (now := path.read_bytes()) not in whole:
                    torn.append(now)
        except BaseException as exc:
            failures.append(exc)
            meet.abort()

    def read() -> None:
        while not done.is_set():
            if (now := path.read_bytes()) not in whole:
                torn.append(now)

    writers = [threading.Thread(target=write, args=(content,)) for content in contents]
    reader = threading.Thread(target=read)
    for thread in (*writers, reader):
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    reader.join()
    assert failures == []
    assert [len(t) for t in torn] == []  # every read saw the old file or one writer's whole
    assert path.read_bytes() in contents
    assert sorted(os.listdir(tmp_path)) == ["scores.jsonl"]


def test_writers_at_once_get_temporary_files_of_their_own_beside_the_file(tmp_path):
    path = tmp_path / "model.json"
    with atomic_file(path) as first, atomic_file(path) as second:
        assert first != second
        assert first.parent == second.parent == tmp_path
        assert not first.exists() and not second.exists()  # the writer creates its file
        assert temporary_of(first.name) == temporary_of(second.name) == "model.json"
        first.write_text("first")
        second.write_text("second")
    assert path.read_text() == "first"  # the outer block ends last: its file stays
    assert os.listdir(tmp_path) == ["model.json"]
    assert temporary_of("model.json") is None and temporary_of("model.json.tmp") is None


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "pool.npz"
    path.write_bytes(OLD)
    with pytest.raises(RuntimeError, match="half-way"), atomic_file(path) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("the writer failed half-way")
    assert path.read_bytes() == OLD
    assert os.listdir(tmp_path) == ["pool.npz"]


def test_a_writer_that_writes_nothing_is_an_error_naming_the_file(tmp_path):
    # As before: a writer that wrote elsewhere (numpy's savez adds ".npz" to a path it is
    # given) must not replace the file with an empty one.
    path = tmp_path / "pool.npz"
    path.write_bytes(OLD)
    with pytest.raises(FileNotFoundError) as caught, atomic_file(path):
        pass
    assert caught.value.filename == str(path)
    assert path.read_bytes() == OLD and os.listdir(tmp_path) == ["pool.npz"]


def test_the_file_gets_the_mode_a_new_file_gets(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    path = tmp_path / "out.csv"
    path.write_bytes(OLD)
    path.chmod(0o600)  # replaced whole: the new file's mode is a new file's, as before
    with atomic_file(path) as tmp:
        tmp.write_bytes(b"new")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_the_file_is_on_disk_before_it_replaces_the_old_one_and_the_folder_after(
    tmp_path, monkeypatch
):
    path = tmp_path / "last.pt"
    path.write_bytes(OLD)
    synced: list[tuple[str, bytes]] = []
    fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append((os.readlink(f"/proc/self/fd/{fd}"), path.read_bytes()))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    with atomic_file(path) as tmp:
        tmp.write_bytes(b"new")
    assert synced == [(str(tmp), OLD), (str(tmp_path), b"new")]

"""jurigged._core.Watcher on real files: every way of saving a file gives exactly one
Changed with the new content, decided by content; batches, deletion, errors, polling,
the polling fallback and closing.

On every interpreter run only the tests of the binding itself (one save with inotify and
one polled, waits, timeouts, close, Ctrl-C, arguments); the file-system scenarios exercise
the C++ engine alone, which no interpreter changes, and run once (main_only)."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from jurigged._core import Watcher
from watcher_support import changed, collect, collect_while, deleted, events, module, remove_workdir, start, workdir  # noqa: F401 (fixtures)




# ---- save styles -----------------------------------------------------------------------


def write_in_place(path, content):
    path.write_bytes(content)


def truncate_pause_write(path, content):
    with open(path, "r+b") as f:
        f.truncate(0)
        f.flush()
        time.sleep(0.2)  # longer than the 50 ms quiet period: only the close completes it
        f.write(content)


def replace_from_temp(path, content):
    temp = path.with_name(path.name + ".tmp123")
    temp.write_bytes(content)
    os.replace(temp, path)


def jetbrains_safe_write(path, content):
    temp = path.with_name(path.name + "___jb_tmp___")
    old = path.with_name(path.name + "___jb_old___")
    temp.write_bytes(content)
    os.rename(path, old)
    os.rename(temp, path)
    os.unlink(old)


def sed_in_place(path, content):
    text = content.decode().rstrip("\n")
    subprocess.run(["sed", "-i", f"s/.*/{text}/", str(path)], check=True)


def copy_over(path, content):
    source = path.with_name("source.txt")
    source.write_bytes(content)
    subprocess.run(["cp", str(source), str(path)], check=True)


def delete_and_recreate(path, content):
    path.unlink()
    path.write_bytes(content)


def move_in(path, content):
    # From another directory, as `mv` from elsewhere: only MOVED_TO, no cookie partner.
    elsewhere = path.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    (elsewhere / path.name).write_bytes(content)
    os.rename(elsewhere / path.name, path)


SAVES = [
    write_in_place,
    truncate_pause_write,
    replace_from_temp,
    jetbrains_safe_write,
    sed_in_place,
    copy_over,
    delete_and_recreate,
    move_in,
]


def first_on_every_interpreter(saves):
    """The first save style runs everywhere (it covers the binding); the others only
    exercise the engine, so they run on the main interpreter only."""
    return [pytest.param(save, marks=() if i == 0 else pytest.mark.main_only)
            for i, save in enumerate(saves)]


@pytest.mark.parametrize("save", first_on_every_interpreter(SAVES))
def test_each_save_gives_one_changed(module, save):
    watcher = start(module)
    save(module, b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    save(module, b"value = 3\n")
    assert events(watcher, 1) == [changed(module, b"value = 3\n")]
    watcher.close()


@pytest.mark.parametrize(
    "save", first_on_every_interpreter(
        [write_in_place, replace_from_temp, sed_in_place, copy_over, delete_and_recreate, jetbrains_safe_write])
)
def test_polling_sees_each_save(module, save):
    watcher = start(module, poll_ms=50)
    assert watcher.polling
    save(module, b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    save(module, b"value = 3\n")
    assert events(watcher, 1) == [changed(module, b"value = 3\n")]
    watcher.close()


def test_debounce_zero_delivers_at_once(module):
    watcher = start(module, debounce_ms=0)
    replace_from_temp(module, b"value = 2\n")
    began = time.monotonic()
    assert watcher.wait(2000) == [changed(module, b"value = 2\n")]
    assert time.monotonic() - began < 1.0
    assert events(watcher, 0) == []
    watcher.close()


# ---- decided by content ----------------------------------------------------------------


def test_identical_bytes_is_nothing(module):
    watcher = start(module)
    write_in_place(module, b"value = 1\n")
    replace_from_temp(module, b"value = 1\n")
    assert events(watcher, 0) == []
    watcher.close()


def test_touch_is_nothing(module):
    watcher = start(module)
    subprocess.run(["touch", str(module)], check=True)
    os.utime(module, (0, 0))
    assert events(watcher, 0) == []
    watcher.close()


@pytest.mark.main_only
def test_two_saves_in_one_mtime_tick_are_both_seen(module):
    watcher = start(module)
    stamp = os.stat(module).st_mtime_ns
    write_in_place(module, b"value = 2\n")
    os.utime(module, ns=(stamp, stamp))
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    write_in_place(module, b"value = 3\n")  # same size, same mtime
    os.utime(module, ns=(stamp, stamp))
    assert events(watcher, 1) == [changed(module, b"value = 3\n")]
    watcher.close()


def test_baseline_differing_from_disk_is_a_change(module):
    # An edit made between the import and add() must not be lost.
    watcher = Watcher()
    watcher.add(str(module), b"value = 0\n")
    assert events(watcher, 1) == [changed(module, b"value = 1\n")]
    watcher.close()


@pytest.mark.main_only
def test_half_written_file_is_not_delivered(module):
    watcher = start(module)
    module.write_bytes(b"")  # an empty file, closed, for a few ms
    time.sleep(0.01)
    with open(module, "wb") as f:
        f.write(b"value = ")
        f.flush()
        time.sleep(0.01)  # partially written
        f.write(b"2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


@pytest.mark.main_only
def test_a_busy_file_still_arrives_while_it_is_being_written(module):
    # A file rewritten non-stop must not starve its batch (the watcher caps the delay
    # at about a second); the generous deadline only catches starvation.
    watcher = start(module)
    stop = threading.Event()

    def keep_writing():
        n = 0
        while not stop.is_set():
            n += 1
            module.write_bytes(b"value = %d\n" % n)
            time.sleep(0.01)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        batch = watcher.wait(15000)
    finally:
        stop.set()
        writer.join()
    assert batch and batch[0][0] == "changed"
    watcher.close()


# ---- batches -----------------------------------------------------------------------------


@pytest.mark.main_only
def test_thirty_files_saved_one_after_another_each_arrive_with_no_debounce(workdir):
    # No quiet period: every save is handed over once complete, each file once with
    # its latest text (however the saves fall into batches).
    paths = [workdir / f"mod{i}.py" for i in range(30)]
    for path in paths:
        path.write_bytes(b"value = 1\n")
    watcher = Watcher()
    for path in paths:
        watcher.add(str(path), b"value = 1\n")
    assert collect(watcher, 0) == []
    for i, path in enumerate(paths):
        replace_from_temp(path, b"value = %d\n" % (i + 100))
    received = {}
    deadline = time.monotonic() + 30
    while len(received) < 30 and time.monotonic() < deadline:
        for kind, path, content, _ in watcher.wait(1000):
            assert kind == "changed" and path not in received
            received[path] = content
    assert received == {str(p): b"value = %d\n" % (i + 100) for i, p in enumerate(paths)}
    watcher.close()


def test_thirty_files_changed_together_arrive_in_one_batch_with_a_debounce(workdir):
    paths = [workdir / f"mod{i}.py" for i in range(30)]
    for path in paths:
        path.write_bytes(b"value = 1\n")
    watcher = Watcher(debounce_ms=50)
    for path in paths:
        watcher.add(str(path), b"value = 1\n")
    assert collect(watcher, 0) == []

    def save_all(offset):
        for i, path in enumerate(paths):
            replace_from_temp(path, b"value = %d\n" % (i + offset))

    batches = collect_while(watcher, lambda: save_all(100), 30)
    assert len(batches) == 1
    assert sorted(batches[0]) == sorted(changed(p, b"value = %d\n" % (i + 100)) for i, p in enumerate(paths))

    def save_twice():  # a pause longer than the quiet period: two batches
        save_all(200)
        time.sleep(0.3)
        save_all(300)

    batches = collect_while(watcher, save_twice, 60)
    assert [len(batch) for batch in batches] == [30, 30]
    assert {content for _, _, content, _ in batches[1]} == {b"value = %d\n" % (i + 300) for i in range(30)}
    watcher.close()


# ---- complete saves only, size limit ------------------------------------------------------


@pytest.mark.main_only
def test_a_file_held_open_is_read_at_its_close(module):
    watcher = start(module, debounce_ms=0)
    with open(module, "wb") as f:
        f.write(b"value = ")
        f.flush()
        assert events(watcher, 0, quiet=0.5) == []  # written but not closed: incomplete
        f.write(b"2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


@pytest.mark.main_only
def test_an_emptied_file_is_a_change(module):
    watcher = start(module, debounce_ms=0)
    module.write_bytes(b"")
    assert events(watcher, 1) == [changed(module, b"")]
    watcher.close()


@pytest.mark.main_only
def test_in_place_saves_with_no_debounce_are_never_seen_half_done(module):
    watcher = start(module, debounce_ms=0)
    last = b"value = 300\n"

    def save_many():
        for n in range(2, 301):
            with open(module, "wb") as f:  # truncates, then writes
                f.write(b"value = %d\n" % n)

    batches = []
    thread = threading.Thread(target=save_many)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(e[2] == last for b in batches for e in b):
        batch = watcher.wait(1000)
        if batch:
            batches.append(batch)
    thread.join()
    contents = [content for batch in batches for _, _, content, _ in batch]
    assert contents and contents[-1] == last
    assert all(kind == "changed" for batch in batches for kind, _, _, _ in batch)
    numbers = [int(content.split(b"=")[1]) for content in contents]  # never empty or half
    assert numbers == sorted(set(numbers))
    assert all(len(batch) == 1 for batch in batches)  # queued saves of a file: the latest
    watcher.close()


@pytest.mark.main_only
def test_a_file_over_the_size_limit_gives_one_error(module):
    watcher = start(module, max_file_size=100)
    module.write_bytes(b"#" * 200 + b"\n")
    (batch,) = collect(watcher, 1)
    assert [(kind, path) for kind, path, _, _ in batch] == [("error", str(module))]
    assert "201 bytes" in batch[0][3] and "100 bytes" in batch[0][3]
    module.write_bytes(b"#" * 300 + b"\n")  # still too big: not reported again
    assert events(watcher, 0) == []
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    module.write_bytes(b"#" * 200 + b"\n")  # too big again: reported again
    assert [kind for kind, _, _, _ in events(watcher, 1)] == ["error"]
    watcher.close()


@pytest.mark.main_only
def test_a_huge_sparse_file_is_not_read(module):
    watcher = start(module)
    with open(module, "r+b") as f:
        f.truncate(100 * 1024 ** 3)
    (batch,) = collect(watcher, 1)
    assert [(kind, path) for kind, path, _, _ in batch] == [("error", str(module))]
    assert "100.0 GiB" in batch[0][3] and "16.0 MiB" in batch[0][3]
    watcher.close()


@pytest.mark.main_only
def test_the_size_limit_when_polling(module):
    watcher = start(module, poll_ms=50, max_file_size=100)
    module.write_bytes(b"#" * 200 + b"\n")
    assert [kind for kind, _, _, _ in events(watcher, 1)] == ["error"]
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


def test_a_size_limit_must_be_positive():
    with pytest.raises(ValueError):
        Watcher(max_file_size=0)


# ---- deletion and errors -------------------------------------------------------------------


@pytest.mark.main_only
def test_delete_then_recreate(module):
    watcher = start(module)
    module.unlink()
    assert events(watcher, 1) == [deleted(module)]
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


@pytest.mark.main_only
def test_recreated_with_the_last_content_is_nothing(module):
    watcher = start(module)
    module.unlink()
    assert events(watcher, 1) == [deleted(module)]
    module.write_bytes(b"value = 1\n")
    assert events(watcher, 0) == []
    module.write_bytes(b"value = 5\n")
    assert events(watcher, 1) == [changed(module, b"value = 5\n")]
    watcher.close()


@pytest.mark.main_only
def test_unreadable_file_gives_one_error(module):
    # A directory in place of the module: unreadable even for root (chmod is not).
    watcher = start(module)
    module.unlink()
    module.mkdir()
    (batch,) = collect(watcher, 1)
    assert [(kind, path) for kind, path, _, _ in batch] == [("error", str(module))]
    assert str(module) in batch[0][3] and "not a regular file" in batch[0][3]
    os.utime(module)  # another event on the name: the error is not repeated
    (module / "inner").write_bytes(b"")
    assert events(watcher, 0) == []
    remove = module / "inner"
    remove.unlink()
    module.rmdir()
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


# ---- directories and symlinks ------------------------------------------------------------


@pytest.mark.main_only
def test_module_through_a_symlinked_file(workdir):
    real = workdir / "real"
    real.mkdir()
    (real / "mod.py").write_bytes(b"value = 1\n")
    package = workdir / "pkg"
    package.mkdir()
    link = package / "mod.py"
    link.symlink_to(real / "mod.py")
    watcher = start(link)
    replace_from_temp(real / "mod.py", b"value = 2\n")
    assert events(watcher, 1) == [changed(link, b"value = 2\n")]
    write_in_place(real / "mod.py", b"value = 3\n")
    assert events(watcher, 1) == [changed(link, b"value = 3\n")]
    watcher.close()


@pytest.mark.main_only
def test_module_through_a_symlinked_directory(workdir):
    real = workdir / "real"
    real.mkdir()
    (real / "mod.py").write_bytes(b"value = 1\n")
    (workdir / "linked").symlink_to(real)
    path = workdir / "linked" / "mod.py"
    watcher = start(path)
    replace_from_temp(real / "mod.py", b"value = 2\n")
    assert events(watcher, 1) == [changed(path, b"value = 2\n")]
    watcher.close()


@pytest.mark.main_only
def test_directory_renamed_away_and_back(workdir):
    package = workdir / "pkg"
    package.mkdir()
    module = package / "mod.py"
    module.write_bytes(b"value = 1\n")
    watcher = start(module)
    away = workdir / "away"
    for n in (2, 3):
        os.rename(package, away)
        (away / "mod.py").write_bytes(b"value = %d\n" % n)
        os.rename(away, package)
        assert events(watcher, 1) == [changed(module, b"value = %d\n" % n)]
    # Away for longer than the quiet period: Deleted, then Changed when it is back.
    os.rename(package, away)
    assert events(watcher, 1) == [deleted(module)]
    (away / "mod.py").write_bytes(b"value = 4\n")
    os.rename(away, package)
    assert events(watcher, 1) == [changed(module, b"value = 4\n")]
    write_in_place(module, b"value = 5\n")  # watched again after coming back
    assert events(watcher, 1) == [changed(module, b"value = 5\n")]
    watcher.close()


@pytest.mark.main_only
def test_directory_removed_and_recreated(workdir):
    package = workdir / "pkg"
    package.mkdir()
    module = package / "mod.py"
    module.write_bytes(b"value = 1\n")
    watcher = start(module)
    remove_workdir(package)
    package.mkdir()
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    remove_workdir(package)
    assert events(watcher, 1) == [deleted(module)]
    (workdir / "pkg" / "sub").mkdir(parents=True)  # an unrelated directory first
    module.write_bytes(b"value = 3\n")
    assert events(watcher, 1) == [changed(module, b"value = 3\n")]
    write_in_place(module, b"value = 4\n")
    assert events(watcher, 1) == [changed(module, b"value = 4\n")]
    watcher.close()


@pytest.mark.main_only
def test_file_whose_directory_does_not_exist_yet(workdir):
    module = workdir / "later" / "deeper" / "mod.py"
    watcher = Watcher()
    watcher.add(str(module), b"value = 1\n")
    assert events(watcher, 1) == [deleted(module)]
    module.parent.mkdir(parents=True)
    module.write_bytes(b"value = 2\n")
    assert events(watcher, 1) == [changed(module, b"value = 2\n")]
    watcher.close()


# ---- lifecycle --------------------------------------------------------------------------


def test_removed_file_is_no_longer_reported(module):
    watcher = start(module)
    watcher.remove(str(module))
    write_in_place(module, b"value = 2\n")
    assert events(watcher, 0) == []
    watcher.close()


@pytest.mark.main_only
def test_one_inotify_instance_for_many_watchers(workdir):
    def inotify_fds():
        count = 0
        for fd in os.listdir("/proc/self/fd"):
            try:
                count += os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify"
            except OSError:
                pass
        return count

    watchers = []
    for i in range(5):
        path = workdir / f"mod{i}.py"
        path.write_bytes(b"value = 1\n")
        watchers.append(start(path))
    assert inotify_fds() == 1
    write_in_place(workdir / "mod3.py", b"value = 2\n")
    assert events(watchers[3], 1) == [changed(workdir / "mod3.py", b"value = 2\n")]
    assert all(events(w, 0, quiet=0.05) == [] for w in watchers)
    for watcher in watchers:
        watcher.close()
    assert inotify_fds() == 0  # the shared instance goes with its last user


@pytest.mark.main_only
def test_forced_fallback_gives_a_notice_and_still_works(module, monkeypatch):
    monkeypatch.setenv("JURIGGED_FORCE_POLL_FALLBACK", "1")
    watcher = start(module)
    assert watcher.polling
    (batch,) = collect(watcher, 1)
    assert len(batch) == 1 and batch[0][0] == "notice"
    assert "JURIGGED_FORCE_POLL_FALLBACK" in batch[0][3] and "polling" in batch[0][3]
    replace_from_temp(module, b"value = 2\n")
    assert events(watcher, 1, timeout=5) == [changed(module, b"value = 2\n")]
    write_in_place(module, b"value = 3\n")
    assert events(watcher, 1, timeout=5) == [changed(module, b"value = 3\n")]
    watcher.close()


def test_close_unblocks_a_waiting_thread(module):
    watcher = start(module)
    result = []
    waiter = threading.Thread(target=lambda: result.append(watcher.wait(-1)))
    waiter.start()
    time.sleep(0.2)
    assert waiter.is_alive()
    began = time.monotonic()
    watcher.close()
    waiter.join(2)
    assert not waiter.is_alive()
    assert time.monotonic() - began < 1.0
    assert result == [[]]
    assert watcher.closed
    assert watcher.wait(-1) == []
    with pytest.raises(RuntimeError):
        watcher.add(str(module), b"")


def test_ctrl_c_interrupts_a_wait_in_the_main_thread(module):
    code = (
        "import sys; from jurigged._core import Watcher\n"
        "w = Watcher(); w.add(sys.argv[1], open(sys.argv[1], 'rb').read())\n"
        "print('ready', flush=True); w.wait(-1)"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(module)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline() == "ready\n"
        time.sleep(0.3)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=5)
    finally:
        child.kill()
    assert "KeyboardInterrupt" in err


def test_wait_times_out_with_an_empty_batch(module):
    watcher = start(module)
    began = time.monotonic()
    assert watcher.wait(150) == []
    assert 0.1 < time.monotonic() - began < 1.0
    watcher.close()


@pytest.mark.main_only
def test_symlink_pointed_elsewhere_is_followed(workdir):
    for name in ("v1", "v2"):
        (workdir / name).mkdir()
        (workdir / name / "mod.py").write_bytes(b"value = 1\n")
    link = workdir / "mod.py"
    link.symlink_to(workdir / "v1" / "mod.py")
    watcher = start(link)
    (workdir / "new-link").symlink_to(workdir / "v2" / "mod.py")
    os.replace(workdir / "new-link", link)  # same content: nothing yet
    assert events(watcher, 0) == []
    write_in_place(workdir / "v2" / "mod.py", b"value = 2\n")
    assert events(watcher, 1) == [changed(link, b"value = 2\n")]
    write_in_place(workdir / "v1" / "mod.py", b"value = 3\n")  # no longer the module
    assert events(watcher, 0) == []
    watcher.close()

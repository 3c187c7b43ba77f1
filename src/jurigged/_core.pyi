# Type stubs for jurigged._core (the C++ engine binding).

# watcher

class Watcher:
    """Watches files on a native thread; reports, in debounced batches, those whose
    content changed, disappeared or became unreadable.

    debounce_ms: quiet period that closes a batch (0 delivers at once).
    poll_ms: > 0 polls by content at this interval instead of using inotify.
    Setting JURIGGED_FORCE_POLL_FALLBACK=1 in the environment before creating a Watcher
    makes it fall back to polling as if inotify were unavailable (for tests).
    """

    def __init__(self, debounce_ms: int = 50, poll_ms: int = 0) -> None: ...
    def add(self, path: str, baseline: bytes) -> None:
        """Watch `path`; `baseline` is the content already running (not a change).
        The file is read once after the quiet period, so if it already differs from
        `baseline` a "changed" event follows. RuntimeError after close()."""
    def remove(self, path: str) -> None: ...
    def wait(self, timeout_ms: int = -1) -> list[tuple[str, str, bytes, str]]:
        """Block (GIL released) until a batch is ready, the timeout passes or close()
        is called. Each event is (kind, path, content, message) with kind in
        "changed", "deleted", "error", "notice". Batches settled while nobody was
        waiting are returned together. In the main thread it wakes every 200 ms so that
        Ctrl-C can interrupt it; elsewhere it sleeps until something happens."""
    def close(self) -> None: ...
    @property
    def polling(self) -> bool: ...
    @property
    def closed(self) -> bool: ...

"""l4lb-tui: an XDP layer-4 load balancer and its terminal operator console."""

__version__ = "0.1.0"


def _quiet_interrupt() -> None:
    """A Ctrl-C while the CLI is still importing ends it quietly (status
    130), not with a traceback of half-imported modules; `cli.main` puts
    Python's own handler back once it runs."""
    import signal
    import sys
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda *_: sys.exit(130))


_quiet_interrupt()

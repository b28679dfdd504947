"""trionet for synchronous code: the same API without ``async``.

``trionet.compat.socket``, ``.tcp``, ``.udp`` and ``.task`` offer the names
and behaviour of their async twins; each blocking call blocks the calling
thread, bounded by its ``timeout`` (seconds), and raises the same
exceptions (``trionet.Timeout`` included). ``trionet.compat.iosched``
is JSRE's callback mode. See ``docs/compat.md``.
"""

from trionet import _package_path

__path__ = _package_path(__path__, __file__, __name__)

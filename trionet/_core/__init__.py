"""The layer both drivers share: trionet's fd level below its objects.

The fd table (``_fdtable``), the readiness layer (``_readiness``), the
system-call attempts (``_attempts``), the validated blocking calls built
from them (``_prepare``), the trio driver (``_drive_trio``; compat's
``_drive_sync`` is the other one), timeouts, addresses, constants,
argument checks and the exception-group helper. See CONTRIBUTING.md.
"""

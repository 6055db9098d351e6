"""The lane's Windows CPython: put the checkout's source tree on sys.path.

The embeddable build ignores PYTHONPATH and its ``._pth`` is shared by every checkout using the
cached prefix, so tools/wine/python.sh names the tree in TRANSOM_WINE_SRC instead.
"""

import os
import sys

_src = os.environ.get("TRANSOM_WINE_SRC")
if _src and _src not in sys.path:
    sys.path.insert(0, _src)

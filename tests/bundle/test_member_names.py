"""Property: a member name that passes the check can never land outside the extraction root."""

from __future__ import annotations

import os
import tarfile

from hypothesis import given, settings
from hypothesis import strategies as st

from fatectl.bundle.tarball import check_member
from fatectl.errors import BundleError

_parts = st.sampled_from(["..", ".", "", "a", "b.tgz", "~", "/", "\\", "c:", "\x00", "..."])
_names = st.one_of(st.lists(_parts, min_size=1, max_size=6).map("/".join), st.text(max_size=30))


@settings(max_examples=200, deadline=None)
@given(_names)
def test_accepted_names_stay_inside_the_root(name: str) -> None:
    info = tarfile.TarInfo(name)
    try:
        check_member(info)
    except BundleError:
        return
    root = "/srv/site"
    target = os.path.realpath(os.path.join(root, name))
    assert target.startswith(root + os.sep), name
    assert name == os.path.normpath(name) and not os.path.isabs(name)

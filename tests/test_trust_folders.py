"""trust.why_untrusted with the import hook's cache of trusted folders: a file in a
folder already found trustworthy still has its own entry (and any link) judged."""

from __future__ import annotations

import os

from jurigged import trust


def test_files_of_a_trusted_folder_are_still_judged(tmp_path):
    os.chmod(tmp_path, 0o755)
    good, shared, link = tmp_path / "good.py", tmp_path / "shared.py", tmp_path / "link.py"
    good.write_text("")
    shared.write_text("")
    os.chmod(shared, 0o666)
    open_folder = tmp_path / "open"
    open_folder.mkdir()
    os.chmod(open_folder, 0o777)
    (open_folder / "target.py").write_text("")
    link.symlink_to(open_folder / "target.py")
    folders = set()
    assert trust.why_untrusted(str(good), folders) is None
    assert str(tmp_path) in folders
    assert trust.why_untrusted(str(shared), folders) == trust.why_untrusted(str(shared))
    assert "writable by other users" in trust.why_untrusted(str(shared), folders)
    assert trust.why_untrusted(str(link), folders) == trust.why_untrusted(str(link))
    assert trust.why_untrusted(str(link), folders) is not None
    assert str(open_folder) not in folders

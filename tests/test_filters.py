"""Which files `-w` and `--exclude` select, checked on a real directory tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jurigged.filters import accepts_file, make_filter

FILES = [
    "app.py", "notes.txt", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py",
    "pkg/.hidden/secret.py", "pkg/__pycache__/mod.cpython-311.py",
    "env/settings.py",  # named like an environment, but it is a plain package
    ".venv/pyvenv.cfg", ".venv/lib/python3.11/site-packages/dep.py", ".venv/bin/tool.py",
    "venv/pyvenv.cfg", "venv/lib/python3.11/site-packages/dep.py", "venv/bin/tool.py",
    "myenv/pyvenv.cfg", "myenv/tool.py",
    "condaenv/conda-meta/history", "condaenv/lib/tool.py",
    "vendor/site-packages/lib.py", "vendor/dist-packages/lib.py",
    ".git/hooks/hook.py", ".tox/py311/lib.py",
]


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project folder (the current directory) full of things to ignore, and a folder
    beside it, joined by symbolic links both ways."""
    root = Path(os.path.realpath(tmp_path))
    project = root / "project"
    for name in FILES:
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    outside = root / "outside"
    (outside / "lib").mkdir(parents=True)
    (outside / "lib/ext.py").write_text("")
    (outside / "script.py").write_text("")
    (project / "linked").symlink_to(outside / "lib")
    (outside / "into_project.py").symlink_to(project / "pkg/mod.py")
    monkeypatch.chdir(project)
    return project


def watched_files(watched, project: Path):
    """The files of FILES that `watched` accepts, as written in FILES."""
    return {name for name in FILES if watched(str(project / name))}


def test_default_is_python_files_under_cwd_outside_ignored_folders(project):
    assert watched_files(make_filter(None), project) == {
        "app.py", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py", "env/settings.py"}
    assert make_filter([]) is not None and make_filter([])(str(project / "app.py"))


def test_default_leaves_files_outside_cwd(project):
    watched = make_filter(None)
    assert not watched(str(project.parent / "outside/script.py"))
    assert not watched("/usr/lib/python3/os.py")


def test_always_watches_the_script_wherever_it_is(project):
    script = str(project.parent / "outside/script.py")
    assert make_filter(None, always=["../outside/script.py"])(script)
    assert make_filter(None, always=[script])(str(project / "app.py"))
    assert not make_filter(None, ["../outside/script.py"], always=[script])(script)


def test_watch_a_file(project):
    watched = make_filter(["pkg/mod.py"])
    assert watched_files(watched, project) == {"pkg/mod.py"}


def test_watch_a_directory(project):
    assert watched_files(make_filter(["pkg"]), project) == {"pkg/mod.py", "pkg/sub/deep.py"}
    assert watched_files(make_filter(["."]), project) == {
        "app.py", "notes.txt", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py",
        "env/settings.py"}


@pytest.mark.parametrize("folder", [".venv", "venv", "condaenv", "pkg/.hidden",
                                    "vendor/site-packages"])
def test_watch_an_ignored_folder_by_name(project, folder):
    assert watched_files(make_filter([folder]), project) == {
        name for name in FILES if name.startswith(folder + "/")}


@pytest.mark.parametrize("pattern, expected", [
    # `*` crosses folders, as fnmatch's does (jurigged 0.6.1 compatibility)...
    ("*.py", {"app.py", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py", "env/settings.py"}),
    ("pkg/*.py", {"pkg/mod.py", "pkg/sub/deep.py"}),
    ("pkg/*/*.py", {"pkg/sub/deep.py"}),
    ("*/deep.py", {"pkg/sub/deep.py"}),
    ("pkg/*/secret.py", set()),  # ...but never into an ignored folder
    ("pkg/*", {"pkg/mod.py", "pkg/sub/deep.py"}),  # a folder brings what it holds
    ("pkg/s*", {"pkg/sub/deep.py"}),
    ("*", {"app.py", "notes.txt", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py",
           "env/settings.py"}),
    ("pkg/**", {"pkg/mod.py", "pkg/sub/deep.py"}),
    ("pkg/**/*.py", {"pkg/mod.py", "pkg/sub/deep.py"}),
    ("**/deep.py", {"pkg/sub/deep.py"}),
    ("**/*.py", {"app.py", ".dotfile.py", "pkg/mod.py", "pkg/sub/deep.py",
                 "env/settings.py"}),
    ("**/tool.py", set()),
    ("*/bin/tool.py", set()),  # a wildcard never walks into an environment
    (".venv/**/*.py", {".venv/lib/python3.11/site-packages/dep.py",
                       ".venv/bin/tool.py"}),
    ("**/.hidden/*.py", {"pkg/.hidden/secret.py"}),
    ("**/site-packages/*.py", {"vendor/site-packages/lib.py"}),
    ("p?g/[m]od.py", {"pkg/mod.py"}),
    ("*.txt", {"notes.txt"}),
])
def test_watch_a_glob(project, pattern, expected):
    assert watched_files(make_filter([pattern]), project) == expected


def test_glob_with_home(project, monkeypatch):
    monkeypatch.setenv("HOME", str(project))
    assert watched_files(make_filter(["~/pkg/*.py"]), project) == {"pkg/mod.py",
                                                                    "pkg/sub/deep.py"}
    assert watched_files(make_filter(["~/app.py"]), project) == {"app.py"}


def test_patterns_add_up(project):
    watched = make_filter(["app.py", "pkg/sub", "**/.hidden/*.py"])
    assert watched_files(watched, project) == {
        "app.py", "pkg/sub/deep.py", "pkg/.hidden/secret.py"}


@pytest.mark.parametrize("patterns, excludes, expected", [
    (None, ["pkg"], {"app.py", ".dotfile.py", "env/settings.py"}),
    (None, ["**/deep.py", ".dotfile.py"], {"app.py", "pkg/mod.py", "env/settings.py"}),
    (None, ["*.py"], set()),
    (None, ["pkg/*.py"], {"app.py", ".dotfile.py", "env/settings.py"}),
    (["pkg"], ["pkg/sub/"], {"pkg/mod.py"}),
    ([".venv"], ["**/site-packages"], {".venv/pyvenv.cfg", ".venv/bin/tool.py"}),
    ([".venv"], [".venv/**"], set()),
])
def test_excludes_remove_files(project, patterns, excludes, expected):
    assert watched_files(make_filter(patterns, excludes), project) == expected


def test_symlinked_folder_matches_by_given_or_real_path(project):
    linked = str(project / "linked/ext.py")
    real = str(project.parent / "outside/lib/ext.py")
    # Reached through a link inside the project: watched by default, either way.
    assert make_filter(None)(linked)
    assert not make_filter(None)(real)
    # A pattern naming the real folder matches the path through the link, and back.
    assert make_filter([real])(linked)
    assert make_filter(["linked"])(real)
    assert make_filter(["../outside/**/*.py"])(linked)
    # Excluding either name excludes both.
    assert not make_filter(None, ["../outside"])(linked)
    assert not make_filter([real], ["linked"])(real)


def test_symlinked_file_matches_by_given_or_real_path(project):
    link = str(project.parent / "outside/into_project.py")
    assert make_filter(None)(link)  # its real path is under the project
    assert make_filter(["pkg/mod.py"])(link)
    assert not make_filter(None, ["pkg/mod.py"])(link)


@pytest.mark.parametrize("patterns, excludes, always", [
    (None, [], []),
    (None, ["pkg/mod.py"], []),
    (None, [], ["../outside/script.py"]),
    (["pkg/mod.py", "linked"], [], []),
    (None, ["../outside"], []),
    (["pkg"], ["pkg/sub"], ["../outside/lib/ext.py"]),
])
def test_a_filter_asked_file_after_file_answers_as_a_new_one(project, patterns, excludes,
                                                              always):
    """A filter judges each folder once (the import hook asks it about every module):
    a file that a pattern names, or a link, still gets its own answer after another
    file of its folder was judged, asked as the hook asks (knowing whether the file
    is a link) or plainly."""
    for name in ("pkg/first.py", "outside/first.py", "outside/lib/first.py"):
        (project.parent / name if name.startswith("outside") else project / name
         ).write_text("")
    paths = [str(project / "pkg/first.py"), str(project.parent / "outside/first.py"),
             str(project.parent / "outside/lib/first.py"), str(project / "linked/first.py")]
    paths += [str(project / name) for name in FILES]
    paths += [str(project.parent / name) for name in (
        "outside/script.py", "outside/lib/ext.py", "outside/into_project.py")]
    paths.append(str(project / "linked/ext.py"))
    shared = make_filter(patterns, excludes, always=always)
    for path in paths + paths:
        expected = make_filter(patterns, excludes, always=always)(path)
        absolute = os.path.abspath(path)
        assert accepts_file(shared, absolute, os.path.islink(absolute)) == expected, path
        assert shared(path) == expected, path


def test_a_missing_path_matches_what_appears_there_later(project):
    watched = make_filter(["later", "later.py"])
    (project / "later").mkdir()
    (project / "later/new.py").write_text("")
    (project / "later.py").write_text("")
    assert watched(str(project / "later/new.py"))
    assert watched(str(project / "later.py"))
    assert not watched(str(project / "later.pyc"))


def test_relative_patterns_keep_the_directory_of_creation(project):
    watched = make_filter(None)
    other = make_filter(["pkg"])
    os.chdir(project / "pkg")
    assert watched(str(project / "app.py"))
    assert other(str(project / "pkg/mod.py"))


def test_glob_filter_takes_0_6_1s_pattern_forms(project, monkeypatch, tmp_path):
    import jurigged

    assert jurigged.glob_filter is jurigged.filters.glob_filter
    for pattern in ("*.py", "./*.py", ".", "./"):
        watched = jurigged.glob_filter(pattern)
        assert watched(str(project / "app.py")), pattern
        assert watched(str(project / "pkg/sub/deep.py")), pattern  # recursive
        assert not watched(str(project.parent / "elsewhere.py")), pattern
    monkeypatch.setenv("HOME", str(project / "pkg"))
    home = jurigged.glob_filter("~/sub/*.py")
    assert home(str(project / "pkg/sub/deep.py"))
    assert not home(str(project / "app.py"))

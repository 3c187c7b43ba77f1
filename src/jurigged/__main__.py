"""`python -m jurigged` behaves exactly as the `jurigged` command."""

from jurigged.cli import entry

if __name__ == "__main__":
    entry()

"""A live demo: run `jurigged -v examples/demo.py`, then edit `greeting` below and save.

The loop keeps running; from the next line on it prints what the new code returns.
"""

import time


def greeting(n):
    return f"Hello #{n}: edit greeting() in examples/demo.py and save"


def main():
    for n in range(1, 100_000):
        print(greeting(n), flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()

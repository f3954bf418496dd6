"""`python -m server` and `avatar-server`: the process's native thread pools are pinned before anything loads
them, then the command line runs."""
import os

# The server runs its own threads (render, encode, speech, inference) sized to the cores; OpenBLAS's own pool
# beside them would only oversubscribe the cores. Set before NumPy is first imported; worker processes inherit it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def main() -> None:
    from server.cli import main as run

    run()


if __name__ == "__main__":
    main()

"""``python -m jwtmesh.bench [--quick] [--out DIR] [--only a,b]`` until the CLI wires it."""

from __future__ import annotations

import argparse

from .runner import SECTIONS, run


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m jwtmesh.bench")
    parser.add_argument("--quick", action="store_true", help="small samples (CI smoke test)")
    parser.add_argument("--out", default="bench-results", help="results folder")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {list(SECTIONS)}")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    run(args.out, quick=args.quick, only=only)


if __name__ == "__main__":
    main()

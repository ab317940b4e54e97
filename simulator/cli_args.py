"""Argument types of the command line: a clear message instead of a traceback."""
from __future__ import annotations

import argparse


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_engine(parser) -> None:
    """``--engine simpy | fast | auto`` (run, draw, solve)."""
    parser.add_argument("--engine", choices=("simpy", "fast", "auto"), default="auto",
                        help="auto: the fast engine when it covers every process the scenario uses")


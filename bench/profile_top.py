"""Summarise a py-spy raw profile (`--profile`): the functions with the most samples.

Usage: python bench/profile_top.py PROFILE.txt [--top 30] [--under SUBSTRING]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--under", help="only stacks passing through a frame containing this")
    args = parser.parse_args()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        frames = stack.split(";")
        if args.under and not any(args.under in f for f in frames):
            continue
        count = int(count_text)
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    print(f"{total} samples")
    print("-- inclusive")
    for frame, count in inclusive.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {frame}")
    print("-- self")
    for frame, count in own.most_common(args.top):
        print(f"{100 * count / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()

"""Same as `reenact bench`: pipeline fps / bare decode+encode fps on a 720p clip, in one run."""
import sys

from reenact.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))

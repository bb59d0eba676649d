from __future__ import annotations

import argparse



def add_parser(sub) -> None:
    ap = sub.add_parser("doctor", help="check models, backends, GPU, virtual camera and cameras",
                        description="Report what this machine has for reenact, then one line per missing "
                                    "piece with how to get it.",
                        epilog="examples:\n  reenact doctor", formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.set_defaults(func=run)


def run(args) -> int:
    from ..tasks.doctor import run_checks

    checks = run_checks()
    for c in checks:
        print(f"{'ok  ' if c.ok else 'MISS'} {c.name:17s} {c.detail}")
    missing = [c for c in checks if not c.ok and c.fix]
    if missing:
        print()
        for c in missing:
            print(f"missing {c.name}: {c.fix}")
    return 0

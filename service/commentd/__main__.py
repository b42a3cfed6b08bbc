"""`python -m commentd`: the `commentd` command."""

from commentd.ops.cli import main

main()

"""The command line (`python -m core`): flags checked once per quantity, the work budget, subcommands."""

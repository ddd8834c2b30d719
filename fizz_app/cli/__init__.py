"""The headless command line (``fizz-node``). Never imports Qt."""

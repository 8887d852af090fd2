"""The command-line interface: the composition root that wires loaders, providers and views."""

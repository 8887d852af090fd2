"""`python -m controller`: the same entry point as the `genaiops` console script."""

from controller.cli.main import main

if __name__ == "__main__":
    main()

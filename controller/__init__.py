"""genaiops: a GitOps controller for generative-AI serving on Google Vertex AI.

The package is laid out as DESIGN.md describes: a pure core (model, loader, plans, rollout), effects at
the edges (providers, engine), views for output and the CLI as the composition root. The emulator is a
separate local stand-in for Vertex AI that nothing in the core imports.
"""

__version__ = "0.1.0"

"""Providers: the only code that imports google.* — Vertex AI, Cloud Monitoring and Cloud Storage adapters
that implement the ports, translating vendor errors into `controller.errors`."""

"""Foundation model lifecycle (issue 20): the catalogue, the loader's checks, plan and status."""

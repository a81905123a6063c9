"""The shared network specification (``adapters.spec``) and its translations into simulators."""

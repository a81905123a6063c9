"""NEST 3 behind the Backend interface: :mod:`.translate` (spec -> NEST models, pure),
:mod:`.kernel` (NEST's process-wide kernel) and :mod:`.backends` (``nest``,
``nest-uninterrupted``). PyNEST is imported only when a backend is prepared."""

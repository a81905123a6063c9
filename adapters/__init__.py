"""The shared network specification and its translations into simulators.

``adapters.spec`` (the spec, its validation and the materialised IR), ``adapters.base`` (the
Backend interface and Capabilities), ``adapters.registry`` (the one backend registry) and
one package per simulator family: ``spark``, ``brian2``, ``nest``.
"""

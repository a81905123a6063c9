"""The shared, simulator-independent network specification: types, files, validation,
materialisation and built-in networks."""

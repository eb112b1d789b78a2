"""Shared by every process: the settings, the domain errors, time formats and the typed wire.
Imports no Ray, no HTTP framework, and nothing of the other packages."""

"""The checks of an OpenKMS host or client store, and the support bundle."""

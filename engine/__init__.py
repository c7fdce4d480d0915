"""SafeVet engine: everything except the GUI. Never imports Qt.

Importing the engine pins every library it uses to offline mode before any of
them is imported, because an air-gapped workstation must never try the network
(a hub download would hang or, worse, succeed on a mis-configured machine).
"""
from engine.offline import enforce_offline_environment

enforce_offline_environment()

__version__ = "0.1.0"

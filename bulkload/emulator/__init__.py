"""A local emulator of the Peak Ingestion API (contract section 2), for tests and benchmarks.

    async with run_emulator(EmulatorConfig(api_keys=("k",))) as emulator:
        ...  # point a client at emulator.url; read emulator.stats(), emulator.rows("t")

It imports the contract's rules (``bulkload.contract``) but nothing of the client or the
loader, so it cannot accidentally agree with a client bug.
"""

from bulkload.emulator.config import EmulatorConfig
from bulkload.emulator.faults import FaultKnobs
from bulkload.emulator.runner import EmulatorHandle, run_emulator

__all__ = ["EmulatorConfig", "EmulatorHandle", "FaultKnobs", "run_emulator"]

"""The poll loop: a fixed grid, one concurrent read per device, an immutable Cycle (stage 3)."""

from sensorpoll.daemon.cycle import Cycle, DeviceResult
from sensorpoll.daemon.devices import Devices
from sensorpoll.daemon.poller import DevicePoller, poll_cycle
from sensorpoll.daemon.service import Daemon, Publisher

__all__ = ["Cycle", "Daemon", "DevicePoller", "DeviceResult", "Devices", "Publisher", "poll_cycle"]

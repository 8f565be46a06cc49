"""Include/exclude name filtering shared by the device-level collectors."""

from __future__ import annotations

from exporters.config.system import DeviceFilter


class NameFilter:
    def __init__(self, spec: DeviceFilter) -> None:
        self._include, self._exclude = spec.compile()
        self._cache: dict[str, bool] = {}

    def __call__(self, name: str) -> bool:
        hit = self._cache.get(name)
        if hit is None:
            hit = self._decide(name)
            if len(self._cache) < 4096:  # device names are few; never grow without bound
                self._cache[name] = hit
        return hit

    def _decide(self, name: str) -> bool:
        if self._include is not None and not self._include.search(name):
            return False
        return not (self._exclude is not None and self._exclude.search(name))

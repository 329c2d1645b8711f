"""Load the bundled mgr.vst3 with pedalboard and check that audio passes through unchanged.

Usage: python3 vst3_passthrough.py path/to/mgr.vst3
Prints one line per check and exits non-zero on the first failure.
"""

import sys

import numpy as np
import pedalboard


def main() -> int:
    path = sys.argv[1]
    plugin = pedalboard.load_plugin(path)
    print(f"loaded {plugin.name!r}; parameters: {sorted(plugin.parameters.keys())}")
    assert plugin.is_effect, "mgr should load as an effect"
    rng = np.random.default_rng(7)
    for rate in (44100, 48000, 96000):
        for channels in (1, 2):
            n = rate * 2
            t = np.arange(n) / rate
            x = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32)
            audio = np.stack([x * (1.0 - 0.3 * c) for c in range(channels)])
            for block in (512, 1000, 4096):
                y = plugin.process(audio, sample_rate=rate, buffer_size=block, reset=True)
                assert y.shape == audio.shape, (y.shape, audio.shape)
                y = np.ascontiguousarray(y, dtype=np.float32)
                differ = int(np.count_nonzero(y.view(np.uint32) != audio.view(np.uint32)))
                worst = float(np.max(np.abs(y - audio)))
                print(f"{rate} Hz, {channels} ch, block {block}: "
                      f"{differ} samples differ in their bits, max |out - in| = {worst:.3g}")
                assert differ == 0, "output differs from input"
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A DLPack producer for the refusal tests of test_api.py and test_gpu.py (no real array)."""


class FakeProducer:
    """A DLPack producer whose memory is on the given DLPack device type (2: CUDA device 0) and
    cannot be exported."""

    def __init__(self, device_type):
        self.device_type = device_type

    def __dlpack_device__(self):
        return (self.device_type, 0)

    def __dlpack__(self, stream=None):
        raise BufferError("not exportable")

"""Registration of ciphertext types with the federation's message codec (never pickle)."""

from __future__ import annotations

from fate.crypto.array import EncryptedArray
from fate.crypto.packing import PackedArray
from fate.crypto.wire import dump_array, dump_packed, load_array, load_packed
from fate.federation import codec

# Extension codes are part of the wire protocol: the same on every party, never reused.
ENCRYPTED_ARRAY_CODE = 32
PACKED_ARRAY_CODE = 33


def register_ciphertexts() -> None:
    """Teach the federation codec EncryptedArray and PackedArray; call once at process start.

    Explicit rather than an import side effect, so whether a process can decode
    ciphertexts depends on its entry point, not on which modules happen to be
    imported first. Calling it again is harmless.
    """
    codec.register(EncryptedArray, ENCRYPTED_ARRAY_CODE, dump_array, load_array)
    codec.register(PackedArray, PACKED_ARRAY_CODE, dump_packed, load_packed)

"""Registration of ciphertext types with the federation's message codec (never pickle)."""

from __future__ import annotations

from fate.crypto.array import EncryptedArray
from fate.crypto.packing import PackedArray
from fate.crypto.wire import dump_array, dump_packed, load_array, load_packed

# Extension codes are part of the wire protocol: the same on every party, never reused.
ENCRYPTED_ARRAY_CODE = 32
PACKED_ARRAY_CODE = 33


def register_with_federation_codec() -> None:
    from fate.federation import codec

    codec.register(EncryptedArray, ENCRYPTED_ARRAY_CODE, dump_array, load_array)
    codec.register(PackedArray, PACKED_ARRAY_CODE, dump_packed, load_packed)

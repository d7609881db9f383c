"""fate.crypto: the engine's homomorphic-encryption core (Paillier on gmpy2).

Importing the package registers ciphertext arrays with the federation codec,
so they can be sent between parties like any other value.
"""

from fate.crypto.codec import register_with_federation_codec

register_with_federation_codec()
